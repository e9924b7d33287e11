"""Releases (dataset versions) and what they are built from: every query of the release
stage. Functions take a Connection inside the caller's transaction and return records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from labelloop.core.provenance import canonical_json
from labelloop.core.release import ReleaseLabel
from labelloop.errors import NotFound
from labelloop.store import tables as t
from labelloop.store.repo import Project, bulk_insert, now_iso


@dataclass(frozen=True)
class AnswerEvent:
    seq: int
    item_id: int
    labeler_id: int | None
    label: Any
    """Decoded JSON label."""


@dataclass(frozen=True)
class HumanLabel:
    """An item's gold label or its latest correction, and the event's seq."""

    item_id: int
    label: Any
    seq: int


@dataclass(frozen=True)
class ReleaseInputs:
    answers: list[AnswerEvent]
    """Answer and correction events in chain order."""
    gold: dict[int, HumanLabel]
    corrections: dict[int, HumanLabel]
    """Latest correction per item."""
    item_keys: dict[int, str]
    """Keys of every item named above."""
    calibration: set[int]
    """Worked examples of the schema (calibration gold): not part of a release."""


def release_inputs(conn: Connection, project: Project) -> ReleaseInputs:
    """What a release is built from: answers, gold and corrections, with item keys."""
    ev, g = t.events, t.gold
    rows = conn.execute(
        select(ev.c.seq, ev.c.type, ev.c.item_id, ev.c.labeler_id, ev.c.label)
        .where(ev.c.project_id == project.id, ev.c.type.in_(("answer", "correction")))
        .order_by(ev.c.seq)
    ).all()
    answers = [AnswerEvent(int(r.seq), int(r.item_id), r.labeler_id, _load(r.label)) for r in rows]
    corrections = {
        a.item_id: HumanLabel(a.item_id, a.label, a.seq)
        for a, r in zip(answers, rows, strict=True)
        if r.type == "correction" and a.label is not None
    }
    gold: dict[int, HumanLabel] = {}
    calibration: set[int] = set()
    for r in conn.execute(
        select(g.c.item_id, g.c.label, g.c.is_calibration, ev.c.seq)
        .join(ev, ev.c.id == g.c.event_id)
        .where(g.c.project_id == project.id)
    ):
        if r.is_calibration:
            calibration.add(int(r.item_id))
        else:
            gold[int(r.item_id)] = HumanLabel(int(r.item_id), _load(r.label), int(r.seq))
    it = t.items
    wanted = {a.item_id for a in answers} | set(gold)
    keys = {
        int(i): k
        for i, k in conn.execute(select(it.c.id, it.c.key).where(it.c.project_id == project.id))
        if int(i) in wanted
    }
    return ReleaseInputs(answers, gold, corrections, keys, calibration)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# ---------------------------------------------------------------- releases


@dataclass(frozen=True)
class Release:
    id: int
    name: str
    event_id: int
    event_seq: int
    parent: str | None
    body: dict[str, Any]
    """The release event's payload (checkpoint, method, counts, ...)."""
    created_at: str


def add_release(
    conn: Connection,
    project: Project,
    *,
    name: str,
    event_seq: int,
    parent_id: int | None,
    body: dict[str, Any],
    labels: Sequence[ReleaseLabel],
    item_ids: dict[str, int],
) -> int:
    """Record a release (its event already appended at ``event_seq``) and its labels."""
    ev = t.events
    event_id = conn.execute(
        select(ev.c.id).where(ev.c.project_id == project.id, ev.c.seq == event_seq)
    ).scalar_one()
    result = conn.execute(
        insert(t.releases).values(
            project_id=project.id,
            name=name,
            event_id=event_id,
            parent_id=parent_id,
            body=canonical_json(body),
            created_at=now_iso(),
        )
    )
    release_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    columns = (
        "release_id",
        "item_id",
        "label",
        "confidence",
        "soft_label",
        "source",
        "event_seq",
        "answers",
        "split",
    )
    bulk_insert(
        conn,
        "release_labels",
        columns,
        [
            (
                release_id,
                item_ids[x.item],
                canonical_json(x.label),
                x.confidence,
                None if x.soft_label is None else canonical_json(x.soft_label),
                x.source,
                x.event_seq,
                canonical_json(list(x.answers)),
                x.split,
            )
            for x in labels
        ],
    )
    return release_id


def _query() -> Any:
    r, ev, parent = t.releases, t.events, t.releases.alias("parent")
    return (
        select(r, ev.c.seq.label("event_seq"), parent.c.name.label("parent_name"))
        .join(ev, ev.c.id == r.c.event_id)
        .outerjoin(parent, parent.c.id == r.c.parent_id)
        .order_by(r.c.id)
    )


def _release(row: Any) -> Release:
    return Release(
        int(row.id),
        row.name,
        int(row.event_id),
        int(row.event_seq),
        row.parent_name,
        json.loads(row.body),
        row.created_at,
    )


def list_releases(conn: Connection, project: Project) -> list[Release]:
    """The project's releases, oldest first."""
    return [
        _release(r) for r in conn.execute(_query().where(t.releases.c.project_id == project.id))
    ]


def get_release(conn: Connection, project: Project, name: str) -> Release:
    row = conn.execute(
        _query().where(t.releases.c.project_id == project.id, t.releases.c.name == name)
    ).first()
    if row is None:
        known = [x.name for x in list_releases(conn, project)]
        raise NotFound(
            f"release {name!r} does not exist in project {project.name!r}; known: {known}"
        )
    return _release(row)


def release_labels(conn: Connection, release_id: int) -> list[ReleaseLabel]:
    """The labels of a release, by item key.

    Read column-wise in one fetch and decoded in bulk: each distinct label or soft label
    text is decoded once (a release repeats few), and all answer lists in one JSON parse.
    """
    rl, it = t.release_labels, t.items
    rows = conn.execute(
        select(
            it.c.key,
            rl.c.label,
            rl.c.confidence,
            rl.c.soft_label,
            rl.c.source,
            rl.c.event_seq,
            rl.c.answers,
            rl.c.split,
        )
        .join(it, it.c.id == rl.c.item_id)
        .where(rl.c.release_id == release_id)
        .order_by(it.c.key)
    ).all()
    if not rows:
        return []
    keys, label, confidence, soft_label, source, event_seq, answers, split = zip(*rows, strict=True)
    labels, soft = _Decoded(), _Decoded()
    answer_lists = json.loads("[" + ",".join(answers) + "]")
    return [
        ReleaseLabel(k, labels(lab), c, soft(sl), src, None if e is None else int(e), tuple(a), sp)
        for k, lab, c, sl, src, e, a, sp in zip(
            keys, label, confidence, soft_label, source, event_seq, answer_lists, split, strict=True
        )
    ]


class _Decoded:
    """JSON decoding with a cache per distinct text (decoded values are shared: read-only)."""

    def __init__(self) -> None:
        self.seen: dict[str | None, Any] = {None: None}

    def __call__(self, text: str | None) -> Any:
        try:
            return self.seen[text]
        except KeyError:
            value = self.seen[text] = json.loads(text)  # type: ignore[arg-type]
            return value


def event_payload(conn: Connection, project: Project, seq: int) -> tuple[str, Any]:
    """(type, decoded payload) of the project's event ``seq``."""
    ev = t.events
    row = conn.execute(
        select(ev.c.type, ev.c.payload).where(ev.c.project_id == project.id, ev.c.seq == seq)
    ).first()
    if row is None:
        raise NotFound(f"project {project.name!r} has no event {seq}")
    return row.type, _load(row.payload)


def event_seq_of(conn: Connection, project: Project, event_id: int) -> tuple[int, str]:
    """(seq, hash) of the project's event with database id ``event_id``."""
    ev = t.events
    row = conn.execute(
        select(ev.c.seq, ev.c.hash).where(ev.c.project_id == project.id, ev.c.id == event_id)
    ).first()
    if row is None:
        raise NotFound(f"project {project.name!r} has no event with id {event_id}")
    return int(row.seq), row.hash


AnswerDetail = tuple[str, str, str, Any, "int | None"]
"""Of one answer or correction event: labeler ``kind:name:version``, kind, created_at,
decoded label (None: abstained or withdrawn), time spent in ms (None: not recorded)."""


def answer_details(conn: Connection, project: Project) -> dict[int, AnswerDetail]:
    """:data:`AnswerDetail` of every answer or correction event with a labeler, by seq.

    One fetch of the events without a join: labelers are few and looked up in memory.
    """
    ev, lb = t.events, t.labelers
    who = {
        int(i): (f"{kind}:{name}:{version}", kind)
        for i, kind, name, version in conn.execute(
            select(lb.c.id, lb.c.kind, lb.c.name, lb.c.version)
        ).all()
    }
    rows = conn.execute(
        select(ev.c.seq, ev.c.labeler_id, ev.c.created_at, ev.c.label, ev.c.time_spent_ms).where(
            ev.c.project_id == project.id,
            ev.c.type.in_(("answer", "correction")),
            ev.c.labeler_id.is_not(None),
        )
    ).all()
    decode = _Decoded()
    return {
        seq: (*who[labeler_id], created_at, decode(label), spent)
        for seq, labeler_id, created_at, label, spent in rows
    }
