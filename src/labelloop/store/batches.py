"""Batches of work for people (sampled, routed, audited items) and what keeps items out of
the next one. Functions take a Connection inside the caller's transaction."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from labelloop.core.provenance import canonical_json
from labelloop.errors import InvalidInput
from labelloop.store import tables as t
from labelloop.store.repo import CHUNK, Project, now_iso

BATCH_KINDS = t.BATCH_KINDS
BATCH_ITEM_STATUSES = t.BATCH_ITEM_STATUSES
OPEN_BATCH_ITEM_STATUSES = t.OPEN_BATCH_ITEM_STATUSES

__all__ = [
    "BATCH_ITEM_STATUSES",
    "BATCH_KINDS",
    "OPEN_BATCH_ITEM_STATUSES",
    "BatchEntry",
    "BatchItem",
    "BatchSummary",
    "batch_item_ids",
    "batch_items",
    "batch_summaries",
    "create_batch",
    "excluded_items",
    "set_batch_item_status",
]


@dataclass(frozen=True)
class BatchEntry:
    """An item to put in a batch (rank: its position in the batch)."""

    item_id: int
    score: float | None
    reason: str
    suggestion: dict[str, Any] | None = None
    show_suggestion: bool = False


@dataclass(frozen=True)
class BatchSummary:
    id: int
    kind: str
    strategy: str
    model: str | None
    created_at: str
    size: int
    status: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BatchItem:
    """One item of a batch with its item key and content."""

    id: int
    """The batch item's id (what :func:`set_batch_item_status` moves)."""
    key: str
    data: dict[str, Any]
    rank: int
    score: float | None
    reason: str
    status: str
    suggestion: dict[str, Any] | None
    show_suggestion: bool


def create_batch(
    conn: Connection,
    project: Project,
    *,
    kind: str,
    strategy: str,
    params: dict[str, Any],
    labeler_id: int | None,
    entries: Sequence[BatchEntry],
) -> int:
    """Store a batch and its items (ranked in ``entries`` order, status ``queued``); its id.
    A score that is not finite is stored as none."""
    if kind not in BATCH_KINDS:
        raise InvalidInput(f"batch kind {kind!r}; expected one of {list(BATCH_KINDS)}")
    result = conn.execute(
        insert(t.batches).values(
            project_id=project.id,
            kind=kind,
            strategy=strategy,
            params=canonical_json(params),
            labeler_id=labeler_id,
            created_at=now_iso(),
        )
    )
    batch_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    rows = [
        {
            "batch_id": batch_id,
            "project_id": project.id,
            "item_id": e.item_id,
            "rank": rank,
            "score": None if e.score is None or not math.isfinite(e.score) else float(e.score),
            "reason": e.reason,
            "status": "queued",
            "suggestion": None if e.suggestion is None else canonical_json(e.suggestion),
            "show_suggestion": bool(e.show_suggestion),
        }
        for rank, e in enumerate(entries, 1)
    ]
    for start in range(0, len(rows), CHUNK):
        conn.execute(insert(t.batch_items), rows[start : start + CHUNK])
    return batch_id


def batch_summaries(
    conn: Connection, project: Project, batch_id: int | None = None
) -> list[BatchSummary]:
    """The project's batches (or the one), oldest first, with their item count per status."""
    b, bi, lb = t.batches, t.batch_items, t.labelers
    query = (
        select(b.c.id, b.c.kind, b.c.strategy, b.c.created_at, lb.c.name, lb.c.version)
        .select_from(b.outerjoin(lb, lb.c.id == b.c.labeler_id))
        .where(b.c.project_id == project.id)
        .order_by(b.c.id)
    )
    counts_query = (
        select(bi.c.batch_id, bi.c.status, func.count())
        .where(bi.c.project_id == project.id)
        .group_by(bi.c.batch_id, bi.c.status)
    )
    if batch_id is not None:
        query = query.where(b.c.id == batch_id)
        counts_query = counts_query.where(bi.c.batch_id == batch_id)
    counts: dict[int, Counter[str]] = {}
    for bid, status, n in conn.execute(counts_query):
        counts.setdefault(int(bid), Counter())[status] = int(n)
    out = []
    for row in conn.execute(query):
        c = counts.get(int(row.id), Counter())
        out.append(
            BatchSummary(
                id=int(row.id),
                kind=row.kind,
                strategy=row.strategy,
                model=None if row.name is None else f"{row.name}@{row.version}",
                created_at=row.created_at,
                size=sum(c.values()),
                status={s: c.get(s, 0) for s in BATCH_ITEM_STATUSES},
            )
        )
    return out


def batch_items(conn: Connection, batch_id: int, statuses: Sequence[str]) -> list[BatchItem]:
    """The batch's items in ``statuses``, by rank."""
    bi, it = t.batch_items, t.items
    rows = conn.execute(
        select(
            bi.c.id,
            it.c.key,
            it.c.data,
            bi.c.rank,
            bi.c.score,
            bi.c.reason,
            bi.c.status,
            bi.c.suggestion,
            bi.c.show_suggestion,
        )
        .join(it, it.c.id == bi.c.item_id)
        .where(bi.c.batch_id == batch_id, bi.c.status.in_(list(statuses)))
        .order_by(bi.c.rank)
    )
    return [
        BatchItem(
            id=int(r.id),
            key=r.key,
            data=json.loads(r.data),
            rank=int(r.rank),
            score=r.score,
            reason=r.reason,
            status=r.status,
            suggestion=None if r.suggestion is None else json.loads(r.suggestion),
            show_suggestion=bool(r.show_suggestion),
        )
        for r in rows
    ]


def batch_item_ids(conn: Connection, batch_id: int, status: str) -> list[int]:
    """Ids of the batch's items in ``status``."""
    bi = t.batch_items
    query = select(bi.c.id).where(bi.c.batch_id == batch_id, bi.c.status == status)
    return [int(i) for i in conn.execute(query).scalars()]


def set_batch_item_status(conn: Connection, ids: Sequence[int], old: str, new: str) -> int:
    """Move batch items from ``old`` to ``new`` (only those still in ``old``); how many."""
    bi = t.batch_items
    moved = 0
    for start in range(0, len(ids), CHUNK):
        moved += conn.execute(
            update(bi)
            .where(bi.c.id.in_(list(ids[start : start + CHUNK])), bi.c.status == old)
            .values(status=new)
        ).rowcount
    return moved


def excluded_items(conn: Connection, project: Project) -> dict[str, set[int]]:
    """Items not to send to humans again, by why: ``labeled`` (gold, or an answer or
    correction of a person), ``auto_accepted`` (a routed model label), ``queued`` (queued or
    in flight in a batch). A machine-only consensus is not a reason."""
    pid = project.id
    ev, lb, bi = t.events, t.labelers, t.batch_items
    labeled = set(
        conn.execute(select(t.gold.c.item_id).where(t.gold.c.project_id == pid)).scalars()
    )
    labeled.update(
        conn.execute(
            select(ev.c.item_id)
            .join(lb, lb.c.id == ev.c.labeler_id)
            .where(
                ev.c.project_id == pid,
                ev.c.type.in_(("answer", "correction")),
                lb.c.kind.in_(t.PERSON_KINDS),
            )
            .distinct()
        ).scalars()
    )
    auto = conn.execute(
        select(ev.c.item_id)
        .where(ev.c.project_id == pid, ev.c.source == "model_auto", ev.c.item_id.is_not(None))
        .distinct()
    ).scalars()
    queued = conn.execute(
        select(bi.c.item_id)
        .where(bi.c.project_id == pid, bi.c.status.in_(OPEN_BATCH_ITEM_STATUSES))
        .distinct()
    ).scalars()
    return {
        "labeled": {int(i) for i in labeled},
        "auto_accepted": {int(i) for i in auto},
        "queued": {int(i) for i in queued},
    }
