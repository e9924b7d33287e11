"""The RFC 6962 tree over each project's event log, kept as events are appended, and the
projects' public checkpoint keys.

The tree (core.merkle) is stored as its frontier (one row per project: the roots of the
perfect subtrees so far) plus the roots of complete subtrees of :data:`NODE_LEVEL` and above
(2**8 = 256 events and more) for proofs; smaller subtrees are rehashed from the events' hashes
(at most 255 of them). Appending n events costs about 2n SHA-256 and n/128 node rows; a
release reads the frontier and never rehashes history.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from labelloop.core.merkle import Frontier, Subtree, event_leaf, root_of
from labelloop.errors import NotFound
from labelloop.store import tables as t
from labelloop.store.repo import Project, bulk_insert, now_iso

NODE_LEVEL = 8
"""Lowest level of the stored subtree roots (256 events)."""


def _frontier_row(conn: Connection, project_id: int) -> Frontier | None:
    row = conn.execute(
        select(t.merkle_frontiers.c.size, t.merkle_frontiers.c.hashes).where(
            t.merkle_frontiers.c.project_id == project_id
        )
    ).first()
    if row is None:
        return None
    text = row.hashes
    hashes = tuple(bytes.fromhex(text[i : i + 64]) for i in range(0, len(text), 64))
    return Frontier(int(row.size), hashes)


def event_hashes(conn: Connection, project_id: int, first: int, last: int) -> Iterator[str]:
    """Stored hashes of the events with ``first <= seq <= last``, in seq order."""
    ev = t.events
    after = first - 1
    while after < last:
        rows = conn.execute(
            select(ev.c.seq, ev.c.hash)
            .where(ev.c.project_id == project_id, ev.c.seq > after, ev.c.seq <= last)
            .order_by(ev.c.seq)
            .limit(50_000)
        ).all()
        if not rows:
            return
        for _, digest in rows:
            yield digest
        after = int(rows[-1].seq)


def extend_tree(
    conn: Connection, project_id: int, size_before: int, new_hashes: Sequence[str]
) -> Frontier:
    """Add events ``size_before + 1 ...`` (their hashes, in order) to the project's tree.

    A project whose tree lags behind its events (one that had events before the tree
    existed) first catches up from the stored events, once.
    """
    frontier = _frontier_row(conn, project_id)
    stored = frontier is not None
    frontier = frontier or Frontier()
    nodes: list[tuple[int, int, bytes]] = []
    if frontier.size < size_before:
        frontier, done = frontier.extend(
            (event_leaf(h) for h in event_hashes(conn, project_id, frontier.size + 1, size_before)),
            keep_level=NODE_LEVEL,
        )
        nodes.extend(done)
    frontier, done = frontier.extend(map(event_leaf, new_hashes), keep_level=NODE_LEVEL)
    nodes.extend(done)
    if nodes:
        bulk_insert(
            conn,
            "merkle_nodes",
            ("project_id", "level", "idx", "hash"),
            [(project_id, level, idx, h.hex()) for level, idx, h in nodes],
        )
    values = {"size": frontier.size, "hashes": "".join(h.hex() for h in frontier.hashes)}
    if stored:
        conn.execute(
            update(t.merkle_frontiers)
            .where(t.merkle_frontiers.c.project_id == project_id)
            .values(**values)
        )
    else:
        conn.execute(insert(t.merkle_frontiers).values(project_id=project_id, **values))
    return frontier


def tree_size(conn: Connection, project_id: int) -> int:
    """Events in the project's stored tree (0 before it has one)."""
    size = conn.execute(
        select(t.merkle_frontiers.c.size).where(t.merkle_frontiers.c.project_id == project_id)
    ).scalar()
    return 0 if size is None else int(size)


def current_tree(conn: Connection, project: Project) -> Frontier:
    """The project's tree over all its events (caught up first if it lags)."""
    frontier = _frontier_row(conn, project.id)
    if frontier is not None and frontier.size == project.event_seq:
        return frontier
    return extend_tree(conn, project.id, project.event_seq, [])


def stored_subtree(conn: Connection, project: Project) -> Subtree:
    """``subtree(level, index)`` of the project's tree: a stored node from level
    :data:`NODE_LEVEL` up, else rehashed from the events' stored hashes."""
    mn = t.merkle_nodes

    def subtree(level: int, index: int) -> bytes:
        if level >= NODE_LEVEL:
            found = conn.execute(
                select(mn.c.hash).where(
                    mn.c.project_id == project.id, mn.c.level == level, mn.c.idx == index
                )
            ).scalar()
            if found is not None:
                return bytes.fromhex(found)
        first = (index << level) + 1
        leaves = [
            event_leaf(h) for h in event_hashes(conn, project.id, first, first + (1 << level) - 1)
        ]
        return root_of(leaves)

    return subtree


def forget_tree(conn: Connection, project_id: int) -> None:
    """Drop the project's stored tree (it is rebuilt from the events on the next use)."""
    conn.execute(delete(t.merkle_nodes).where(t.merkle_nodes.c.project_id == project_id))
    conn.execute(delete(t.merkle_frontiers).where(t.merkle_frontiers.c.project_id == project_id))


# ---------------------------------------------------------------- keys


@dataclass(frozen=True)
class ProjectKey:
    key_id: str
    public_key: bytes
    created_at: str


def add_project_key(conn: Connection, project: Project, key_id: str, public_key: bytes) -> None:
    conn.execute(
        insert(t.project_keys).values(
            project_id=project.id,
            key_id=key_id,
            public_key=public_key.hex(),
            created_at=now_iso(),
        )
    )


def project_keys(conn: Connection, project: Project) -> list[ProjectKey]:
    """The project's public keys, oldest first (the last is current)."""
    pk = t.project_keys
    rows = conn.execute(
        select(pk.c.key_id, pk.c.public_key, pk.c.created_at)
        .where(pk.c.project_id == project.id)
        .order_by(pk.c.id)
    )
    return [ProjectKey(r.key_id, bytes.fromhex(r.public_key), r.created_at) for r in rows]


def current_key(conn: Connection, project: Project) -> ProjectKey:
    keys = project_keys(conn, project)
    if not keys:
        raise NotFound(
            f"project {project.name!r} has no checkpoint key; create one with `labelloop key init`"
        )
    return keys[-1]
