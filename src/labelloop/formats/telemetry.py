"""Production model telemetry: one prediction record per JSON line, validated and normalized.

A record::

    {"input": {"text": "..."} | "text", "prediction": "spam",
     "probabilities": {"ham": 0.03, "spam": 0.97} | "confidence": 0.97,
     "model": "spam-clf", "model_version": "v3", "timestamp": "2026-11-20T10:00:00Z",
     "request_id": "r-123"}

``input`` is the item's content (a string means ``{"text": string}``); its content hash is
the item importer's (:func:`~labelloop.core.identity.item_content_hash`, over the schema's
declared fields when it declares ``inputs``: the import service narrows it), so telemetry
attaches to items imported before (by id or content) and later item imports deduplicate
against it.
``probabilities`` (label -> probability, each in [0, 1], summing to 1 within 0.01) or
``confidence`` (in [0, 1]) is required; with both, ``confidence`` must equal the predicted
label's probability. ``timestamp`` is ISO-8601 (no zone means UTC). ``request_id`` (string or
integer) is optional. Other top-level fields are rejected (a misspelt ``probabilites`` would
otherwise silently lose the probabilities). Label names are checked against the schema by
the import service, which knows it.

:func:`iter_telemetry` streams :class:`TelemetryRecord` / :class:`~labelloop.formats.rows.RejectedRow`
in file order with flat memory; :func:`check_record` validates one already-parsed object (the
service entry point the server uses).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

from labelloop.core.identity import item_content_hash
from labelloop.core.provenance import canonical_json
from labelloop.errors import InvalidInput
from labelloop.formats.rows import RejectedRow, utf8_error

__all__ = [
    "TelemetryRecord",
    "check_record",
    "iter_telemetry",
    "iter_telemetry_batches",
    "iter_telemetry_batches_parallel",
    "validate_record",
]

FIELDS = (
    "input",
    "prediction",
    "probabilities",
    "confidence",
    "model",
    "model_version",
    "timestamp",
    "request_id",
)
_KNOWN = frozenset(FIELDS)
SUM_TOLERANCE = 0.01
"""Probabilities must sum to 1 within this (rounded outputs of real models)."""


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~3 us per record
class TelemetryRecord:
    """One valid prediction record."""

    line: int
    data: dict[str, Any]
    """The item's content."""
    data_json: str
    """Canonical JSON of ``data`` (the stored form)."""
    content_hash: str
    prediction: str
    confidence: float
    probabilities: dict[str, float] | None
    model: str
    model_version: str
    timestamp: str
    """UTC, fixed-width ISO-8601 with microseconds (the store's form)."""
    request_id: str | None


Row: TypeAlias = TelemetryRecord | RejectedRow


class _Bad(Exception):
    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        self.message = message


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else "a string"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _name(obj: Mapping[str, Any], field: str, limit: int) -> str:
    value = obj.get(field)
    if type(value) is str and value.strip():
        if len(value) > limit:
            raise _Bad(field, f"saw {len(value)} characters; expected at most {limit}")
        return value
    if type(value) is int and field != "model":
        return str(value)
    seen = "no value" if field not in obj else _kind(value)
    raise _Bad(field, f"saw {seen}; expected a non-empty string")


def _probability(value: Any, field: str) -> float:
    if type(value) is float or type(value) is int:
        p = float(value)
        if 0.0 <= p <= 1.0:  # NaN fails both comparisons
            return p
        raise _Bad(field, f"saw {value!r}; expected a probability in [0, 1]")
    raise _Bad(field, f"saw {_kind(value)}; expected a probability in [0, 1]")


def _timestamp(value: Any) -> str:
    if type(value) is not str or not value.strip():
        raise _Bad("timestamp", f"saw {_kind(value)}; expected an ISO-8601 timestamp")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise _Bad(
            "timestamp",
            f"saw {value[:60]!r}; expected an ISO-8601 timestamp like 2026-11-20T10:00:00Z",
        ) from None
    if when.tzinfo is not None and when.utcoffset():
        when = when.astimezone(UTC)
    # isoformat is C and locale-free (strftime costs ~3x more): "YYYY-MM-DDTHH:MM:SS.ffffff"
    return when.isoformat(timespec="microseconds")[:26] + "Z"


def check_record(obj: Any, line: int) -> TelemetryRecord:
    """Validate one parsed record; :class:`InvalidInput` names the line and field."""
    try:
        return _check(obj, line)
    except _Bad as bad:
        raise InvalidInput(bad.message, line=line, field=bad.field) from None


def validate_record(obj: Any, line: int, raw: str | None = None) -> Row:
    """One parsed record as a :class:`TelemetryRecord`, or a ``RejectedRow`` saying why not."""
    try:
        return _check(obj, line)
    except _Bad as bad:
        return RejectedRow(
            line, bad.field, bad.message, raw if raw is not None else repr(obj)[:2000]
        )


def _check(obj: Any, line: int) -> TelemetryRecord:
    if type(obj) is not dict:
        raise _Bad(None, f"saw JSON {_kind(obj)}; expected a JSON object (one record per line)")
    if not _KNOWN.issuperset(obj):
        extra = sorted(set(obj) - _KNOWN)
        raise _Bad(extra[0], f"unknown field {extra[0]!r}; expected fields {list(FIELDS)}")
    raw_input = obj.get("input")
    if type(raw_input) is str:
        if not raw_input.strip():
            raise _Bad("input", "saw an empty string; expected the item's text or an object")
        data: dict[str, Any] = {"text": raw_input}
    elif type(raw_input) is dict and raw_input:
        data = raw_input
    else:
        seen = "no value" if "input" not in obj else _kind(raw_input)
        if raw_input == {}:
            seen = "an empty object"
        raise _Bad("input", f"saw {seen}; expected the item's text or a JSON object")
    try:
        data_json = canonical_json(data)
    except (TypeError, ValueError):
        raise _Bad("input", "holds NaN or Infinity; expected JSON numbers") from None
    digest = item_content_hash(data, data_json=data_json)
    prediction = obj.get("prediction")
    if type(prediction) is not str or not prediction:
        seen = "no value" if "prediction" not in obj else _kind(prediction)
        raise _Bad("prediction", f"saw {seen}; expected a label name")
    probabilities = obj.get("probabilities")
    confidence: float
    if probabilities is not None:
        if type(probabilities) is not dict or not probabilities:
            raise _Bad(
                "probabilities",
                f"saw {_kind(probabilities)}; expected an object label -> probability",
            )
        total = 0.0
        for label, p in probabilities.items():
            total += _probability(p, f"probabilities.{label}")
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise _Bad(
                "probabilities",
                f"probabilities sum to {total:.6g}; expected 1 (within {SUM_TOLERANCE})",
            )
        if prediction not in probabilities:
            raise _Bad(
                "prediction",
                f"prediction {prediction!r} has no probability; expected one of "
                f"{sorted(probabilities)}",
            )
        confidence = float(probabilities[prediction])
        if "confidence" in obj:
            given = _probability(obj["confidence"], "confidence")
            if abs(given - confidence) > 1e-6:
                raise _Bad(
                    "confidence",
                    f"saw {given!r} but probabilities give {prediction!r} {confidence!r}; "
                    "expected them to agree",
                )
    elif "confidence" in obj:
        confidence = _probability(obj["confidence"], "confidence")
    else:
        raise _Bad("probabilities", "saw neither probabilities nor confidence; expected one")
    model = _name(obj, "model", 300)
    version = _name(obj, "model_version", 100)
    stamp = _timestamp(obj.get("timestamp") if "timestamp" in obj else None)
    request_id = obj.get("request_id")
    if request_id is not None:
        if type(request_id) is int:
            request_id = str(request_id)
        elif type(request_id) is not str or not request_id.strip():
            raise _Bad("request_id", f"saw {_kind(request_id)}; expected a string or integer")
    return TelemetryRecord(
        line,
        data,
        data_json,
        digest,
        prediction,
        confidence,
        probabilities,
        model,
        version,
        stamp,
        request_id,
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_decoder = json.JSONDecoder(parse_constant=_reject_constant)
_decode = _decoder.decode
_scan_once: Any = _decoder.scan_once  # type: ignore[attr-defined]


def iter_telemetry(path: str | Path) -> Iterator[Row]:
    """Stream the records of a JSONL file as :class:`TelemetryRecord` / ``RejectedRow``.

    Blank lines are skipped (and counted). A missing or empty file and invalid UTF-8 raise
    :class:`~labelloop.errors.InvalidInput` (the latter naming the line).
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(
            "file not found" if not path.exists() else "expected a file", source=str(path)
        )
    if path.stat().st_size == 0:
        raise InvalidInput("file is empty; expected JSON Lines telemetry records", source=str(path))
    return _iter(path)


def _iter(path: Path) -> Iterator[Row]:
    check = _check
    scan = _scan_once
    with open(path, "rb") as handle:
        for line, raw in enumerate(handle, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise utf8_error(path, line, exc) from None
            if line == 1 and text.startswith("\ufeff"):
                text = text[1:]
            if not text.strip():
                continue
            try:
                # fast path: the C scanner on a line holding one object, then only whitespace
                if text[0] == "{":
                    obj, end = scan(text, 0)
                    if text[end:].strip():
                        obj = _decode(text)  # raises "Extra data"
                else:
                    obj = _decode(text)
            except (ValueError, RecursionError, StopIteration) as exc:
                if isinstance(exc, StopIteration):
                    exc = ValueError("truncated or invalid JSON")
                yield RejectedRow(line, None, f"not valid JSON ({exc})", text.rstrip("\r\n"))
                continue
            try:
                yield check(obj, line)
            except _Bad as bad:
                yield RejectedRow(line, bad.field, bad.message, text.rstrip("\r\n"))


def iter_telemetry_batches(path: str | Path, batch_size: int = 10_000) -> Iterator[list[Row]]:
    """:func:`iter_telemetry` in lists of up to ``batch_size`` rows."""
    rows = iter_telemetry(path)
    return iter(lambda: list(itertools.islice(rows, batch_size)), [])


def _parse_worker(path: str, batch_size: int, out: Any) -> None:
    """Child process: parse and validate the file, sending batches (or the file error)."""
    try:
        for batch in iter_telemetry_batches(path, batch_size):
            out.put(("batch", batch))
        out.put(("end", None))
    except InvalidInput as exc:
        out.put(("error", (exc.reason, exc.source, exc.line, exc.field)))
    except BaseException as exc:  # pragma: no cover - reported to the parent
        out.put(("crash", f"{type(exc).__name__}: {exc}"))


def iter_telemetry_batches_parallel(
    path: str | Path, batch_size: int = 10_000, prefetch: int = 4
) -> Iterator[list[Row]]:
    """:func:`iter_telemetry_batches` parsed in a child process (overlaps with the caller's
    database work on a second core). Same batches, same errors; the child stops when the
    caller stops iterating."""
    import multiprocessing as mp
    import queue

    path = Path(path)
    iter_telemetry(path)  # file-level checks (missing, empty) raise here, in the caller
    ctx = mp.get_context("spawn")  # no inherited database connections
    out = ctx.Queue(maxsize=prefetch)
    proc = ctx.Process(target=_parse_worker, args=(str(path), batch_size, out), daemon=True)
    proc.start()
    try:
        while True:
            try:
                kind, value = out.get(timeout=1.0)
            except queue.Empty:
                if not proc.is_alive():
                    raise InvalidInput(
                        f"the telemetry parser process stopped (exit code {proc.exitcode})",
                        source=str(path),
                    ) from None
                continue
            if kind == "batch":
                yield value
            elif kind == "end":
                return
            elif kind == "error":
                reason, source, line, field = value
                raise InvalidInput(reason, source=source, line=line, field=field)
            else:  # pragma: no cover
                raise InvalidInput(f"the telemetry parser failed: {value}", source=str(path))
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join()
        out.close()
        out.cancel_join_thread()
