"""Canonical JSON, event types, event hashes and hash-chain verification.

Every event carries ``prev_hash`` (the hash of the project's previous event, or
:data:`GENESIS` for the first) and ``hash`` = SHA-256 over the canonical JSON of the event's
hashed fields plus ``prev_hash``. Changing any stored field of any event breaks the chain
at that event, which :func:`find_chain_break` names.

Hash formats. Format 1 (the first events ever written) hashed the stored columns, database
ids included, and names no format. Format 2 (:data:`HASH_FORMAT`) hashes a portable form
(:data:`PORTABLE_FIELDS`): stable keys instead of ids (project name, item key, labeler
kind/name/version, schema name/version, the corrected event's hash) and
``hash_format`` itself, so a chain verifies outside the database that wrote it
(:func:`find_line_break` over exported lines). Both formats verify; a chain may hold format-1
events followed by format-2 events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

GENESIS = "0" * 64
"""``prev_hash`` of a project's first event."""

HASH_FORMAT = 2
"""Hash format of new events (see the module notes)."""

PORTABLE_FIELDS = (
    "hash_format",
    "project",
    "seq",
    "type",
    "item",
    "labeler",
    "label",
    "schema",
    "created_at",
    "time_spent_ms",
    "suggestion",
    "calibration_score",
    "source",
    "idempotency_key",
    "corrects",
    "payload",
)
"""The hashed fields of a format-2 event. ``item`` is the item key (None for a project-level
event), ``labeler`` ``{"kind", "name", "version"}`` or None, ``schema`` ``{"name",
"version"}`` or None (a ``schema_applied`` event's payload names the content hash),
``corrects`` the hash of the corrected event or None;
``label``, ``suggestion`` and ``payload`` are JSON values (not their encoded text)."""


@dataclass(frozen=True)
class EventType:
    """What an event of one type must carry.

    ``item``: True when the event is about one item (an item is required), False for a
    project-level event (the item must be empty). ``label``: ``"required"`` (not None),
    ``"optional"`` or ``"none"`` (must be None).
    """

    name: str
    item: bool
    label: Literal["required", "optional", "none"]

    def problem(self, *, has_item: bool, has_label: bool) -> str | None:
        """Why an event with/without an item and label is not of this type, or None."""
        if self.item and not has_item:
            return f"a {self.name!r} event is about one item; expected an item, saw none"
        if not self.item and has_item:
            return f"a {self.name!r} event is a project-level event; expected no item, saw one"
        if self.label == "required" and not has_label:
            return f"a {self.name!r} event needs a label; saw none"
        if self.label == "none" and has_label:
            return f"a {self.name!r} event carries no label; saw one"
        return None


EVENT_TYPES: dict[str, EventType] = {
    e.name: e
    for e in (
        # about one item
        EventType("answer", item=True, label="required"),
        EventType("correction", item=True, label="required"),
        EventType("gold", item=True, label="required"),
        EventType("adjudication", item=True, label="optional"),  # None: no consensus
        # project-level (details in the payload)
        EventType("schema_applied", item=False, label="none"),
        EventType("labeler_status", item=False, label="none"),
        EventType("alert", item=False, label="none"),
        EventType("flag", item=False, label="none"),
        EventType("role", item=False, label="none"),
        EventType("release", item=False, label="none"),
    )
}
"""Every event type, the one place that says which need an item and a label."""


def check_event_type(name: str, *, has_item: bool, has_label: bool) -> str | None:
    """Why an event of type ``name`` with/without an item and label is invalid, or None.

    Examples
    --------
    >>> check_event_type("answer", has_item=True, has_label=True) is None
    True
    >>> check_event_type("schema_applied", has_item=True, has_label=False)
    "a 'schema_applied' event is a project-level event; expected no item, saw one"
    """
    spec = EVENT_TYPES.get(name)
    if spec is None:
        return f"event type {name!r} is unknown; expected one of {sorted(EVENT_TYPES)}"
    return spec.problem(has_item=has_item, has_label=has_label)


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _reject(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _build_c_encoder() -> Callable[[Any, int], list[str]] | None:
    """CPython's C encoder with canonical settings, built once.

    ``json.dumps`` (and ``JSONEncoder.encode``) build a new encoder on every call, which for
    small values costs more than the encoding itself; this is the hashing hot path of
    imports and event chains. The result is checked byte-for-byte against the documented
    encoder at import, and ``None`` (fall back) when unavailable or different.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - other Python implementations
        return None
    try:
        encoder: Callable[[Any, int], list[str]] = make(
            None,  # no cycle check: canonical values are trees (a cycle ends in RecursionError)
            _reject,
            json.encoder.encode_basestring,  # ensure_ascii=False
            None,
            ":",
            ",",
            True,  # sort_keys
            False,  # skipkeys
            False,  # allow_nan
        )
        probe = {"b": [1.5, "é", None, True, 10**20, "\u2028"], "a": {"z": '\n"\x00', "y": -0.0}}
        if "".join(encoder(probe, 0)) == _ENCODER.encode(probe):
            return encoder
    except Exception:  # pragma: no cover - a changed private signature
        pass
    return None  # pragma: no cover


_C_ENCODER = _build_c_encoder()


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 text, no NaN/Infinity.

    Examples
    --------
    >>> canonical_json({"b": 1, "a": [1.5, "é"]})
    '{"a":[1.5,"é"],"b":1}'
    """
    if _C_ENCODER is None or isinstance(value, str):  # pragma: no cover - fallback
        return _ENCODER.encode(value)
    return "".join(_C_ENCODER(value, 0))


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(value: Any) -> str:
    """Hex SHA-256 of the canonical JSON of ``value``."""
    return sha256_hex(canonical_json(value))


def event_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    """Hash of one event: canonical JSON of its hashed fields with ``prev_hash`` included.

    Examples
    --------
    >>> h1 = event_hash({"label": "spam"}, GENESIS)
    >>> h2 = event_hash({"label": "spam"}, h1)
    >>> len(h1), h1 != h2
    (64, True)
    """
    payload = dict(fields)
    payload["prev_hash"] = prev_hash
    return content_hash(payload)


@dataclass(frozen=True)
class ChainBreak:
    """Where a hash chain first fails: the event's position/id and what was wrong."""

    position: int
    event_id: int | str
    reason: str


def find_chain_break(
    events: Iterable[tuple[int | str, Mapping[str, Any], str, str]],
) -> ChainBreak | None:
    """First broken link of a chain, or ``None`` when the whole chain verifies.

    Parameters
    ----------
    events : iterable of (event_id, hashed_fields, stored_prev_hash, stored_hash)
        In chain order. Streaming: memory does not grow with the number of events.

    Examples
    --------
    >>> h = event_hash({"x": 1}, GENESIS)
    >>> find_chain_break([(1, {"x": 1}, GENESIS, h)]) is None
    True
    >>> find_chain_break([(1, {"x": 2}, GENESIS, h)]).reason
    'stored hash does not match its content (the event was altered)'
    """
    expected_prev = GENESIS
    for position, (event_id, fields, prev_hash, stored_hash) in enumerate(events):
        if prev_hash != expected_prev:
            return ChainBreak(
                position,
                event_id,
                "prev_hash does not match the previous event's hash "
                "(an event was removed, inserted or reordered)",
            )
        if event_hash(fields, prev_hash) != stored_hash:
            return ChainBreak(
                position, event_id, "stored hash does not match its content (the event was altered)"
            )
        expected_prev = stored_hash
    return None


LineBreakReason = Literal["altered", "prev_hash", "missing", "reordered", "truncated", "format"]


@dataclass(frozen=True)
class LineBreak:
    """Where an exported chain first fails: the 1-based line, the kind of failure
    (``reason``: altered, prev_hash, missing, reordered, truncated or format) and a
    sentence saying why."""

    line: int
    reason: LineBreakReason
    message: str


def hashed_part(line: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an exported event line's ``hash`` covers (``prev_hash`` included).

    A format-2 line is its hashed fields plus ``prev_hash`` and ``hash``; a format-1 line
    also names ``hash_format`` (1), which format 1 did not hash.
    """
    fields = {k: v for k, v in line.items() if k != "hash"}
    if fields.get("hash_format") == 1:
        del fields["hash_format"]
    return fields


def find_line_break(
    lines: Iterable[tuple[int, Mapping[str, Any] | None]],
    *,
    expected_events: int | None = None,
    expected_head: str | None = None,
    unit: str = "line",
) -> LineBreak | None:
    """First broken line of an exported chain, or ``None`` when it all verifies.

    Parameters
    ----------
    lines : iterable of (line_number, event or None)
        Event lines in file order; None for a line that is not a JSON object (a damaged
        line). Streaming: memory does not grow with the number of lines.
    expected_events, expected_head : optional
        What the file's header records: a chain that verifies but ends early is
        ``truncated``.
    unit : str
        The word messages name a position with ("line"; "event" for stored events numbered
        by seq).

    Notes
    -----
    When a line's ``prev_hash`` does not match, the rest of the file is read to tell why:
    the expected event further down means ``reordered``, a later ``seq`` without it means
    ``missing``.

    Examples
    --------
    >>> e1 = {"hash_format": 2, "seq": 1, "x": 1, "prev_hash": GENESIS}
    >>> e1["hash"] = content_hash(e1)
    >>> e2 = {"hash_format": 2, "seq": 2, "x": 2, "prev_hash": e1["hash"]}
    >>> e2["hash"] = content_hash(e2)
    >>> find_line_break([(2, e1), (3, e2)]) is None
    True
    >>> find_line_break([(2, e2), (3, e1)]).reason
    'reordered'
    >>> find_line_break([(2, e2)]).reason
    'missing'
    >>> find_line_break([(2, e1), (3, {**e2, "x": 3})]).reason
    'altered'
    """
    expected_prev = GENESIS
    expected_seq = 1
    count = 0
    last_line = 0
    stream = iter(lines)
    for number, event in stream:
        last_line = number
        if event is None or not isinstance(event.get("hash"), str):
            return LineBreak(
                number, "format", f"{unit} {number}: not an event line (the line was altered)"
            )
        if event.get("prev_hash") != expected_prev:
            return _prev_hash_break(number, event, expected_seq, expected_prev, stream, unit)
        if content_hash(hashed_part(event)) != event["hash"]:
            return LineBreak(
                number,
                "altered",
                f"{unit} {number}: hash does not match its content (the event was altered)",
            )
        expected_prev = event["hash"]
        seq = event.get("seq")
        expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
        count += 1
    if (expected_events is not None and count != expected_events) or (
        expected_head is not None and count and expected_prev != expected_head
    ):
        return LineBreak(
            last_line + 1,
            "truncated",
            f"{unit} {last_line + 1}: the file ends after {count} events but its header records "
            f"{expected_events} ending in {str(expected_head)[:12]} (events at the end were "
            "removed)",
        )
    return None


def _prev_hash_break(
    number: int,
    event: Mapping[str, Any],
    expected_seq: int,
    expected_prev: str,
    rest: Iterator[tuple[int, Mapping[str, Any] | None]],
    unit: str = "line",
) -> LineBreak:
    """Why ``event`` does not follow the previous line: reordered, missing or altered."""
    head = f"{unit} {number}: prev_hash does not match the previous event's hash"
    seq = event.get("seq")
    for later, other in rest:
        if other is not None and (
            other.get("seq") == expected_seq or other.get("prev_hash") == expected_prev
        ):
            return LineBreak(
                number,
                "reordered",
                f"{head}; event {expected_seq} is at {unit} {later} (events were reordered)",
            )
    if isinstance(seq, int) and seq > expected_seq:
        gap = (
            f"event {expected_seq} is"
            if seq == expected_seq + 1
            else f"events {expected_seq}..{seq - 1} are"
        )
        return LineBreak(number, "missing", f"{head}; {gap} missing (removed)")
    return LineBreak(number, "prev_hash", f"{head} (prev_hash was altered)")
