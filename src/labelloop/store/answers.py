"""A project's answers, gold, current labels, labelers and item contents as core records.

Functions take a Connection inside the caller's transaction. Labels are stored as canonical
JSON and decoded here; where the caller works in codes they are coded against its
:class:`~labelloop.core.answers.LabelSpace`, and a stored label that is not one of the
space's names (another schema version's label, a list) is left out and counted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from labelloop.core.answers import ABSTAIN, Answers, IntArray, LabelSpace
from labelloop.store import tables as t
from labelloop.store.listing import latest_corrections
from labelloop.store.repo import Project

__all__ = [
    "Consensus",
    "ItemContent",
    "Labeler",
    "ProjectAnswers",
    "consensus_labels",
    "current_labels",
    "gold_codes",
    "item_contents",
    "list_labelers",
    "project_answers",
    "project_gold",
]

Ids = Sequence[int] | IntArray
"""Store ids (of items or labelers) in the order the caller codes them."""

ANSWER_TYPES = ("answer", "correction")
"""Event types whose label is a labeler's answer (a correction is a person's answer too)."""


@dataclass(frozen=True)
class Labeler:
    """A stored labeler: its id and identity (kind, name, version)."""

    id: int
    kind: str
    name: str
    version: str

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.kind, self.name, self.version)


@dataclass(frozen=True)
class ItemContent:
    """An item's id, key and content (decoded ``data``)."""

    id: int
    key: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Consensus:
    """An item's latest adjudication: its key, label (decoded) and confidence."""

    key: str
    label: Any
    confidence: float | None


@dataclass(frozen=True, eq=False)
class ProjectAnswers:
    """Stored answers as core :class:`~labelloop.core.answers.Answers`, in event order.

    ``answers.item`` codes index ``item_ids`` and ``answers.labeler`` codes index
    ``labeler_ids`` (store ids; -1 for an answer without a labeler). Repeated answers are
    all kept (``answers.deduplicate`` applies the rule).
    """

    answers: Answers
    item_ids: IntArray
    labeler_ids: IntArray
    read: int
    """Answer events read (before labels outside the space were left out)."""
    skipped: int
    """Of those, answers whose label is not a label of the space."""


def list_labelers(conn: Connection, project: Project, *, kind: str | None = None) -> list[Labeler]:
    """The project's labelers (of ``kind``), oldest first."""
    lb = t.labelers
    query = select(lb.c.id, lb.c.kind, lb.c.name, lb.c.version).where(lb.c.project_id == project.id)
    if kind is not None:
        query = query.where(lb.c.kind == kind)
    return [
        Labeler(int(r.id), r.kind, r.name, r.version) for r in conn.execute(query.order_by(lb.c.id))
    ]


def _positions(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Position of each of ``ids`` in ``wanted`` (distinct ids, any order), -1 if absent."""
    if wanted.size == 0:
        return np.full(ids.shape, -1, dtype=np.int64)
    order = np.argsort(wanted, kind="stable")
    found = np.minimum(np.searchsorted(wanted, ids, sorter=order), wanted.size - 1)
    pos = order[found]
    return np.where(wanted[pos] == ids, pos, -1).astype(np.int64)


def project_answers(
    conn: Connection,
    project: Project,
    space: LabelSpace,
    *,
    types: Sequence[str] = ANSWER_TYPES,
    item_ids: Ids | None = None,
    labeler_ids: Ids | None = None,
) -> ProjectAnswers:
    """The project's answer events (of ``types``) coded against ``space``, in event order.

    ``item_ids`` / ``labeler_ids``: code items / labelers by their position there and leave
    out answers about other items / of other labelers; by default the codes cover the
    items and labelers that have an answer with a label of the space (ascending ids).
    """
    ev = t.events
    query = select(ev.c.item_id, ev.c.labeler_id, ev.c.label).where(
        ev.c.project_id == project.id, ev.c.type.in_(tuple(types))
    )
    if labeler_ids is not None:
        query = query.where(ev.c.labeler_id.in_([int(i) for i in labeler_ids]))
    rows = conn.execute(query.order_by(ev.c.seq)).all()
    n = len(rows)
    items = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    labelers = np.fromiter((-1 if r[1] is None else r[1] for r in rows), dtype=np.int64, count=n)
    raw = [r[2] for r in rows]
    lut = {}
    for text in set(raw):  # few distinct labels: decode each once
        value = None if text is None else json.loads(text)
        lut[text] = space.code(value) if isinstance(value, str) and value in space else ABSTAIN
    codes = np.fromiter((lut[x] for x in raw), dtype=np.int64, count=n)
    keep = codes != ABSTAIN
    skipped = int((~keep).sum())
    if item_ids is None:
        item_arr, item_code = np.unique(items[keep], return_inverse=True)
    else:
        item_arr = np.asarray(item_ids, dtype=np.int64)
        item_code = _positions(items, item_arr)
        keep &= item_code >= 0
        item_code = item_code[keep]
    if labeler_ids is None:
        labeler_arr, labeler_code = np.unique(labelers[keep], return_inverse=True)
    else:
        labeler_arr = np.asarray(labeler_ids, dtype=np.int64)
        labeler_code = _positions(labelers[keep], labeler_arr)
    answers = Answers(
        item_code.astype(np.int64),
        labeler_code.astype(np.int64),
        codes[keep],
        len(item_arr),
        len(labeler_arr),
        len(space),
    )
    return ProjectAnswers(answers, item_arr, labeler_arr, n, skipped)


def project_gold(conn: Connection, project: Project) -> dict[int, Any]:
    """Every current gold label of the project (decoded), by item id."""
    g = t.gold
    rows = conn.execute(select(g.c.item_id, g.c.label).where(g.c.project_id == project.id))
    return {int(item_id): json.loads(label) for item_id, label in rows}


def gold_codes(conn: Connection, project: Project, space: LabelSpace, item_ids: Ids) -> IntArray:
    """Gold label code of each of ``item_ids``, shape (len(item_ids),); ``ABSTAIN`` where
    an item has no gold or its gold is not a label of ``space``."""
    ids = np.asarray(item_ids, dtype=np.int64)
    out = np.full(len(ids), ABSTAIN, dtype=np.int64)
    gold = project_gold(conn, project)
    if not gold:
        return out
    gold_ids = np.fromiter(gold, dtype=np.int64, count=len(gold))
    pos = _positions(gold_ids, ids)
    for k, label in zip(pos.tolist(), gold.values(), strict=True):
        if k >= 0 and isinstance(label, str) and label in space:
            out[k] = space.code(label)
    return out


def consensus_labels(conn: Connection, project: Project) -> dict[int, Consensus]:
    """Each adjudicated item's latest adjudication (label and confidence), by item id."""
    st, it = t.item_state, t.items
    rows = conn.execute(
        select(st.c.item_id, it.c.key, st.c.label, st.c.confidence)
        .join(it, it.c.id == st.c.item_id)
        .where(st.c.project_id == project.id)
    )
    return {
        int(r.item_id): Consensus(
            r.key, None if r.label is None else json.loads(r.label), r.confidence
        )
        for r in rows
    }


def current_labels(conn: Connection, project: Project) -> tuple[dict[int, str], set[int]]:
    """Current label per item (gold over a person's correction over consensus) and the ids
    whose label is gold; single labels only (a list label is left out)."""
    labels: dict[int, str] = {}
    for item_id, found in consensus_labels(conn, project).items():
        if isinstance(found.label, str):
            labels[item_id] = found.label
    for item_id, value in latest_corrections(conn, project).items():
        if isinstance(value, str):
            labels[item_id] = value
    gold_ids: set[int] = set()
    for item_id, value in project_gold(conn, project).items():
        if isinstance(value, str):
            labels[item_id] = value
            gold_ids.add(item_id)
    return labels, gold_ids


def item_contents(
    conn: Connection, project: Project, *, unanswered_by: int | None = None
) -> list[ItemContent]:
    """The project's items with their content, in import order (a stub item's content is
    empty); ``unanswered_by``: only items that labeler id has not answered."""
    it, ev = t.items, t.events
    query = select(it.c.id, it.c.key, it.c.data).where(it.c.project_id == project.id)
    if unanswered_by is not None:
        answered = select(ev.c.item_id).where(
            ev.c.project_id == project.id,
            ev.c.labeler_id == unanswered_by,
            ev.c.type == "answer",
        )
        query = query.where(it.c.id.not_in(answered))
    return [
        ItemContent(int(r.id), r.key, json.loads(r.data))
        for r in conn.execute(query.order_by(it.c.id))
    ]
