"""Items: new items as records built from core item identity, their bulk writes, stubs (ids
known before their content), and the items with content that sampling draws from."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection, func, select, update

from labelloop.core.identity import (
    KEY_PREFIX,
    STUB_DATA,
    is_stub,
    item_content_hash,
    item_key,
    split_declared,
    stub_content_hash,
)
from labelloop.core.provenance import canonical_json
from labelloop.store import tables as t
from labelloop.store.repo import Project, bulk_insert, find_item_ids, now_iso

__all__ = [
    "ContentItems",
    "NewItem",
    "content_items",
    "ensure_items",
    "fill_stub_items",
    "insert_items",
    "insert_items_returning_ids",
    "item_row_for",
    "stub_item",
]


class NewItem(NamedTuple):
    """An item to store. ``data`` is its content (what ``content_hash`` covers), ``meta`` its
    metadata; ``data_json`` is ``canonical_json(data)`` when the caller already has it."""

    key: str
    external_id: str | None
    content_hash: str
    data: dict[str, Any]
    meta: dict[str, Any]
    media: str | None
    source: str | None
    data_json: str | None = None


ITEM_COLUMNS = ("key", "external_id", "content_hash", "data", "meta", "media", "source")


def _stored(item: NewItem) -> tuple[Any, ...]:
    data = item.data_json if item.data_json is not None else canonical_json(item.data)
    meta = canonical_json(item.meta) if item.meta else "{}"
    return (item.key, item.external_id, item.content_hash, data, meta, item.media, item.source)


def item_row_for(
    data: dict[str, Any],
    *,
    source: str,
    media: str | None = None,
    declared: frozenset[str] | None = None,
) -> NewItem:
    """The item for content without an external id (keyed by its content hash); fields
    outside ``declared`` (the schema's inputs, when it declares any) go to its metadata."""
    content, undeclared = split_declared(data, declared)
    digest = item_content_hash(content, media)
    meta = {"undeclared": undeclared} if undeclared else {}
    return NewItem(item_key(None, digest), None, digest, content, meta, media, source)


def stub_item(key: str, source: str) -> NewItem:
    """An id-only item (known from answers, gold or an events file before its content);
    :func:`labelloop.core.identity.is_stub` tells it apart, and an item import fills it."""
    external_id = None if key.startswith(KEY_PREFIX) else key
    return NewItem(key, external_id, stub_content_hash(key), {}, {}, None, source, STUB_DATA)


def insert_items(conn: Connection, project: Project, items: Sequence[NewItem]) -> None:
    """Insert items (keys not stored yet) in one bulk write (PostgreSQL: COPY)."""
    if not items:
        return
    pid, stamp = project.id, now_iso()
    params = [  # unpacked, not per-item calls: a million items feel every microsecond
        (
            key,
            external_id,
            digest,
            canonical_json(data) if data_json is None else data_json,
            canonical_json(meta) if meta else "{}",
            media,
            source,
            pid,
            stamp,
        )
        for key, external_id, digest, data, meta, media, source, data_json in items
    ]
    bulk_insert(conn, "items", (*ITEM_COLUMNS, "project_id", "created_at"), params)


def insert_items_returning_ids(
    conn: Connection, project: Project, items: Sequence[NewItem]
) -> dict[str, int]:
    """Insert items (keys not stored yet) and return their ids by key.

    SQLite: a range scan above the previous maximum id (writers are serialized). PostgreSQL:
    the keys are looked up (COPY returns no ids, and a range scan plans by statistics that
    a bulk load makes stale).
    """
    if not items:
        return {}
    if conn.dialect.name == "postgresql":
        insert_items(conn, project, items)
        return find_item_ids(conn, project, [item.key for item in items])
    it = t.items
    before = conn.execute(select(func.max(it.c.id))).scalar() or 0
    insert_items(conn, project, items)
    created = conn.execute(
        select(it.c.key, it.c.id).where(it.c.id > before, it.c.project_id == project.id)
    )
    return {key: int(item_id) for key, item_id in created}


def fill_stub_items(conn: Connection, project: Project, items: Sequence[NewItem]) -> None:
    """Give content to stub items (matched by key)."""
    it = t.items
    for item in items:
        _, _, digest, data, meta, media, source = _stored(item)
        conn.execute(
            update(it)
            .where(it.c.project_id == project.id, it.c.key == item.key)
            .values(content_hash=digest, data=data, meta=meta, media=media, source=source)
        )


def ensure_items(
    conn: Connection, project: Project, keys: Sequence[str], source: str
) -> tuple[dict[str, int], int]:
    """Ids of the items with these keys, creating a stub for each key not stored yet;
    and how many stubs were created."""
    ids = find_item_ids(conn, project, keys)
    missing = sorted({k for k in keys if k not in ids})
    if missing:
        insert_items(conn, project, [stub_item(k, source) for k in missing])
        ids.update(find_item_ids(conn, project, missing))
    return ids, len(missing)


@dataclass(frozen=True)
class ContentItems:
    """The project's items with content (stubs left out), in import order."""

    ids: np.ndarray
    """(n,) int64 item ids."""
    keys: list[str]
    data: list[dict[str, Any]] | None
    """Each item's content, when asked for."""


def content_items(conn: Connection, project: Project, *, with_data: bool = False) -> ContentItems:
    """The items with content, in import order (stubs, by
    :func:`labelloop.core.identity.is_stub`, left out)."""
    it = t.items
    empty = (it.c.data == STUB_DATA).label("empty")
    columns = [it.c.id, it.c.key, it.c.content_hash, empty]
    if with_data:
        columns.append(it.c.data)
    rows = conn.execute(
        select(*columns).where(it.c.project_id == project.id).order_by(it.c.id)
    ).all()
    kept = [r for r in rows if not (r.empty and is_stub(r.key, r.content_hash))]
    return ContentItems(
        ids=np.fromiter((r.id for r in kept), dtype=np.int64, count=len(kept)),
        keys=[r.key for r in kept],
        data=[json.loads(r.data) for r in kept] if with_data else None,
    )
