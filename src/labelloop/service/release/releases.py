"""`labelloop release create/list/show/diff`: immutable dataset versions.

A release, made in one write transaction: the final label of every item (gold, else its
latest correction, else the aggregate of its answers: core.release.LABEL_SOURCES) with its
confidence and soft label (the aggregate's posterior), the answer events it rests on and a
split fixed by the item key; filtered by confidence, agreement and label source. It
records the schema version, the method and parameters, its parent release, counts, and a
checkpoint of the event log before it (origin, size, RFC 6962 root) signed with the
project's key. The release is itself a `release` event whose payload is all of that plus
the SHA-256 of its labels, so the next release's checkpoint covers it. The checkpoint is
also written to a file for the user to publish (see service.release.keys for why).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.core.aggregate import make_aggregator
from labelloop.core.answers import Answers
from labelloop.core.checkpoint import Checkpoint, sign_checkpoint
from labelloop.core.merkle import Frontier
from labelloop.core.release import (
    DEFAULT_SPLITS,
    LABEL_SOURCES,
    Change,
    ReleaseLabel,
    assign_split,
    check_splits,
    diff_releases,
    labels_digest,
)
from labelloop.errors import Conflict, InvalidInput
from labelloop.formats.files import atomic_path, fsync_file
from labelloop.schema import MultiLabelSchema
from labelloop.service.project.schemas import current_schema
from labelloop.service.release.keys import signing_key
from labelloop.store import checkpoints, repo
from labelloop.store import releases as rs
from labelloop.store.engine import Store

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
CHECKPOINT_KIND = "checkpoint"
CHECKPOINT_FORMAT = 1
DIGITS = 6


def origin_of(project_name: str) -> str:
    """The origin line of a project's checkpoints."""
    return f"labelloop/{project_name}"


@dataclass(frozen=True)
class ReleaseFilters:
    min_confidence: float | None = None
    min_agreement: float | None = None
    """Least share of an item's answers that agree with its final label (items without
    answers are kept)."""
    sources: tuple[str, ...] = LABEL_SOURCES

    def check(self) -> None:
        for name, value in (
            ("min_confidence", self.min_confidence),
            ("min_agreement", self.min_agreement),
        ):
            if value is not None and not 0 <= value <= 1:
                raise InvalidInput(f"{name} {value!r}; expected a number in [0, 1]")
        unknown = sorted(set(self.sources) - set(LABEL_SOURCES))
        if unknown or not self.sources:
            raise InvalidInput(
                f"label sources {list(self.sources)}; expected some of {list(LABEL_SOURCES)}"
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "min_confidence": self.min_confidence,
            "min_agreement": self.min_agreement,
            "sources": sorted(self.sources, key=LABEL_SOURCES.index),
        }


@dataclass
class ReleaseReport:
    project: str
    name: str
    parent: str | None
    event_seq: int
    counts: dict[str, Any]
    checkpoint: dict[str, Any]
    checkpoint_file: str | None
    method: str | None
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def checkpoint_file_body(
    project: str, release: str, checkpoint: dict[str, Any], public_key: bytes, subtrees: list[str]
) -> dict[str, Any]:
    """What a published checkpoint file holds: the signed checkpoint, the public key, and
    the roots of the perfect subtrees that fold into its root (so that a later
    verification can name which range of events differs)."""
    return {
        "labelloop": CHECKPOINT_KIND,
        "file_format": CHECKPOINT_FORMAT,
        "project": project,
        "release": release,
        **checkpoint,
        "public_key": public_key.hex(),
        "subtrees": subtrees,
    }


def signed_checkpoint(origin: str, frontier: Frontier, key: tuple[str, bytes]) -> dict[str, Any]:
    """The checkpoint of ``frontier`` signed with ``key`` (key id, raw private key)."""
    cp = Checkpoint(origin, frontier.size, frontier.root())
    return {
        "origin": origin,
        "size": frontier.size,
        "root": cp.root.hex(),
        "key_id": key[0],
        "signature": base64.b64encode(sign_checkpoint(cp, key[1])).decode("ascii"),
    }


def create_release(
    store: Store,
    root: Path | None,
    project_name: str | None,
    name: str,
    *,
    method: str = "auto",
    params: dict[str, Any] | None = None,
    parent: str | None = None,
    filters: ReleaseFilters | None = None,
    splits: Sequence[tuple[str, float]] = DEFAULT_SPLITS,
    checkpoint_out: Path | None = None,
) -> ReleaseReport:
    """Make release ``name`` of the project (see the module notes)."""
    if not NAME.fullmatch(name):
        raise InvalidInput(
            f"release name {name!r}; expected letters, digits, '.', '_' or '-' (at most 100, "
            "starting with a letter or digit)"
        )
    filters = filters or ReleaseFilters()
    filters.check()
    problem = check_splits(splits)
    if problem:
        raise InvalidInput(problem)
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        existing = {r.name: r for r in rs.list_releases(conn, project)}
        if name in existing:
            raise Conflict(f"release {name!r} already exists in project {project.name!r}")
        if parent is not None and parent not in existing:
            raise InvalidInput(
                f"parent release {parent!r} does not exist; known: {sorted(existing)}"
            )
        parent_release: rs.Release | None = (
            existing[parent] if parent else (list(existing.values())[-1] if existing else None)
        )
        key = signing_key(conn, root, project)
        found = current_schema(conn, project)
        if found is None:
            raise InvalidInput(f"project {project.name!r} has no labels to release yet")
        version_id, schema = found
        stored_schema = repo.get_schema_version(conn, version_id)
        inputs = rs.release_inputs(conn, project)
        aggregate: dict[int, tuple[Any, float, dict[str, float]]] = {}
        used: dict[int, list[int]] = {}
        agreeing: dict[int, list[Any]] = {}
        latest: dict[tuple[int, int], rs.AnswerEvent] = {}
        for a in inputs.answers:  # each labeler's last answer on an item counts
            latest[(a.item_id, -1 if a.labeler_id is None else int(a.labeler_id))] = a
        for a in sorted(latest.values(), key=lambda x: x.seq):
            used.setdefault(a.item_id, []).append(a.seq)
            agreeing.setdefault(a.item_id, []).append(a.label)
        method_name: str | None = None
        settings: dict[str, Any] = {}
        if not isinstance(schema, MultiLabelSchema) and latest:
            method_name, settings, aggregate = _aggregate(
                list(latest.values()), schema.label_space.labels, method, params
            )
        labels: list[ReleaseLabel] = []
        dropped = {"confidence": 0, "agreement": 0, "source": 0}
        for item_id in sorted(set(used) | set(inputs.gold) | set(inputs.corrections)):
            if item_id in inputs.calibration:
                continue
            key_text = inputs.item_keys[item_id]
            human = inputs.gold.get(item_id) or inputs.corrections.get(item_id)
            if human is not None:
                source = "gold" if item_id in inputs.gold else "correction"
                value, confidence, event_seq = human.label, 1.0, human.seq
                soft = {value: 1.0} if isinstance(value, str) else None
            elif item_id in aggregate:
                source, event_seq = "aggregate", None
                value, confidence, soft = aggregate[item_id]
            else:
                continue  # answers, but none the aggregate could use
            votes = agreeing.get(item_id, [])
            if source not in filters.sources:
                dropped["source"] += 1
                continue
            if filters.min_confidence is not None and confidence < filters.min_confidence:
                dropped["confidence"] += 1
                continue
            if (
                filters.min_agreement is not None
                and votes
                and sum(v == value for v in votes) / len(votes) < filters.min_agreement
            ):
                dropped["agreement"] += 1
                continue
            labels.append(
                ReleaseLabel(
                    key_text,
                    value,
                    confidence,
                    soft,
                    source,
                    event_seq,
                    tuple(used.get(item_id, ())),
                    assign_split(key_text, splits),
                )
            )
        if not labels:
            raise InvalidInput(
                f"no item of project {project.name!r} has a label that passes the filters "
                f"{filters.as_dict()} (dropped: {dropped})"
            )
        frontier = checkpoints.current_tree(conn, project)
        checkpoint = signed_checkpoint(origin_of(project.name), frontier, key)
        counts = _counts(labels, dropped, len(inputs.answers))
        body: dict[str, Any] = {
            "name": name,
            "parent": None if parent_release is None else parent_release.name,
            "checkpoint": checkpoint,
            "schema": {
                "name": schema.name,
                "version": stored_schema.version,
                "content_hash": stored_schema.content_hash,
            },
            "method": method_name,
            "params": settings,
            "filters": filters.as_dict(),
            "splits": [[n, f] for n, f in splits],
            "counts": counts,
            "labels_sha256": labels_digest(labels),
        }
        repo.append_events(
            conn,
            project.name,
            [
                repo.EventDraft(
                    type="release",
                    item_id=None,
                    labeler_id=None,
                    label=None,
                    schema_version_id=None,
                    source="cli",
                    payload=body,
                )
            ],
        )
        event_seq = project.event_seq + 1
        item_ids = {inputs.item_keys[i]: i for i in inputs.item_keys}
        rs.add_release(
            conn,
            project,
            name=name,
            event_seq=event_seq,
            parent_id=None if parent_release is None else parent_release.id,
            body=body,
            labels=labels,
            item_ids=item_ids,
        )
        public = checkpoints.current_key(conn, project).public_key
    out = checkpoint_out
    if out is None and root is not None:
        out = Path(root) / "releases" / f"{name}.checkpoint.json"
    if out is not None:
        write_checkpoint_file(
            out,
            checkpoint_file_body(
                project.name, name, checkpoint, public, [h.hex() for h in frontier.hashes]
            ),
        )
    return ReleaseReport(
        project.name,
        name,
        body["parent"],
        event_seq,
        counts,
        checkpoint,
        None if out is None else str(out),
        method_name,
        settings,
    )


def write_checkpoint_file(path: Path, body: dict[str, Any]) -> None:
    """Write ``body`` as indented JSON, whole or not at all (fsynced, then renamed)."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        fsync_file(tmp)


def _aggregate(
    answers: list[rs.AnswerEvent],
    labels: Sequence[str],
    method: str,
    params: dict[str, Any] | None,
) -> tuple[str, dict[str, Any], dict[int, tuple[Any, float, dict[str, float]]]]:
    """Fit ``method`` on the answers whose label is in the schema: per item id the label,
    its confidence and the posterior over ``labels``."""
    code = {label: k for k, label in enumerate(labels)}
    kept = [a for a in answers if isinstance(a.label, str) and a.label in code]
    aggregator = make_aggregator(method, **(params or {}))
    if not kept:
        return aggregator.name, aggregator.params(), {}
    items, item_code = np.unique(np.array([a.item_id for a in kept]), return_inverse=True)
    labeler_ids = np.array([-1 if a.labeler_id is None else int(a.labeler_id) for a in kept])
    labelers, labeler_code = np.unique(labeler_ids, return_inverse=True)
    label_code = np.array([code[str(a.label)] for a in kept], dtype=np.int64)
    matrix = Answers(
        item_code.astype(np.int64),
        labeler_code.astype(np.int64),
        label_code,
        len(items),
        len(labelers),
        len(labels),
    )
    aggregator.fit(matrix, None)
    out: dict[int, tuple[Any, float, dict[str, float]]] = {}
    probas = np.round(aggregator.probas_, DIGITS)
    for k, item_id in enumerate(items.tolist()):
        chosen = int(aggregator.labels_[k])
        if chosen < 0:
            continue
        soft = {label: float(probas[k, j]) for j, label in enumerate(labels)}
        out[int(item_id)] = (labels[chosen], float(probas[k, chosen]), soft)
    return aggregator.name, aggregator.params(), out


def _counts(labels: list[ReleaseLabel], dropped: dict[str, int], answers: int) -> dict[str, Any]:
    def tally(values: list[Any]) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in values:
            k = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
            out[k] = out.get(k, 0) + 1
        return dict(sorted(out.items()))

    return {
        "items": len(labels),
        "answer_events": answers,
        "by_source": tally([x.source for x in labels]),
        "by_split": tally([x.split for x in labels]),
        "by_label": tally([x.label for x in labels]),
        "dropped": dropped,
    }


# ---------------------------------------------------------------- list, show, diff


def list_releases(store: Store, project_name: str | None) -> list[dict[str, Any]]:
    """Every release of the project, oldest first (name, parent, event, counts, checkpoint)."""
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        return [_summary(r) for r in rs.list_releases(conn, project)]


def _summary(r: rs.Release) -> dict[str, Any]:
    return {
        "name": r.name,
        "parent": r.parent,
        "event_seq": r.event_seq,
        "created_at": r.created_at,
        "items": r.body["counts"]["items"],
        "method": r.body["method"],
        "schema_version": r.body["schema"]["version"],
        "checkpoint": r.body["checkpoint"],
    }


def show_release(
    store: Store, project_name: str | None, name: str, *, labels: bool = False
) -> dict[str, Any]:
    """A release's record (its event's payload) and, with ``labels``, its labels."""
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        r = rs.get_release(conn, project, name)
        out = {**_summary(r), **r.body}
        if labels:
            out["labels"] = [
                dict(zip(_FIELDS, x.record(), strict=True)) for x in rs.release_labels(conn, r.id)
            ]
        return out


_FIELDS = ("item", "label", "confidence", "soft_label", "source", "event_seq", "answers", "split")


@dataclass
class DiffReport:
    project: str
    a: str
    b: str
    added: int
    removed: int
    relabeled: int
    causes: dict[str, int]
    changes: list[Change]

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["changes"] = [c.__dict__ | {"causes": list(c.causes)} for c in self.changes]
        return out


def diff(store: Store, project_name: str | None, a: str, b: str) -> DiffReport:
    """Items added, removed and relabeled from release ``a`` to ``b``, with their causes."""
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        ra, rb = rs.get_release(conn, project, a), rs.get_release(conn, project, b)
        la = {x.item: x for x in rs.release_labels(conn, ra.id)}
        lb = {x.item: x for x in rs.release_labels(conn, rb.id)}
    changes = diff_releases(
        la,
        lb,
        a_size=int(ra.body["checkpoint"]["size"]),
        schema_changed=ra.body["schema"] != rb.body["schema"],
        method_changed=(ra.body["method"], ra.body["params"])
        != (rb.body["method"], rb.body["params"]),
        filters_changed=ra.body["filters"] != rb.body["filters"],
    )
    causes: dict[str, int] = {}
    for c in changes:
        for cause in c.causes:
            causes[cause] = causes.get(cause, 0) + 1
    return DiffReport(
        project.name,
        a,
        b,
        sum(c.change == "added" for c in changes),
        sum(c.change == "removed" for c in changes),
        sum(c.change == "relabeled" for c in changes),
        dict(sorted(causes.items())),
        changes,
    )
