"""Event types, hash formats and the verification of exported chains (pure core)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labelloop.core.provenance import (
    EVENT_TYPES,
    GENESIS,
    check_event_type,
    content_hash,
    event_hash,
    find_chain_break,
    find_line_break,
    hashed_part,
)


def chain(n: int, hash_format: int = 2) -> list[dict]:
    """n exported event lines: hashed fields + prev_hash + hash (+ hash_format for v1)."""
    out, prev = [], GENESIS
    for seq in range(1, n + 1):
        fields = {"seq": seq, "type": "answer", "label": f'"l{seq % 3}"', "item": f"t{seq}"}
        if hash_format == 2:
            fields["hash_format"] = 2
        digest = event_hash(fields, prev)
        out.append({**fields, "hash_format": hash_format, "prev_hash": prev, "hash": digest})
        prev = digest
    return out


def numbered(lines):
    return [(i + 2, line) for i, line in enumerate(lines)]  # line 1 is the file's header


def test_event_types_say_which_need_an_item_and_a_label():
    assert EVENT_TYPES["answer"].item and EVENT_TYPES["answer"].label == "required"
    assert EVENT_TYPES["adjudication"].label == "optional"
    assert not EVENT_TYPES["schema_applied"].item
    for name in ("labeler_status", "alert", "flag", "role", "release", "schema_applied"):
        assert check_event_type(name, has_item=False, has_label=False) is None
        assert "project-level" in check_event_type(name, has_item=True, has_label=False)
        assert "carries no label" in check_event_type(name, has_item=False, has_label=True)
    assert "expected an item" in check_event_type("gold", has_item=False, has_label=True)
    assert "needs a label" in check_event_type("answer", has_item=True, has_label=False)
    assert check_event_type("adjudication", has_item=True, has_label=False) is None
    assert "unknown" in check_event_type("anwser", has_item=True, has_label=True)


def test_a_whole_exported_chain_verifies_v1_v2_and_mixed():
    v1, v2 = chain(3, 1), chain(3, 2)
    assert find_line_break(numbered(v1), expected_events=3, expected_head=v1[-1]["hash"]) is None
    assert find_line_break(numbered(v2)) is None
    # format 1 did not hash hash_format: the line names it, the hash does not cover it
    assert "hash_format" not in hashed_part(v1[0]) and "hash_format" in hashed_part(v2[0])
    # a format-1 prefix followed by format-2 events
    mixed, prev = list(v1), v1[-1]["hash"]
    for seq in (4, 5):
        fields = {"hash_format": 2, "seq": seq, "type": "gold"}
        digest = event_hash(fields, prev)
        mixed.append({**fields, "prev_hash": prev, "hash": digest})
        prev = digest
    assert find_line_break(numbered(mixed), expected_events=5, expected_head=prev) is None


def test_each_kind_of_damage_is_named_at_its_line():
    lines = chain(6)
    altered = [dict(x) for x in lines]
    altered[2]["label"] = '"l9"'
    found = find_line_break(numbered(altered))
    assert (found.line, found.reason) == (4, "altered")

    removed = lines[:2] + lines[3:]
    found = find_line_break(numbered(removed))
    assert (found.line, found.reason) == (4, "missing")
    assert "event 3 is missing" in found.message

    gap = lines[:1] + lines[4:]
    assert "events 2..4 are missing" in find_line_break(numbered(gap)).message

    swapped = [lines[0], lines[2], lines[1], *lines[3:]]
    found = find_line_break(numbered(swapped))
    assert (found.line, found.reason) == (3, "reordered")
    assert "event 2 is at line 4" in found.message

    prev_edit = [dict(x) for x in lines]
    prev_edit[3]["prev_hash"] = "f" * 64
    assert find_line_break(numbered(prev_edit)).reason == "prev_hash"

    damaged = numbered(lines)
    damaged[1] = (3, None)
    assert find_line_break(damaged).reason == "format"

    found = find_line_break(numbered(lines[:5]), expected_events=6, expected_head=lines[-1]["hash"])
    assert (found.line, found.reason) == (7, "truncated")


@given(st.integers(1, 12), st.data())
def test_any_single_field_change_is_caught_at_that_line(n, data):
    lines = chain(n)
    k = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from(["seq", "type", "label", "item", "hash_format"]))
    changed = [dict(x) for x in lines]
    changed[k][field] = "x" if field != "seq" else changed[k]["seq"] + 100
    found = find_line_break(numbered(changed))
    assert found is not None and found.line == k + 2


def test_format_1_hashes_are_unchanged_by_format_2():
    # format 1: the stored columns (ids) plus prev_hash, no format name: same digest as before
    fields = {"project_id": 1, "seq": 1, "type": "answer", "item_id": 7, "label": '"a"'}
    assert event_hash(fields, GENESIS) == content_hash({**fields, "prev_hash": GENESIS})
    digest = event_hash(fields, GENESIS)
    assert find_chain_break([(1, fields, GENESIS, digest)]) is None


@pytest.mark.parametrize("hash_format", [1, 2])
def test_a_verified_line_is_its_hashed_part_plus_hash(hash_format):
    line = chain(1, hash_format)[0]
    assert content_hash(hashed_part(line)) == line["hash"]
