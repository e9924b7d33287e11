"""Item identity: the one content hash, item keys, declared content, and stub items.

Every place that creates or matches items (item imports, telemetry, answers and gold for
unknown ids, worked examples of a schema) uses these functions, so the same content always
gets the same hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from labelloop.core.provenance import canonical_json, content_hash

__all__ = [
    "KEY_PREFIX",
    "STUB_DATA",
    "is_stub",
    "item_content_hash",
    "item_key",
    "split_declared",
    "stub_content_hash",
]

KEY_PREFIX = "sha256:"
"""Key of an item without an external id: this prefix and its content hash."""

STUB_DATA = "{}"
"""Stored ``data`` of a stub item (an id known only from answers or gold, no content yet)."""

_sha256 = hashlib.sha256


def item_content_hash(
    data: Mapping[str, Any], media: str | None = None, *, data_json: str | None = None
) -> str:
    """The content hash of an item: hex SHA-256 of ``{"data": data, "media": media}``.

    What it covers, exactly: the canonical JSON (sorted keys, no whitespace, UTF-8, no
    NaN/Infinity) of the object ``{"data": <content>, "media": <media reference or null>}``,
    where the content is the item's *declared* fields when the project's schema declares
    ``inputs`` (see :func:`split_declared`), else every field of the item. Not covered: the
    external id, the item's ``metadata`` (undeclared fields are kept there), the source file,
    times, and labels. Two items with equal content and media have one hash, whatever their
    key order or which file they came from. Hashes stored before a schema declared its
    inputs stay as stored (they covered every field).

    ``data_json`` is ``canonical_json(data)`` when the caller already has it (saves encoding).

    Examples
    --------
    >>> item_content_hash({"text": "hi"}) == item_content_hash({"text": "hi"}, None)
    True
    >>> item_content_hash({"text": "hi"}) != item_content_hash({"text": "hi"}, "a.png")
    True
    """
    encoded = canonical_json(data) if data_json is None else data_json
    media_json = "null" if media is None else canonical_json(media)
    # "data" sorts before "media": this is canonical_json({"data": ..., "media": ...})
    return _sha256(('{"data":' + encoded + ',"media":' + media_json + "}").encode()).hexdigest()


def item_key(external_id: str | None, digest: str) -> str:
    """An item's key: its external id, else ``sha256:<content hash>``."""
    return external_id if external_id is not None else KEY_PREFIX + digest


def split_declared(
    data: Mapping[str, Any], declared: Collection[str] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(content, undeclared)``: the declared fields of ``data`` and the rest.

    With ``declared`` None (the schema declares no ``inputs``, or there is no schema yet)
    every field is content.

    Examples
    --------
    >>> split_declared({"text": "hi", "label": "spam"}, {"text"})
    ({'text': 'hi'}, {'label': 'spam'})
    >>> split_declared({"text": "hi"}, None)
    ({'text': 'hi'}, {})
    """
    if declared is None:
        return dict(data), {}
    content: dict[str, Any] = {}
    undeclared: dict[str, Any] = {}
    for name, value in data.items():
        (content if name in declared else undeclared)[name] = value
    return content, undeclared


def stub_content_hash(key: str) -> str:
    """Content hash of a stub item (never equal to the hash of real content)."""
    return content_hash({"stub": key})


def is_stub(key: str, digest: str) -> bool:
    """Whether the item with this key and stored content hash is a stub (no content yet)."""
    return digest == stub_content_hash(key)
