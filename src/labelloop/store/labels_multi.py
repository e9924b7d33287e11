"""Reads for the task types whose label is a list (multi-label): answers, gold, current
labels and item texts, decoded, for the service to encode with the schema's codec."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from labelloop.core.answers import IntArray
from labelloop.core.identity import STUB_DATA
from labelloop.store import tables as t
from labelloop.store.repo import Project


@dataclass(frozen=True)
class LabelRows:
    """A project's answers and corrections in chain order (aligned), decoded."""

    item_id: IntArray
    labeler_id: IntArray
    """-1 for an event without a labeler."""
    label: list[Any]


def answer_label_rows(conn: Connection, project: Project) -> LabelRows:
    """Every answer and correction event's (item id, labeler id, decoded label), chain order."""
    ev = t.events
    rows = conn.execute(
        select(ev.c.item_id, ev.c.labeler_id, ev.c.label)
        .where(ev.c.project_id == project.id, ev.c.type.in_(("answer", "correction")))
        .order_by(ev.c.seq)
    ).all()
    decoded: dict[str | None, Any] = {}
    labels = []
    for r in rows:
        if r[2] not in decoded:
            decoded[r[2]] = None if r[2] is None else json.loads(r[2])
        labels.append(decoded[r[2]])
    return LabelRows(
        np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
        np.fromiter((-1 if r[1] is None else r[1] for r in rows), dtype=np.int64, count=len(rows)),
        labels,
    )


def gold_labels(conn: Connection, project: Project) -> dict[int, Any]:
    """Current gold label (decoded) by item id."""
    g = t.gold
    return {
        int(item_id): json.loads(label)
        for item_id, label in conn.execute(
            select(g.c.item_id, g.c.label).where(g.c.project_id == project.id)
        )
    }


def current_states(conn: Connection, project: Project) -> dict[int, tuple[Any, float | None]]:
    """Current consensus (decoded label, confidence) by item id, from the latest adjudication."""
    st = t.item_state
    return {
        int(r.item_id): (None if r.label is None else json.loads(r.label), r.confidence)
        for r in conn.execute(
            select(st.c.item_id, st.c.label, st.c.confidence).where(st.c.project_id == project.id)
        )
    }


def labeler_identities(conn: Connection, project: Project) -> dict[int, tuple[str, str, str]]:
    """(kind, name, version) of every labeler of the project, by id."""
    lb = t.labelers
    return {
        int(r.id): (r.kind, r.name, r.version)
        for r in conn.execute(
            select(lb.c.id, lb.c.kind, lb.c.name, lb.c.version).where(lb.c.project_id == project.id)
        )
    }


def item_contents(conn: Connection, project: Project) -> tuple[list[int], list[dict[str, Any]]]:
    """Ids and decoded data of the project's items with content (stubs left out), id order."""
    it = t.items
    rows = conn.execute(
        select(it.c.id, it.c.data)
        .where(it.c.project_id == project.id, it.c.data != STUB_DATA)
        .order_by(it.c.id)
    ).all()
    return [int(r.id) for r in rows], [json.loads(r.data) for r in rows]
