"""The one item identity: what the content hash covers, keys and stubs."""

from __future__ import annotations

from labelloop.core.identity import (
    KEY_PREFIX,
    is_stub,
    item_content_hash,
    item_key,
    split_declared,
    stub_content_hash,
)
from labelloop.core.provenance import canonical_json, content_hash


def test_the_hash_is_over_data_and_media_only() -> None:
    data = {"text": "héllo", "n": [1, 2.5, None]}
    assert item_content_hash(data) == content_hash({"data": data, "media": None})
    assert item_content_hash(data, "s3://b/x.png") == content_hash(
        {"data": data, "media": "s3://b/x.png"}
    )
    assert item_content_hash(data, data_json=canonical_json(data)) == item_content_hash(data)
    assert item_content_hash({"n": [1, 2.5, None], "text": "héllo"}) == item_content_hash(data)


def test_declared_fields_are_the_content_and_the_rest_is_kept_apart() -> None:
    content, rest = split_declared({"text": "hi", "label": "spam", "id2": 3}, {"text", "url"})
    assert (content, rest) == ({"text": "hi"}, {"label": "spam", "id2": 3})
    assert item_content_hash(content) == item_content_hash({"text": "hi"})
    assert split_declared({"text": "hi", "label": "spam"}, None) == (
        {"text": "hi", "label": "spam"},
        {},
    )


def test_keys_and_stubs() -> None:
    digest = item_content_hash({"text": "hi"})
    assert item_key(None, digest) == KEY_PREFIX + digest and item_key("m1", digest) == "m1"
    assert is_stub("t1", stub_content_hash("t1"))
    assert not is_stub("t1", stub_content_hash("t2")) and not is_stub("t1", digest)
    assert stub_content_hash("t1") != item_content_hash({})
