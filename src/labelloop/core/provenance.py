"""Canonical JSON, event hashes and hash-chain verification.

Every answer event carries ``prev_hash`` (the hash of the project's previous event, or
:data:`GENESIS` for the first) and ``hash`` = SHA-256 over the canonical JSON of the event's
hashed fields plus ``prev_hash``. Changing any stored field of any event breaks the chain
at that event, which :func:`find_chain_break` names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
"""``prev_hash`` of a project's first event."""


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
