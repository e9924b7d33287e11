"""Queries and writes for people at work: assignments with leases, annotator stages, item
overlap state and the annotation policy. Functions take a Connection inside the caller's
transaction and return plain records (service.annotate.work decides what they mean)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, case, exists, func, insert, or_, select, update

from labelloop.core.provenance import canonical_json
from labelloop.errors import NotFound
from labelloop.store import repo
from labelloop.store import tables as t

PERSON_KINDS = t.PERSON_KINDS
"""Labeler kinds that are people: only they get tasks."""
ACTIVE = ("leased", "submitted")
"""Assignment statuses that hold a place in an item's overlap."""


@dataclass(frozen=True)
class Assignment:
    id: int
    public_id: str
    item_id: int
    labeler_id: int
    kind: str
    round: int
    batch_item_id: int | None
    status: str
    leased_at: str
    expires_at: str
    event_id: int | None
    correct: bool | None


@dataclass(frozen=True)
class Annotator:
    labeler_id: int
    stage: str
    round: int
    flagged_at: int | None


def _assignment(row: Any) -> Assignment:
    return Assignment(
        int(row.id),
        row.public_id,
        int(row.item_id),
        int(row.labeler_id),
        row.kind,
        int(row.round),
        None if row.batch_item_id is None else int(row.batch_item_id),
        row.status,
        row.leased_at,
        row.expires_at,
        None if row.event_id is None else int(row.event_id),
        None if row.correct is None else bool(row.correct),
    )


# ---------------------------------------------------------------- policy and labelers


def get_policy(conn: Connection, project: repo.Project) -> dict[str, Any] | None:
    ap = t.annotation_policies
    text = conn.execute(select(ap.c.params).where(ap.c.project_id == project.id)).scalar()
    return None if text is None else dict(json.loads(text))


def set_policy(conn: Connection, project: repo.Project, params: dict[str, Any]) -> None:
    ap = t.annotation_policies
    values = {"params": canonical_json(params), "updated_at": repo.now_iso()}
    done = conn.execute(update(ap).where(ap.c.project_id == project.id).values(**values))
    if not done.rowcount:
        conn.execute(insert(ap).values(project_id=project.id, **values))


def labeler_kind(conn: Connection, project: repo.Project, labeler_id: int) -> str:
    """Kind of the project's labeler ``labeler_id``; NotFound for another project's."""
    lb = t.labelers
    kind = conn.execute(
        select(lb.c.kind).where(lb.c.id == labeler_id, lb.c.project_id == project.id)
    ).scalar()
    if kind is None:
        raise NotFound(f"project {project.name!r} has no labeler {labeler_id}")
    return str(kind)


def get_annotator(conn: Connection, project: repo.Project, labeler_id: int) -> Annotator | None:
    an = t.annotators
    row = conn.execute(
        select(an).where(an.c.labeler_id == labeler_id, an.c.project_id == project.id)
    ).first()
    if row is None:
        return None
    return Annotator(int(row.labeler_id), row.stage, int(row.round), row.flagged_at)


def put_annotator(conn: Connection, project: repo.Project, state: Annotator) -> None:
    an = t.annotators
    values = {
        "stage": state.stage,
        "round": state.round,
        "flagged_at": state.flagged_at,
        "updated_at": repo.now_iso(),
    }
    done = conn.execute(
        update(an).where(an.c.labeler_id == state.labeler_id).values(**values)
    ).rowcount
    if not done:
        conn.execute(
            insert(an).values(labeler_id=state.labeler_id, project_id=project.id, **values)
        )


# ---------------------------------------------------------------- leases


def expire_leases(conn: Connection, project: repo.Project, now: str) -> int:
    """Leases past their expiry become ``expired`` (their items return to the queue)."""
    a = t.assignments
    return int(
        conn.execute(
            update(a)
            .where(a.c.project_id == project.id, a.c.status == "leased", a.c.expires_at < now)
            .values(status="expired", closed_at=now)
        ).rowcount
    )


def open_lease(conn: Connection, project: repo.Project, labeler_id: int) -> Assignment | None:
    """The person's current (unexpired) lease, if any."""
    a = t.assignments
    row = conn.execute(
        select(a)
        .where(a.c.project_id == project.id, a.c.labeler_id == labeler_id, a.c.status == "leased")
        .order_by(a.c.id)
        .limit(1)
    ).first()
    return None if row is None else _assignment(row)


def get_assignment(conn: Connection, project: repo.Project, public_id: str) -> Assignment | None:
    a = t.assignments
    row = conn.execute(
        select(a).where(a.c.project_id == project.id, a.c.public_id == public_id)
    ).first()
    return None if row is None else _assignment(row)


def _not_seen_by(labeler_id: int) -> Any:
    """Items the person holds no live or finished assignment for (an expired one of theirs
    does not count: the item may come back to them)."""
    a = t.assignments
    return ~exists().where(
        a.c.item_id == t.items.c.id,
        a.c.labeler_id == labeler_id,
        a.c.status != "expired",
    )


def next_gold_item(
    conn: Connection, project: repo.Project, labeler_id: int, *, calibration: bool | None
) -> int | None:
    """A gold item the person never had (calibration gold only when ``calibration``; any
    gold when None), calibration ones in item order, others at random."""
    g, it = t.gold, t.items
    query = (
        select(it.c.id)
        .join(g, g.c.item_id == it.c.id)
        .where(g.c.project_id == project.id, _not_seen_by(labeler_id))
        .limit(1)
    )
    if calibration is not None:
        query = query.where(g.c.is_calibration == calibration)
    query = query.order_by(it.c.id if calibration else func.random())
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def _overlap_room(k: int) -> Any:
    """An item still takes a person: open (or never worked), and fewer live or finished
    assignments than its target (``k``, then one more at a time while undecided)."""
    a, w, it = t.assignments, t.item_work, t.items
    active = (
        select(func.count())
        .where(a.c.item_id == it.c.id, a.c.status.in_(ACTIVE), a.c.kind == "work")
        .scalar_subquery()
    )
    answers = func.coalesce(select(w.c.answers).where(w.c.item_id == it.c.id).scalar_subquery(), 0)
    target = case((answers < k, k), else_=answers + 1)
    closed = exists().where(w.c.item_id == it.c.id, w.c.status != "open")
    return and_(~closed, active < target)


def next_work_item(
    conn: Connection, project: repo.Project, labeler_id: int, *, k: int
) -> tuple[int, int | None] | None:
    """(item id, batch item id) of the next production item for the person: stored batches'
    queued items in batch and rank order (and those leases already hold), then the pool;
    never gold, never an item they had, never one `batch export --claim` handed out."""
    a, bi, it, g = t.assignments, t.batch_items, t.items, t.gold
    not_gold = ~exists().where(g.c.item_id == it.c.id)
    leased_from_batch = exists().where(a.c.batch_item_id == bi.c.id)
    row = conn.execute(
        select(it.c.id, bi.c.id.label("batch_item_id"))
        .join(bi, bi.c.item_id == it.c.id)
        .where(
            bi.c.project_id == project.id,
            or_(bi.c.status == "queued", and_(bi.c.status == "in_flight", leased_from_batch)),
            not_gold,
            _not_seen_by(labeler_id),
            _overlap_room(k),
        )
        .order_by(bi.c.batch_id, bi.c.rank)
        .limit(1)
    ).first()
    if row is not None:
        return int(row.id), int(row.batch_item_id)
    in_batch = exists().where(bi.c.item_id == it.c.id, bi.c.status.in_(t.OPEN_BATCH_ITEM_STATUSES))
    labeled = exists().where(t.item_state.c.item_id == it.c.id)
    found = conn.execute(
        select(it.c.id)
        .where(
            it.c.project_id == project.id,
            not_gold,
            ~in_batch,
            ~labeled,
            _not_seen_by(labeler_id),
            _overlap_room(k),
        )
        .order_by(it.c.id)
        .limit(1)
    ).scalar()
    return None if found is None else (int(found), None)


def next_expert_item(conn: Connection, project: repo.Project, labeler_id: int) -> int | None:
    """An item in the expert queue that no expert holds or decided, oldest first."""
    a, w = t.assignments, t.item_work
    taken = exists().where(a.c.item_id == w.c.item_id, a.c.kind == "expert", a.c.status.in_(ACTIVE))
    mine = exists().where(
        a.c.item_id == w.c.item_id, a.c.labeler_id == labeler_id, a.c.status != "expired"
    )
    found = conn.execute(
        select(w.c.item_id)
        .where(w.c.project_id == project.id, w.c.status == "expert", ~taken, ~mine)
        .order_by(w.c.updated_at, w.c.item_id)
        .limit(1)
    ).scalar()
    return None if found is None else int(found)


def lease(
    conn: Connection,
    project: repo.Project,
    *,
    public_id: str,
    item_id: int,
    labeler_id: int,
    kind: str,
    round: int,
    batch_item_id: int | None,
    now: str,
    expires_at: str,
) -> Assignment:
    """Record a lease (re-using the person's own expired assignment of the item, if any);
    a queued batch item it comes from goes in flight."""
    a = t.assignments
    values = {
        "public_id": public_id,
        "kind": kind,
        "round": round,
        "batch_item_id": batch_item_id,
        "status": "leased",
        "leased_at": now,
        "expires_at": expires_at,
        "closed_at": None,
        "event_id": None,
        "correct": None,
    }
    reused = conn.execute(
        update(a)
        .where(a.c.labeler_id == labeler_id, a.c.item_id == item_id, a.c.status == "expired")
        .values(**values)
    ).rowcount
    if not reused:
        conn.execute(
            insert(a).values(
                project_id=project.id, item_id=item_id, labeler_id=labeler_id, **values
            )
        )
    if batch_item_id is not None:
        bi = t.batch_items
        conn.execute(
            update(bi)
            .where(bi.c.id == batch_item_id, bi.c.status == "queued")
            .values(status="in_flight")
        )
    found = get_assignment(conn, project, public_id)
    assert found is not None
    return found


def close_assignments(conn: Connection, rows: Sequence[dict[str, Any]], now: str) -> None:
    """Close assignments: rows of ``id``, ``status``, ``event_id``, ``correct``."""
    a = t.assignments
    for row in rows:
        conn.execute(
            update(a)
            .where(a.c.id == row["id"])
            .values(
                status=row["status"],
                event_id=row["event_id"],
                correct=row["correct"],
                closed_at=now,
            )
        )


# ---------------------------------------------------------------- what people did


def event_ids_by_key(
    conn: Connection, project: repo.Project, keys: Sequence[str]
) -> dict[str, tuple[int, int, str | None, str | None, str]]:
    """(id, seq, label, payload, created_at) of the events with these idempotency keys."""
    ev = t.events
    out = {}
    for chunk in repo._chunks(sorted(set(keys))):
        rows = conn.execute(
            select(
                ev.c.idempotency_key, ev.c.id, ev.c.seq, ev.c.label, ev.c.payload, ev.c.created_at
            ).where(ev.c.project_id == project.id, ev.c.idempotency_key.in_(chunk))
        )
        for r in rows:
            out[r.idempotency_key] = (int(r.id), int(r.seq), r.label, r.payload, r.created_at)
    return out


def item_keys(conn: Connection, item_ids: Sequence[int]) -> dict[int, str]:
    it = t.items
    out: dict[int, str] = {}
    for chunk in repo._chunks(sorted(set(item_ids))):
        out.update(
            (int(i), k)
            for i, k in conn.execute(select(it.c.id, it.c.key).where(it.c.id.in_(chunk)))
        )
    return out


def gold_labels(conn: Connection, item_ids: Sequence[int]) -> dict[int, Any]:
    g = t.gold
    out: dict[int, Any] = {}
    for chunk in repo._chunks(sorted(set(item_ids))):
        rows = conn.execute(select(g.c.item_id, g.c.label).where(g.c.item_id.in_(chunk)))
        out.update((int(i), json.loads(label)) for i, label in rows)
    return out


def item_answers(
    conn: Connection, project: repo.Project, item_ids: Sequence[int]
) -> dict[int, list[tuple[int, Any]]]:
    """Each item's people's answers as (labeler id, label), a person's last answer or
    correction counting, in the order of their first answer."""
    ev, lb = t.events, t.labelers
    out: dict[int, dict[int, Any]] = {}
    for chunk in repo._chunks(sorted(set(item_ids))):
        rows = conn.execute(
            select(ev.c.item_id, ev.c.labeler_id, ev.c.label)
            .join(lb, lb.c.id == ev.c.labeler_id)
            .where(
                ev.c.project_id == project.id,
                ev.c.item_id.in_(chunk),
                ev.c.type.in_(("answer", "correction")),
                lb.c.kind == "human",
            )
            .order_by(ev.c.seq)
        )
        for item_id, labeler_id, label in rows:
            out.setdefault(int(item_id), {})[int(labeler_id)] = json.loads(label)
    return {item: list(by.items()) for item, by in out.items()}


def graded(
    conn: Connection, project: repo.Project, labeler_id: int, *, kinds: Sequence[str], round: int
) -> tuple[int, int]:
    """(correct, graded) of the person's submitted assignments of ``kinds`` in ``round``."""
    a = t.assignments
    row = conn.execute(
        select(func.count(), func.coalesce(func.sum(case((a.c.correct, 1), else_=0)), 0)).where(
            a.c.project_id == project.id,
            a.c.labeler_id == labeler_id,
            a.c.kind.in_(kinds),
            a.c.round == round,
            a.c.status == "submitted",
            a.c.correct.is_not(None),
        )
    ).one()
    return int(row[1]), int(row[0])


def tasks_done(conn: Connection, project: repo.Project, labeler_id: int, round: int) -> int:
    """Production tasks (work and gold) the person submitted or skipped in ``round``."""
    a = t.assignments
    return int(
        conn.execute(
            select(func.count()).where(
                a.c.project_id == project.id,
                a.c.labeler_id == labeler_id,
                a.c.kind.in_(("work", "gold")),
                a.c.round == round,
                a.c.status.in_(("submitted", "skipped")),
            )
        ).scalar_one()
    )


def work_items_answered(
    conn: Connection, project: repo.Project, labeler_id: int, round: int, limit: int
) -> list[int]:
    """The person's latest submitted production items in ``round`` (newest first)."""
    a = t.assignments
    rows = conn.execute(
        select(a.c.item_id)
        .where(
            a.c.project_id == project.id,
            a.c.labeler_id == labeler_id,
            a.c.kind == "work",
            a.c.round == round,
            a.c.status == "submitted",
        )
        .order_by(a.c.closed_at.desc(), a.c.id.desc())
        .limit(limit)
    ).scalars()
    return [int(i) for i in rows]


# ---------------------------------------------------------------- item overlap state


def get_item_work(conn: Connection, item_ids: Sequence[int]) -> dict[int, str]:
    w = t.item_work
    out: dict[int, str] = {}
    for chunk in repo._chunks(sorted(set(item_ids))):
        out.update(
            (int(i), s)
            for i, s in conn.execute(select(w.c.item_id, w.c.status).where(w.c.item_id.in_(chunk)))
        )
    return out


def put_item_work(
    conn: Connection,
    project: repo.Project,
    item_id: int,
    *,
    status: str,
    answers: int,
    label: Any,
    confidence: float | None,
) -> None:
    """Record an item's overlap state; once it leaves ``open``, its batch items are done."""
    w = t.item_work
    values = {
        "status": status,
        "answers": answers,
        "label": None if label is None else canonical_json(label),
        "confidence": confidence,
        "updated_at": repo.now_iso(),
    }
    if not conn.execute(update(w).where(w.c.item_id == item_id).values(**values)).rowcount:
        conn.execute(insert(w).values(item_id=item_id, project_id=project.id, **values))
    if status != "open":
        bi = t.batch_items
        conn.execute(
            update(bi)
            .where(bi.c.item_id == item_id, bi.c.status.in_(t.OPEN_BATCH_ITEM_STATUSES))
            .values(status="done")
        )


def person_decided_items(conn: Connection, project: repo.Project) -> set[int]:
    """Items whose latest adjudication came from a person (reviewer or expert)."""
    st, ev = t.item_state, t.events
    rows = conn.execute(
        select(st.c.item_id)
        .join(ev, ev.c.id == st.c.event_id)
        .where(st.c.project_id == project.id, ev.c.labeler_id.is_not(None))
    ).scalars()
    return {int(i) for i in rows}


def item_data(conn: Connection, item_id: int) -> str:
    """The item's data (canonical JSON text)."""
    return str(conn.execute(select(t.items.c.data).where(t.items.c.id == item_id)).scalar_one())


def list_annotators(conn: Connection, project: repo.Project) -> list[Annotator]:
    an = t.annotators
    rows = conn.execute(
        select(an).where(an.c.project_id == project.id).order_by(an.c.labeler_id)
    ).all()
    return [Annotator(int(r.labeler_id), r.stage, int(r.round), r.flagged_at) for r in rows]


def closed_at(conn: Connection, assignment_id: int) -> str | None:
    a = t.assignments
    return conn.execute(select(a.c.closed_at).where(a.c.id == assignment_id)).scalar()


def people_answers(conn: Connection, project: repo.Project) -> list[tuple[int, int, Any]]:
    """(item id, labeler id, label) of every answer and correction by a ``human`` labeler,
    in chain order (a later one of the same person on the same item supersedes)."""
    ev, lb = t.events, t.labelers
    rows = conn.execute(
        select(ev.c.item_id, ev.c.labeler_id, ev.c.label)
        .join(lb, lb.c.id == ev.c.labeler_id)
        .where(
            ev.c.project_id == project.id,
            ev.c.type.in_(("answer", "correction")),
            lb.c.kind == "human",
        )
        .order_by(ev.c.seq)
    )
    return [(int(i), int(w), json.loads(y)) for i, w, y in rows]
