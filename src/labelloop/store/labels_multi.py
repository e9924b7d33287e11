"""Reads for the task types whose label is a list (multi-label): answers and corrections,
decoded, for the service to encode with the schema's codec (gold, consensus and item
contents come from :mod:`labelloop.store.answers`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from labelloop.core.answers import IntArray
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
