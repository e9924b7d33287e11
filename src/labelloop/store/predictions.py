"""Model predictions as stored answers: which model labeler, its latest answer per item, and
every machine labeler's answers (a committee's votes). Labels and payloads come decoded."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from labelloop.errors import NotFound
from labelloop.store import tables as t
from labelloop.store.repo import Project

__all__ = [
    "MachineAnswer",
    "ModelRef",
    "Predictions",
    "labeler_identities",
    "load_predictions",
    "machine_answers",
    "resolve_model",
]


@dataclass(frozen=True)
class ModelRef:
    id: int
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class Predictions:
    """A model labeler's latest answer per item (by item id): its label, and its confidence
    and class probabilities where the answer carries them."""

    model: ModelRef
    label: dict[int, Any] = field(default_factory=dict)
    """A class name, or a list of names for task types that keep sets."""
    confidence: dict[int, float] = field(default_factory=dict)
    probabilities: dict[int, dict[str, float]] = field(default_factory=dict)


def resolve_model(conn: Connection, project: Project, model: str | None) -> ModelRef:
    """The model labeler named ``NAME`` or ``NAME@VERSION`` (latest when no version), or by
    default the most recently created model labeler that has answers."""
    lb, ev = t.labelers, t.events
    query = (
        select(lb.c.id, lb.c.name, lb.c.version)
        .where(lb.c.project_id == project.id, lb.c.kind == "model")
        .where(
            select(ev.c.id)
            .where(ev.c.labeler_id == lb.c.id, ev.c.type == "answer")  # not a project event
            .limit(1)
            .exists()
        )
        .order_by(lb.c.id.desc())
    )
    rows = conn.execute(query).all()
    if model is not None:
        name, _, version = model.partition("@")
        chosen = [r for r in rows if r.name == name and (not version or r.version == version)]
        if not chosen:
            known = sorted({f"{r.name}@{r.version}" for r in rows})
            raise NotFound(f"no model labeler {model!r} with answers; known: {known or 'none'}")
        rows = chosen
    if not rows:
        raise NotFound(
            f"project {project.name!r} has no model predictions yet; run `labelloop train` "
            "or `labelloop telemetry import FILE` first"
        )
    r = rows[0]
    return ModelRef(int(r.id), r.name, r.version)


def load_predictions(conn: Connection, project: Project, model: ModelRef) -> Predictions:
    """The labeler's latest ``model`` answer per item (label — a class name, or a list of
    names for task types that keep sets —, confidence, probabilities)."""
    ev = t.events
    out = Predictions(model)
    rows = conn.execute(
        select(ev.c.item_id, ev.c.label, ev.c.payload)
        .where(
            ev.c.project_id == project.id,
            ev.c.labeler_id == model.id,
            ev.c.type == "answer",
            ev.c.source == "model",
        )
        .order_by(ev.c.seq)
    )
    for item_id, label_text, payload_text in rows:
        label = json.loads(label_text) if label_text is not None else None
        if not isinstance(label, str | list):
            continue
        payload = json.loads(payload_text) if payload_text else {}
        item = int(item_id)
        out.label[item] = label
        conf = payload.get("confidence")
        if isinstance(conf, int | float):
            out.confidence[item] = float(conf)
        probs = payload.get("probabilities")
        if isinstance(probs, dict):
            out.probabilities[item] = probs
        else:
            out.probabilities.pop(item, None)
    return out


def labeler_identities(
    conn: Connection, project: Project, kinds: Sequence[str]
) -> dict[int, tuple[str, str, str]]:
    """(kind, name, version) of the project's labelers of ``kinds``, by id."""
    lb = t.labelers
    rows = conn.execute(
        select(lb.c.id, lb.c.kind, lb.c.name, lb.c.version).where(
            lb.c.project_id == project.id, lb.c.kind.in_(list(kinds))
        )
    )
    return {int(r.id): (r.kind, r.name, r.version) for r in rows}


@dataclass(frozen=True, slots=True)
class MachineAnswer:
    labeler_id: int
    item_id: int
    label: Any
    """The decoded label (a string, a list, or None)."""
    payload: dict[str, Any]
    """The decoded payload (``{}`` when none)."""


def machine_answers(
    conn: Connection, project: Project, labeler_ids: Sequence[int]
) -> Iterator[MachineAnswer]:
    """The answers of these labelers in chain order, without routing's ``model_auto``
    copies (a later answer of a labeler about an item replaces its earlier one)."""
    ev = t.events
    rows = conn.execute(
        select(ev.c.labeler_id, ev.c.item_id, ev.c.label, ev.c.payload)
        .where(
            ev.c.project_id == project.id,
            ev.c.type == "answer",
            ev.c.source != "model_auto",
            ev.c.labeler_id.in_(list(labeler_ids)),
        )
        .order_by(ev.c.seq)
    )
    for labeler_id, item_id, label_text, payload_text in rows:
        yield MachineAnswer(
            int(labeler_id),
            int(item_id),
            json.loads(label_text) if label_text is not None else None,
            json.loads(payload_text) if payload_text else {},
        )
