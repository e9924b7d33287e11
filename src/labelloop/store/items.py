"""Item rows as the items table stores them, built from core item identity."""

from __future__ import annotations

from typing import Any

from labelloop.core.identity import item_content_hash, item_key, split_declared
from labelloop.core.provenance import canonical_json

__all__ = ["item_row_for"]


def item_row_for(
    data: dict[str, Any],
    *,
    source: str,
    media: str | None = None,
    declared: frozenset[str] | None = None,
) -> dict[str, Any]:
    """Item row for content without an external id (keyed by its content hash); fields
    outside ``declared`` (the schema's inputs, when it declares any) go to its metadata."""
    content, undeclared = split_declared(data, declared)
    digest = item_content_hash(content, media)
    return {
        "key": item_key(None, digest),
        "external_id": None,
        "content_hash": digest,
        "data": canonical_json(content),
        "meta": canonical_json({"undeclared": undeclared}) if undeclared else "{}",
        "media": media,
        "source": source,
    }
