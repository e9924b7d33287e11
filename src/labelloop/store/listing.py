"""Read-only views for finding things: projects with their counts, items with their state and
current label, one item with its events. Functions take a Connection and return records."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    and_,
    case,
    func,
    literal,
    select,
)

from labelloop.errors import InvalidInput, NotFound
from labelloop.store import tables as t
from labelloop.store.repo import Project

ITEM_STATES = (
    "gold",
    "corrected",
    "in_flight",
    "queued",
    "adjudicated",
    "answered",
    "unlabeled",
)
"""An item's state, the first that applies: it has a gold label; a person corrected its
label; it is handed out in a batch; it waits in a batch; it has a consensus label (from
`aggregate`); it has answers but no label yet; it has nothing."""

LABEL_SOURCES = ("gold", "correction", "adjudication")
"""Where an item's current label comes from, strongest first."""


@dataclass(frozen=True)
class ProjectCounts:
    name: str
    schema_version: str | None
    items: int
    answers: int
    gold: int
    events: int
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def project_counts(conn: Connection) -> list[ProjectCounts]:
    """Every project (oldest first) with its schema version and counts."""
    p, sv, it, ev, g = t.projects, t.schema_versions, t.items, t.events, t.gold

    def per_project(query: Select[Any]) -> dict[int, int]:
        return {int(pid): int(n) for pid, n in conn.execute(query)}

    items = per_project(select(it.c.project_id, func.count()).group_by(it.c.project_id))
    answers = per_project(
        select(ev.c.project_id, func.count()).where(ev.c.type == "answer").group_by(ev.c.project_id)
    )
    gold = per_project(select(g.c.project_id, func.count()).group_by(g.c.project_id))
    rows = conn.execute(
        select(p.c.id, p.c.name, p.c.event_seq, p.c.created_at, sv.c.version)
        .select_from(p.outerjoin(sv, sv.c.id == p.c.schema_version_id))
        .order_by(p.c.id)
    )
    return [
        ProjectCounts(
            name=r.name,
            schema_version=r.version,
            items=items.get(int(r.id), 0),
            answers=answers.get(int(r.id), 0),
            gold=gold.get(int(r.id), 0),
            events=int(r.event_seq),
            created_at=r.created_at,
        )
        for r in rows
    ]


# ---------------------------------------------------------------- items


@dataclass(frozen=True)
class ItemRow:
    key: str
    state: str
    """One of :data:`ITEM_STATES`."""
    label: Any
    """The current label (decoded JSON), or None."""
    label_source: str | None
    """One of :data:`LABEL_SOURCES`, or None without a label."""
    answers: int
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ItemEvent:
    seq: int
    type: str
    label: Any
    labeler: dict[str, str] | None
    """kind, name, version of the labeler (None for gold imports and adjudications)."""
    schema_version: str
    source: str
    created_at: str
    time_spent_ms: int | None
    suggestion: Any
    calibration_score: float | None
    corrects_event: int | None
    """The seq of the event a correction corrects, if it names one."""
    payload: dict[str, Any] | None
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ItemDetail:
    item: ItemRow
    external_id: str | None
    content_hash: str
    meta: dict[str, Any]
    media: str | None
    source: str | None
    created_at: str
    batches: list[dict[str, Any]]
    """The batches holding the item: batch id, kind, rank, reason, status."""
    events: list[ItemEvent]

    def as_dict(self) -> dict[str, Any]:
        out = self.item.as_dict()
        out.update(
            {
                "external_id": self.external_id,
                "content_hash": self.content_hash,
                "meta": self.meta,
                "media": self.media,
                "source": self.source,
                "created_at": self.created_at,
                "batches": self.batches,
                "events": [e.as_dict() for e in self.events],
            }
        )
        return out


def _item_query(project: Project, item_id: int | None = None) -> Select[Any]:
    """Items of the project (or the one item) with state, current label and its source,
    answer count.

    Per-item facts come from one grouped pass over the project's events and batch items
    each (joined by item id), not from correlated subqueries per item: filtering a large
    project by state stays a few scans.
    """
    it, g, st, ev, bi = t.items, t.gold, t.item_state, t.events, t.batch_items
    facts_query = (
        select(
            ev.c.item_id,
            func.sum(case((ev.c.type == "answer", 1), else_=0)).label("answers"),
            func.max(case((ev.c.type == "correction", ev.c.seq), else_=None)).label(
                "correction_seq"
            ),
        )
        .where(ev.c.project_id == project.id, ev.c.type.in_(("answer", "correction")))
        .group_by(ev.c.item_id)
    )
    work_query = (
        select(
            bi.c.item_id,
            func.max(case((bi.c.status == "in_flight", 1), else_=0)).label("in_flight"),
            func.max(case((bi.c.status == "queued", 1), else_=0)).label("queued"),
        )
        .where(bi.c.project_id == project.id, bi.c.status.in_(t.OPEN_BATCH_ITEM_STATUSES))
        .group_by(bi.c.item_id)
    )
    items = it.c.project_id == project.id
    if item_id is not None:
        facts_query = facts_query.where(ev.c.item_id == item_id)
        work_query = work_query.where(bi.c.item_id == item_id)
        items = it.c.id == item_id
    facts, work = facts_query.subquery("facts"), work_query.subquery("work")
    fix = ev.alias("fix")  # the latest correction event
    has_gold = g.c.item_id.is_not(None)
    corrected = facts.c.correction_seq.is_not(None)
    adjudicated = st.c.label.is_not(None)
    state = case(
        (has_gold, literal("gold")),
        (corrected, literal("corrected")),
        (work.c.in_flight == 1, literal("in_flight")),
        (work.c.queued == 1, literal("queued")),
        (adjudicated, literal("adjudicated")),
        (facts.c.answers > 0, literal("answered")),
        else_=literal("unlabeled"),
    )
    label = case((has_gold, g.c.label), (corrected, fix.c.label), else_=st.c.label)
    source = case(
        (has_gold, literal("gold")),
        (corrected, literal("correction")),
        (adjudicated, literal("adjudication")),
        else_=literal(None),
    )
    return (
        select(
            it.c.id,
            it.c.key,
            it.c.data,
            state.label("state"),
            label.label("label"),
            source.label("label_source"),
            func.coalesce(facts.c.answers, 0).label("answers"),
        )
        .select_from(
            it.outerjoin(g, g.c.item_id == it.c.id)
            .outerjoin(st, st.c.item_id == it.c.id)
            .outerjoin(facts, facts.c.item_id == it.c.id)
            .outerjoin(work, work.c.item_id == it.c.id)
            .outerjoin(
                fix, and_(fix.c.project_id == project.id, fix.c.seq == facts.c.correction_seq)
            )
        )
        .where(items)
    )


def _item_row(r: Any) -> ItemRow:
    return ItemRow(
        key=r.key,
        state=r.state,
        label=None if r.label is None else json.loads(r.label),
        label_source=r.label_source,
        answers=int(r.answers),
        data=json.loads(r.data),
    )


def list_items(
    conn: Connection, project: Project, *, state: str | None = None, limit: int | None = None
) -> tuple[list[ItemRow], int]:
    """Items in import order (optionally only those in ``state``), at most ``limit``; and
    how many match in all."""
    if state is not None and state not in ITEM_STATES:
        raise InvalidInput(f"item state {state!r}; expected one of {list(ITEM_STATES)}")
    inner = _item_query(project).subquery()
    query = select(inner)
    if state is None:
        total = select(func.count()).where(t.items.c.project_id == project.id)
    else:
        query = query.where(inner.c.state == state)
        total = select(func.count()).select_from(inner).where(inner.c.state == state)
    query = query.order_by(inner.c.id)
    if limit is not None:
        query = query.limit(limit)
    rows = [_item_row(r) for r in conn.execute(query)]
    return rows, int(conn.execute(total).scalar_one())


def resolve_item_key(conn: Connection, project: Project, key: str) -> int:
    """The id of the item with ``key``; a content-hash key may be given by a unique prefix
    (``sha256:`` and at least 8 hex digits)."""
    it = t.items
    found = conn.execute(
        select(it.c.id).where(it.c.project_id == project.id, it.c.key == key)
    ).scalar_one_or_none()
    if found is not None:
        return int(found)
    digest = key.removeprefix("sha256:")
    if (
        key.startswith("sha256:")
        and len(digest) >= 8
        and all(c in "0123456789abcdef" for c in digest)
    ):
        matches = conn.execute(
            select(it.c.id, it.c.key)
            .where(it.c.project_id == project.id, it.c.key.startswith(key))
            .order_by(it.c.id)
            .limit(3)
        ).all()
        if len(matches) == 1:
            return int(matches[0].id)
        if matches:
            raise InvalidInput(
                f"item key prefix {key!r} matches several items "
                f"({', '.join(m.key[:20] + '...' for m in matches)}); give more digits"
            )
    raise NotFound(
        f"project {project.name!r} has no item {key!r}; expected a key as listed by "
        "`labelloop items list` (an external id, or sha256:<content hash> or its first 8+ digits)"
    )


def get_item_key(conn: Connection, item_id: int) -> str:
    return str(conn.execute(select(t.items.c.key).where(t.items.c.id == item_id)).scalar_one())


def get_item(conn: Connection, project: Project, key: str) -> ItemDetail:
    """One item with its state, current label, batches and every event (chain order)."""
    it, ev, lb, sv, bi, b = (
        t.items,
        t.events,
        t.labelers,
        t.schema_versions,
        t.batch_items,
        t.batches,
    )
    item_id = resolve_item_key(conn, project, key)
    summary = conn.execute(_item_query(project, item_id)).one()
    row = conn.execute(select(it).where(it.c.id == item_id)).one()
    batches = [
        {
            "batch": int(r.batch_id),
            "kind": r.kind,
            "rank": int(r.rank),
            "reason": r.reason,
            "status": r.status,
        }
        for r in conn.execute(
            select(bi.c.batch_id, b.c.kind, bi.c.rank, bi.c.reason, bi.c.status)
            .join(b, b.c.id == bi.c.batch_id)
            .where(bi.c.item_id == item_id)
            .order_by(bi.c.batch_id)
        )
    ]
    target = ev.alias("target")
    events = [
        ItemEvent(
            seq=int(r.seq),
            type=r.type,
            label=None if r.label is None else json.loads(r.label),
            labeler=None
            if r.kind is None
            else {"kind": r.kind, "name": r.name, "version": r.labeler_version},
            schema_version=r.schema_version,
            source=r.source,
            created_at=r.created_at,
            time_spent_ms=r.time_spent_ms,
            suggestion=None if r.suggestion is None else json.loads(r.suggestion),
            calibration_score=r.calibration_score,
            corrects_event=None if r.corrects_seq is None else int(r.corrects_seq),
            payload=None if r.payload is None else json.loads(r.payload),
            hash=r.hash,
        )
        for r in conn.execute(
            select(
                ev.c.seq,
                ev.c.type,
                ev.c.label,
                ev.c.source,
                ev.c.created_at,
                ev.c.time_spent_ms,
                ev.c.suggestion,
                ev.c.calibration_score,
                ev.c.payload,
                ev.c.hash,
                lb.c.kind,
                lb.c.name,
                lb.c.version.label("labeler_version"),
                sv.c.version.label("schema_version"),
                target.c.seq.label("corrects_seq"),
            )
            .select_from(
                ev.outerjoin(lb, lb.c.id == ev.c.labeler_id)
                .join(sv, sv.c.id == ev.c.schema_version_id)
                .outerjoin(target, target.c.id == ev.c.corrects_event_id)
            )
            .where(ev.c.item_id == item_id)
            .order_by(ev.c.seq)
        )
    ]
    return ItemDetail(
        item=_item_row(summary),
        external_id=row.external_id,
        content_hash=row.content_hash,
        meta=json.loads(row.meta),
        media=row.media,
        source=row.source,
        created_at=row.created_at,
        batches=batches,
        events=events,
    )


@dataclass(frozen=True)
class LabelEvent:
    """The event an item's current label comes from (what a correction corrects)."""

    id: int
    seq: int
    type: str
    label: Any
    hash: str
    labeler_id: int | None
    payload: dict[str, Any] | None


def current_label_event(conn: Connection, project: Project, item_id: int) -> LabelEvent | None:
    """The event behind the item's current label: its gold, else its latest correction,
    else its latest adjudication (the same order as :data:`LABEL_SOURCES`)."""
    ev, g, st = t.events, t.gold, t.item_state
    event_id = conn.execute(select(g.c.event_id).where(g.c.item_id == item_id)).scalar()
    if event_id is None:
        event_id = conn.execute(
            select(ev.c.id)
            .where(ev.c.project_id == project.id, ev.c.item_id == item_id)
            .where(ev.c.type == "correction")
            .order_by(ev.c.seq.desc())
            .limit(1)
        ).scalar()
    if event_id is None:
        event_id = conn.execute(
            select(st.c.event_id).where(st.c.item_id == item_id, st.c.label.is_not(None))
        ).scalar()
    if event_id is None:
        return None
    r = conn.execute(select(ev).where(ev.c.id == event_id)).one()
    label = None if r.label is None else json.loads(r.label)
    payload = None if r.payload is None else json.loads(r.payload)
    labeler_id = None if r.labeler_id is None else int(r.labeler_id)
    return LabelEvent(int(r.id), int(r.seq), r.type, label, r.hash, labeler_id, payload)


@dataclass(frozen=True)
class AnswerRow:
    item: str
    """The item key."""
    kind: str
    name: str
    version: str
    label: Any
    """Decoded JSON label."""


def answer_rows(
    conn: Connection, project: Project, *, kinds: tuple[str, ...] | None = None
) -> list[AnswerRow]:
    """Every answer and correction of the project's labelers (of ``kinds``), in chain order."""
    ev, lb, it = t.events, t.labelers, t.items
    query = (
        select(it.c.key, lb.c.kind, lb.c.name, lb.c.version, ev.c.label)
        .select_from(ev.join(lb, lb.c.id == ev.c.labeler_id).join(it, it.c.id == ev.c.item_id))
        .where(ev.c.project_id == project.id, ev.c.type.in_(("answer", "correction")))
        .order_by(ev.c.seq)
    )
    if kinds is not None:
        query = query.where(lb.c.kind.in_(kinds))
    return [
        AnswerRow(
            r.key, r.kind, r.name, r.version, None if r.label is None else json.loads(r.label)
        )
        for r in conn.execute(query)
    ]


def latest_corrections(conn: Connection, project: Project) -> dict[int, Any]:
    """Each corrected item's latest correction label (decoded), by item id."""
    ev = t.events
    out: dict[int, Any] = {}
    for item_id, label in conn.execute(
        select(ev.c.item_id, ev.c.label)
        .where(ev.c.project_id == project.id, ev.c.type == "correction")
        .order_by(ev.c.seq)
    ):
        out[int(item_id)] = None if label is None else json.loads(label)
    return out


def current_label_counts(conn: Connection, project: Project) -> list[tuple[Any, int]]:
    """Items per current label value (gold, else the latest correction, else the consensus;
    decoded: a class name, or a list of names for task types that keep sets), most items
    first, then by the label's canonical JSON."""
    q = _item_query(project).subquery()
    rows = conn.execute(
        select(q.c.label, func.count()).where(q.c.label.is_not(None)).group_by(q.c.label)
    ).all()
    decoded = [(json.loads(text), int(n)) for text, n in rows]
    return sorted(decoded, key=lambda x: (-x[1], json.dumps(x[0], sort_keys=True)))
