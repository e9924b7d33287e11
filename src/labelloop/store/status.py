"""Counts of one project for `status`: items per stage, labelers and answers per kind, gold,
schema versions and queued work."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, distinct, func, select

from labelloop.store import tables as t
from labelloop.store.repo import Project, count

__all__ = ["KindCounts", "StatusCounts", "status_counts"]


@dataclass(frozen=True)
class KindCounts:
    labelers: int = 0
    answers: int = 0


@dataclass(frozen=True)
class StatusCounts:
    items: int
    labeled: int
    """Items with an answer, a correction or gold."""
    answered: int
    """Items with an answer."""
    adjudicated: int
    gold: int
    calibration_gold: int
    schema_versions: int
    by_kind: dict[str, KindCounts] = field(default_factory=dict)
    """Labelers and answers per labeler kind (kinds without labelers are absent)."""
    batch_items: dict[str, int] = field(default_factory=dict)
    """Batch items per status (every status of ``tables.BATCH_ITEM_STATUSES``)."""


def status_counts(conn: Connection, project: Project) -> StatusCounts:
    """The project's counts (one read transaction's view)."""
    ev, g, lb = t.events, t.gold, t.labelers
    answered = conn.execute(
        select(func.count(distinct(ev.c.item_id))).where(
            ev.c.project_id == project.id, ev.c.type == "answer"
        )
    ).scalar_one()
    labeled_items = (
        select(ev.c.item_id)
        .where(ev.c.project_id == project.id, ev.c.type.in_(("answer", "correction")))
        .union(select(g.c.item_id).where(g.c.project_id == project.id))
        .subquery()
    )
    labeled = conn.execute(select(func.count()).select_from(labeled_items)).scalar_one()
    calibration = conn.execute(
        select(func.count()).where(g.c.project_id == project.id, g.c.is_calibration)
    ).scalar_one()
    labelers: dict[str, int] = {}
    answers: dict[str, int] = {}
    for kind, n in conn.execute(
        select(lb.c.kind, func.count()).where(lb.c.project_id == project.id).group_by(lb.c.kind)
    ):
        labelers[kind] = int(n)
    for kind, n in conn.execute(
        select(lb.c.kind, func.count())
        .select_from(ev.join(lb, ev.c.labeler_id == lb.c.id))
        .where(ev.c.project_id == project.id, ev.c.type == "answer")
        .group_by(lb.c.kind)
    ):
        answers[kind] = int(n)
    queue = dict.fromkeys(t.BATCH_ITEM_STATUSES, 0)
    for status, n in conn.execute(
        select(t.batch_items.c.status, func.count())
        .where(t.batch_items.c.project_id == project.id)
        .group_by(t.batch_items.c.status)
    ):
        queue[status] = int(n)
    return StatusCounts(
        items=count(conn, t.items, project),
        labeled=int(labeled),
        answered=int(answered),
        adjudicated=count(conn, t.item_state, project),
        gold=count(conn, t.gold, project),
        calibration_gold=int(calibration),
        schema_versions=count(conn, t.schema_versions, project),
        by_kind={
            kind: KindCounts(labelers.get(kind, 0), answers.get(kind, 0))
            for kind in {**labelers, **answers}
        },
        batch_items=queue,
    )
