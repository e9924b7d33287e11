"""`status` and `verify`: counts per stage and labeler kind; hash-chain verification."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import distinct, func, select

from labelloop.core.provenance import ChainBreak, find_chain_break
from labelloop.store import repo
from labelloop.store import tables as t
from labelloop.store.engine import Store


def project_status(store: Store, project_name: str | None) -> dict[str, Any]:
    """Counts of a project: items per stage, answers and labelers per kind, gold, schema."""
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        ev = t.events
        n_items = repo.count(conn, t.items, project)
        answered = conn.execute(
            select(func.count(distinct(ev.c.item_id))).where(
                ev.c.project_id == project.id, ev.c.type == "answer"
            )
        ).scalar_one()
        labeled = (
            select(ev.c.item_id)
            .where(ev.c.project_id == project.id, ev.c.type.in_(("answer", "correction")))
            .union(select(t.gold.c.item_id).where(t.gold.c.project_id == project.id))
            .subquery()
        )
        n_labeled = conn.execute(select(func.count()).select_from(labeled)).scalar_one()
        adjudicated = repo.count(conn, t.item_state, project)
        n_gold = repo.count(conn, t.gold, project)
        calibration = conn.execute(
            select(func.count()).where(t.gold.c.project_id == project.id, t.gold.c.is_calibration)
        ).scalar_one()
        by_kind: dict[str, dict[str, int]] = {}
        lb = t.labelers
        for kind, n in conn.execute(
            select(lb.c.kind, func.count()).where(lb.c.project_id == project.id).group_by(lb.c.kind)
        ):
            by_kind.setdefault(kind, {"labelers": 0, "answers": 0})["labelers"] = int(n)
        for kind, n in conn.execute(
            select(lb.c.kind, func.count())
            .select_from(ev.join(lb, ev.c.labeler_id == lb.c.id))
            .where(ev.c.project_id == project.id, ev.c.type == "answer")
            .group_by(lb.c.kind)
        ):
            by_kind.setdefault(kind, {"labelers": 0, "answers": 0})["answers"] = int(n)
        n_answers = sum(v["answers"] for v in by_kind.values())
        schema = None
        if project.schema_version_id is not None:
            sv = repo.get_schema_version(conn, project.schema_version_id)
            labels = [x["name"] for x in sv.body.get("labels", [])]
            schema = {
                "version": sv.version,
                "task": sv.body.get("task", "single_label"),
                "content_hash": sv.content_hash,
                "open": sv.is_open,
                "labels": labels,
            }
        n_versions = repo.count(conn, t.schema_versions, project)
        queue = dict.fromkeys(t.BATCH_ITEM_STATUSES, 0)
        for status, n in conn.execute(
            select(t.batch_items.c.status, func.count())
            .where(t.batch_items.c.project_id == project.id)
            .group_by(t.batch_items.c.status)
        ):
            queue[status] = int(n)
    return {
        "project": project.name,
        "items": n_items,
        "answers": n_answers,
        "gold": int(n_gold),
        "labelers": sum(v["labelers"] for v in by_kind.values()),
        "events": project.event_seq,
        "stages": {
            "unlabeled": n_items - int(n_labeled),  # no answer, correction or gold
            "answered": int(answered),
            "adjudicated": adjudicated,
            "gold": int(n_gold),
            "calibration_gold": int(calibration),
        },
        "by_labeler_kind": by_kind,
        "schema": schema,
        "schema_versions": n_versions,
        "batch_items": queue,
    }


@dataclass(frozen=True)
class VerifyResult:
    project: str
    events: int
    ok: bool
    broken_event_id: int | None = None
    broken_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Tail:
    count: int = 0
    hash: str | None = None


def verify_chain(store: Store, project_name: str | None) -> VerifyResult:
    """Recompute the project's hash chain (streaming); name the first broken event."""
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        tail = _Tail()

        def events() -> Iterator[tuple[int, dict[str, Any], str, str]]:
            for event in repo.iter_chain(conn, project):
                tail.count += 1
                tail.hash = event.hash
                yield event.id, event.fields, event.prev_hash, event.hash

        found: ChainBreak | None = find_chain_break(events())
        if found is not None:
            seq = conn.execute(
                select(t.events.c.seq).where(t.events.c.id == found.event_id)
            ).scalar_one()
            return VerifyResult(
                project.name, tail.count, False, int(found.event_id), int(seq), found.reason
            )
        count = tail.count
        if count != project.event_seq or (count and tail.hash != project.head_hash):
            return VerifyResult(
                project.name,
                count,
                False,
                None,
                None,
                f"the chain holds {count} events but the project head records "
                f"{project.event_seq} ending in another hash: events at the end were removed",
            )
    return VerifyResult(project.name, count, True)
