"""Streaming item readers for the import stage: JSONL, CSV/TSV, Parquet and HF ``save_to_disk``.

:func:`iter_rows` yields one :class:`ItemRow` per valid row and one :class:`RejectedRow` per
row-level problem, in file order, with memory that does not grow with the file. The import
service decides what a rejected row means (atomic abort naming the first one, or
``--skip-invalid`` with :func:`write_rejects`). Deduplication by ``content_hash`` is the
service's job: every row is yielded, duplicates included.

File-level problems raise :class:`~labelloop.errors.InvalidInput` with ``source`` set: a missing
or unreadable file, an unknown format and an empty (0-byte) file raise when :func:`iter_rows`
is called; invalid UTF-8 (naming the line), a CSV without a header or that the csv module cannot
parse (e.g. a field over its 128 KiB limit), a file with no rows, a Parquet file that does not
parse and an HF folder without its arrow files raise during iteration.

Decisions, per format:

* **JSONL** (``.jsonl``, ``.ndjson``, ``.json``): one JSON object per physical line; blank
  lines are skipped but counted; a UTF-8 BOM is accepted; ``NaN``/``Infinity`` are rejected.
  A ``.json`` file holding a JSON array raises (expected JSON Lines).
* **CSV/TSV** (``.csv``, ``.tsv``): every value is a string. An empty cell means the field is
  absent (so a required-field check reports "missing"); an empty cell in the id column is a
  rejected row. A ``metadata`` cell must hold a JSON object's text (in every format, a string
  ``metadata`` value is parsed as JSON object text). A record with more or fewer
  cells than the header is rejected. ``raw`` of a rejected CSV row is the record re-written as
  CSV. ``ItemRow.line`` is the physical line where the record starts (the header is line 1).
* **Parquet / HF**: ``line`` is the 1-based row number. A top-level null means the field is
  absent (a null id is rejected). Dates and times become ISO 8601 strings and decimals become
  strings; bytes (e.g. an HF ``Image`` column), durations and NaN/Infinity are rejected naming
  the field: an item refers to media through a ``media`` path/URL, it does not embed it.
  Index columns that pandas wrote (``__index_level_0__``) are not item fields.
* **HF DatasetDict** folders (``dataset_dict.json``): every split is read, in the listed order,
  and each item's metadata gets ``"split": <name>`` (overriding a ``split`` key of its own);
  ``split=`` reads one split only. Row numbers restart at 1 in each split, and a rejected row's
  message starts with ``split '<name>':``. The same content in two splits has one content
  hash, so the import keeps one item. A split folder (``path/train``) can be read on its own.

**Item size limit** (``max_item_bytes``, default ``LABELLOOP_MAX_ITEM_BYTES``, 1 MiB): an item
over the limit is a rejected row naming its size, never parsed. Its size is the bytes of its
JSONL line or CSV record (line break excluded), or the bytes of its values in Arrow (Parquet/HF:
strings and binaries by length, lists and structs by their parts). JSONL and CSV lines are read
with a bounded ``readline``: an oversized line is skipped in chunks, never held whole (a CSV
header over the limit raises). ``None`` turns the limit off.

The id field is ``id_field`` when given; else ``id``, or else ``task``. For CSV, Parquet and HF
this is decided from the columns; for JSONL, by the first object that has an ``id`` or a
``task`` key (later rows keep their other key as content). An explicit ``id_field`` that no
column/row has raises :class:`~labelloop.errors.InvalidInput`. Ids are kept verbatim (not
trimmed); an empty or whitespace-only id, a null, float, boolean, list or object id is a rejected
row naming the id field. ``metadata: null`` means ``{}``, ``media: null`` means no media.
"""

from __future__ import annotations

import csv
import datetime as _dt
import decimal
import io
import itertools
import json
import math
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from json import decoder as _json_decoder
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq

from labelloop.core.identity import item_content_hash
from labelloop.core.provenance import canonical_json
from labelloop.errors import InvalidInput
from labelloop.settings import DEFAULT_MAX_ITEM_BYTES

__all__ = [
    "Format",
    "ItemRow",
    "RejectedRow",
    "detect_format",
    "iter_row_batches",
    "iter_rows",
    "write_rejects",
]

Format: TypeAlias = Literal["jsonl", "csv", "parquet", "hf"]

_SUFFIXES: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_FORMAT_ALIASES: dict[str, Format] = {
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "json": "jsonl",
    "csv": "csv",
    "tsv": "csv",
    "parquet": "parquet",
    "pq": "parquet",
    "hf": "hf",
    "datasets": "hf",
}
_EXPECTED_FORMATS = (
    "expected .jsonl/.ndjson/.json (JSON Lines), .csv/.tsv, .parquet/.pq, or a folder written "
    "by Hugging Face datasets save_to_disk (with state.json or dataset_dict.json)"
)
_HF_MARKERS = ("dataset_dict.json", "state.json", "dataset_info.json")
_BATCH_ROWS = 4096  # rows converted to Python objects at a time (Parquet / Arrow)


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One valid item read from a file."""

    line: int
    """JSONL/CSV: 1-based physical line where the record starts. Parquet/HF: 1-based row."""
    external_id: str | None
    """Value of the id field (ints converted to str); ``None`` when the row has none."""
    data: dict[str, Any]
    """The item's content: every field except the id field, ``metadata`` and ``media``."""
    metadata: dict[str, Any]
    """The ``metadata`` object, ``{}`` when absent."""
    media: str | None
    """The ``media`` reference (URL or path), ``None`` when absent."""
    content_hash: str
    """:func:`~labelloop.core.identity.item_content_hash` of ``data`` and ``media`` (every
    field: the import service narrows it to the schema's declared fields)."""


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """One row that cannot become an item, with what was seen and what was expected."""

    line: int
    field: str | None
    message: str
    raw: str


Row: TypeAlias = ItemRow | RejectedRow


# ---------------------------------------------------------------------------------------------
# Value checks (slow path: only for rows the fast path could not hash).
# ---------------------------------------------------------------------------------------------


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "an empty string" if not value else ("whitespace " + json.dumps(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def _json_kind(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


def _normalize(value: Any, path: str) -> tuple[Any, tuple[str, str] | None]:
    """JSON-ready copy of ``value`` (dates → ISO strings, decimals → strings, tuples → lists),
    or the first problem as ``(path, message)``."""
    if value is None or isinstance(value, bool | int):
        return value, None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value, (path, "string holds a lone surrogate; expected valid Unicode text")
        return value, None
    if isinstance(value, float):
        if math.isfinite(value):
            return value, None
        return value, (path, f"saw {value!r}; expected a finite number (JSON has no NaN/Infinity)")
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                return value, (path, f"object key {key!r} is not a string")
            sub = f"{path}.{key}" if path else key
            norm, problem = _normalize(key, sub)
            if problem is not None:
                return value, problem
            out[key], problem = _normalize(item, sub)
            if problem is not None:
                return value, problem
        return out, None
    if isinstance(value, list | tuple):
        items: list[Any] = []
        for i, item in enumerate(value):
            norm, problem = _normalize(item, f"{path}[{i}]")
            if problem is not None:
                return value, problem
            items.append(norm)
        return items, None
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat(), None
    if isinstance(value, decimal.Decimal):
        if value.is_finite():
            return str(value), None
        return value, (path, f"saw {value}; expected a finite number")
    if isinstance(value, bytes | bytearray | memoryview):
        return value, (
            path,
            f"saw {len(value)} bytes of binary data; expected JSON-representable values "
            "(refer to media through a 'media' path or URL instead of embedding it)",
        )
    return value, (path, f"saw a {type(value).__name__}; expected a JSON-representable value")


def _normalize_row(
    obj: dict[str, Any], media: str | None
) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """JSON-ready copy of a row's data, or the first problem as ``(top-level field, message)``."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        for text, where in ((key, key), (value, key)):
            norm, problem = _normalize(text, where)
            if problem is not None:
                path, message = problem
                if path != key:
                    message = f"at {path!r}: {message}"
                return obj, (key, message)
        out[key] = norm
    if media is not None:
        _, problem = _normalize(media, "media")
        if problem is not None:
            return obj, ("media", problem[1])
    return out, None


def _raw_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    return str(value)


def _render(row: dict[str, Any]) -> str:
    """A JSON rendering of a row for the rejects file (never fails)."""
    try:
        return json.dumps(row, ensure_ascii=False, default=_raw_default)
    except (TypeError, ValueError):  # pragma: no cover - e.g. non-string keys
        return repr(row)


# ---------------------------------------------------------------------------------------------
# Row building, shared by all formats.
# ---------------------------------------------------------------------------------------------

_MISSING: Any = object()


class _RowMaker:
    """Turns a freshly parsed ``dict`` (mutated in place, never copied) into a row."""

    __slots__ = ("id_key", "id_required", "raw_of", "split")

    def __init__(
        self,
        id_key: str | None,
        *,
        id_required: bool,
        raw_of: Callable[[dict[str, Any]], str] = _render,
        split: str | None = None,
    ) -> None:
        self.id_key = id_key
        # tabular formats: the id column exists, so an absent (empty/null) value is an error
        self.id_required = id_required
        self.raw_of = raw_of
        self.split = split

    def reject(self, line: int, field: str | None, message: str, raw: str) -> RejectedRow:
        if self.split is not None:
            message = f"split {self.split!r}: {message}"
        return RejectedRow(line, field, message, raw)

    def bind(self) -> Callable[[dict[str, Any], int, str | None], Row]:
        """``make`` with a fast path for the common row (string/int id, no metadata/media)."""
        general = self.make
        if self.split is not None:
            return general
        id_key = self.id_key
        id_required = self.id_required
        missing = _MISSING
        item_hash = item_content_hash
        item_row = ItemRow

        def make(obj: dict[str, Any], line: int, raw: str | None) -> Row:
            external_id: str | None = None
            if id_key is not None:
                value = obj.pop(id_key, missing)
                kind = type(value)
                if kind is str and value and not value.isspace():
                    external_id = value
                elif kind is int:
                    external_id = str(value)
                elif value is not missing or id_required:
                    if value is not missing:
                        obj[id_key] = value
                    return general(obj, line, raw)
            if "metadata" in obj or "media" in obj:
                if external_id is not None:
                    obj[id_key] = value  # type: ignore[index]
                return general(obj, line, raw)
            try:
                digest = item_hash(obj)
            except (TypeError, ValueError, UnicodeEncodeError):
                if external_id is not None:
                    obj[id_key] = value  # type: ignore[index]
                return general(obj, line, raw)
            return item_row(line, external_id, obj, {}, None, digest)

        return make

    def make(self, obj: dict[str, Any], line: int, raw: str | None) -> Row:
        id_key = self.id_key
        external_id: str | None = None
        id_value: Any = _MISSING
        if id_key is not None:
            id_value = obj.pop(id_key, _MISSING)
            if id_value is _MISSING:
                if self.id_required:
                    return self._bad_id(obj, line, raw, _MISSING)
            else:
                kind = type(id_value)
                if kind is str:
                    if not id_value or id_value.isspace():
                        return self._bad_id(obj, line, raw, id_value)
                    external_id = id_value
                elif kind is int:
                    external_id = str(id_value)
                else:
                    return self._bad_id(obj, line, raw, id_value)
        metadata: dict[str, Any]
        meta_value: Any = _MISSING
        if "metadata" in obj:
            meta_value = obj.pop("metadata")
            metadata_or_reject = self._metadata(meta_value)
            if isinstance(metadata_or_reject, str):
                return self._fail(
                    obj, line, raw, id_value, meta_value, _MISSING, "metadata", metadata_or_reject
                )
            metadata = metadata_or_reject
        else:
            metadata = {}
        if self.split is not None:
            metadata["split"] = self.split
        media: str | None = None
        media_value: Any = _MISSING
        if "media" in obj:
            media_value = obj.pop("media")
            if media_value is not None:
                if type(media_value) is not str or not media_value or media_value.isspace():
                    return self._fail(
                        obj,
                        line,
                        raw,
                        id_value,
                        meta_value,
                        media_value,
                        "media",
                        f"saw {_describe(media_value)}; expected a media reference "
                        "(a non-empty URL or path string)",
                    )
                media = media_value
        try:
            digest = item_content_hash(obj, media)
        except (TypeError, ValueError, UnicodeEncodeError):
            normalized, problem = _normalize_row(obj, media)
            if problem is not None:  # NaN, bytes, lone surrogates, ...
                field, message = problem
                return self._fail(obj, line, raw, id_value, meta_value, media_value, field, message)
            obj = normalized  # only convertible values (dates, decimals): keep them as JSON
            digest = item_content_hash(obj, media)
        return ItemRow(line, external_id, obj, metadata, media, digest)

    def _metadata(self, value: Any) -> dict[str, Any] | str:
        """The metadata object, or a message saying what was wrong."""
        if value is None:
            return {}
        if type(value) is str:  # CSV cells, string columns: JSON object text
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                return (
                    f"saw {_describe(value) if not value.strip() else 'text that is not JSON'}; "
                    "expected a JSON object"
                )
            if not isinstance(value, dict):
                return f"saw JSON {_json_kind(value)}; expected a JSON object"
        elif not isinstance(value, dict):
            return f"saw {_json_kind(value)}; expected a JSON object"
        try:
            canonical_json(value).encode("utf-8")
        except (TypeError, ValueError, UnicodeEncodeError):
            normalized, problem = _normalize(value, "metadata")
            if problem is not None:
                return f"at {problem[0]!r}: {problem[1]}"
            return dict(normalized)
        return value

    def _bad_id(self, obj: dict[str, Any], line: int, raw: str | None, value: Any) -> RejectedRow:
        assert self.id_key is not None
        seen = "no value" if value is _MISSING else _describe(value)
        return self._fail(
            obj,
            line,
            raw,
            value,
            _MISSING,
            _MISSING,
            self.id_key,
            f"expected a non-empty string or integer id, saw {seen}",
        )

    def _fail(
        self,
        obj: dict[str, Any],
        line: int,
        raw: str | None,
        id_value: Any,
        meta_value: Any,
        media_value: Any,
        field: str | None,
        message: str,
    ) -> RejectedRow:
        if raw is not None:
            raw = raw.rstrip("\r\n")
        else:
            full: dict[str, Any] = {}
            if id_value is not _MISSING and self.id_key is not None:
                full[self.id_key] = id_value
            full.update(obj)
            if meta_value is not _MISSING:
                full["metadata"] = meta_value
            if media_value is not _MISSING:
                full["media"] = media_value
            raw = self.raw_of(full)
        return self.reject(line, field, message, raw)


def _source_error(path: Path, message: str, line: int | None = None) -> InvalidInput:
    return InvalidInput(message, source=str(path), line=line)


def utf8_error(path: Path, line: int, exc: UnicodeDecodeError) -> InvalidInput:
    """The one error for a line that is not UTF-8 (item, answer and telemetry readers)."""
    bad = exc.object[exc.start : exc.start + 1].hex()
    return _source_error(
        path,
        f"not valid UTF-8 (byte 0x{bad} at byte {exc.start + 1} of the line); expected UTF-8 text",
        line,
    )


# ---------------------------------------------------------------------------------------------
# Item size limit
# ---------------------------------------------------------------------------------------------

_CHUNK = 1 << 20  # bytes read at a time while skipping the rest of an oversized line
_HEAD = 200  # characters of an oversized item kept as its ``raw`` in the rejects file


def _too_large(maker: _RowMaker, line: int, size: int, limit: int, head: str) -> RejectedRow:
    return maker.reject(
        line,
        None,
        f"item is {size:,} bytes; expected at most {limit:,} bytes "
        "(raise the limit with --max-item-bytes or LABELLOOP_MAX_ITEM_BYTES)",
        head,
    )


def _head(raw: bytes) -> str:
    return raw[: _HEAD * 4].decode("utf-8", "replace")[:_HEAD] + "..."


def _line_size(handle: io.BufferedReader, first: bytes) -> tuple[int, int, int]:
    """``(bytes without the line break, line break length, '"' count)`` of the line that
    starts with ``first`` (a bounded ``readline``); the rest is read in chunks and dropped."""
    size, quotes = len(first), first.count(b'"')
    tail = first[-2:]
    while not tail.endswith(b"\n"):
        chunk = handle.readline(_CHUNK)
        if not chunk:
            return size, 0, quotes
        size += len(chunk)
        quotes += chunk.count(b'"')
        tail = (tail + chunk)[-2:]
    brk = 2 if tail == b"\r\n" else 1
    return size - brk, brk, quotes


def _arrow_sizes(array: pa.Array) -> np.ndarray:
    """Bytes of each value of ``array``: strings/binaries by length, fixed-width values by
    width, lists and structs by the sum of their parts, nulls 0."""
    kind = array.type
    n = len(array)
    if n == 0 or kind == pa.null():
        return np.zeros(n, dtype=np.int64)
    if pa.types.is_dictionary(kind):  # each row: its value's size, not the index width
        sizes = pa.array(_arrow_sizes(array.dictionary))
        taken = pc.take(sizes, array.indices).fill_null(0)
        return np.asarray(taken.to_numpy(zero_copy_only=False), dtype=np.int64)
    if str(kind) in ("string_view", "binary_view"):
        return _arrow_sizes(array.cast(pa.large_binary()))
    if (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    ):
        lengths = pc.binary_length(array).fill_null(0)
        return np.asarray(lengths.to_numpy(zero_copy_only=False), dtype=np.int64)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        values = pc.list_flatten(array)
        parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
        return np.bincount(parents, weights=_arrow_sizes(values), minlength=n).astype(np.int64)
    if pa.types.is_struct(kind):
        sizes = np.zeros(n, dtype=np.int64)
        for child in array.flatten():
            sizes += _arrow_sizes(child)
        return sizes
    try:
        width = kind.bit_width
    except ValueError:  # other nested or variable types: measured one value at a time
        return np.array([array.slice(i, 1).nbytes for i in range(n)], dtype=np.int64)
    return np.full(n, max(width // 8, 1), dtype=np.int64)


def _check_limit(path: Path, max_item_bytes: int | None) -> int:
    if max_item_bytes is None:
        return sys.maxsize
    if type(max_item_bytes) is not int or max_item_bytes < 1:
        raise InvalidInput(
            f"max_item_bytes is {max_item_bytes!r}; expected a whole number of bytes >= 1",
            source=str(path),
        )
    return max_item_bytes


# ---------------------------------------------------------------------------------------------
# JSONL
# ---------------------------------------------------------------------------------------------

_scan_once: Callable[[str, int], tuple[Any, int]] = _json_decoder.JSONDecoder().scan_once  # type: ignore[attr-defined]
_JSON_WS = " \t\r\n"


def _iter_jsonl(path: Path, id_field: str | None, limit: int) -> Iterator[Row]:
    maker = _RowMaker(id_field, id_required=False)
    # auto: the first object with an "id" (or else "task") key fixes the id field;
    # explicit: some row must have it. Either way, checked only until settled.
    pending = True
    rows = 0
    scan = _scan_once
    make = maker.bind()
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed in finally, generator-owned
    except OSError as exc:
        raise _source_error(path, f"cannot read the file ({exc.strerror})") from None
    try:
        # bounded reads: a line over the limit (+ "\r\n") is never held whole
        read = partial(handle.readline, limit + 2 if limit < sys.maxsize else -1)
        for line, raw_bytes in enumerate(iter(read, b""), 1):
            if len(raw_bytes) > limit:
                size, _, _ = _line_size(handle, raw_bytes)
                if size > limit:
                    rows += 1
                    yield _too_large(maker, line, size, limit, _head(raw_bytes))
                    continue
            try:
                text = raw_bytes.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise utf8_error(path, line, exc) from None
            # fast path: the C scanner on a line that starts with the object and ends with \n
            try:
                obj, end = scan(text, 0)
                tail = text[end:]
                if tail and tail != "\n" and tail.strip(_JSON_WS):
                    obj = _MISSING
            except (StopIteration, ValueError, RecursionError):
                obj = _MISSING
            if obj is _MISSING:
                if line == 1 and text.startswith("\ufeff"):
                    text = text[1:]
                text = text.rstrip("\r\n")  # error columns refer to this line
                if not text.strip(_JSON_WS):
                    continue  # blank line: skipped, still counted
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    rows += 1
                    yield maker.reject(
                        line,
                        None,
                        f"invalid JSON ({exc.msg} at column {exc.colno}); "
                        "expected one JSON object per line",
                        text.rstrip("\r\n"),
                    )
                    continue
                except RecursionError:
                    rows += 1
                    yield maker.reject(
                        line,
                        None,
                        "invalid JSON (nested too deeply); expected one JSON object per line",
                        text.rstrip("\r\n"),
                    )
                    continue
            rows += 1
            if type(obj) is not dict:
                yield maker.reject(
                    line,
                    None,
                    f"expected a JSON object, saw {_json_kind(obj)}",
                    text.rstrip("\r\n"),
                )
                continue
            if pending:
                if id_field is not None:
                    pending = id_field not in obj
                elif "id" in obj or "task" in obj:
                    maker.id_key = "id" if "id" in obj else "task"
                    make = maker.bind()
                    pending = False
            yield make(obj, line, text)
    finally:
        handle.close()
    if rows == 0:
        raise _source_error(path, "file has no rows; expected one JSON object per line")
    if id_field is not None and pending:
        raise _source_error(path, f"no row has the id field {id_field!r}; expected it in every row")


# ---------------------------------------------------------------------------------------------
# CSV / TSV
# ---------------------------------------------------------------------------------------------


def _iter_csv(path: Path, id_field: str | None, delimiter: str, limit: int) -> Iterator[Row]:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed in finally, generator-owned
    except OSError as exc:
        raise _source_error(path, f"cannot read the file ({exc.strerror})") from None
    # bytes the reader pulled so far and its last line (for the record's size); the head of a
    # line over the limit, never held whole: the reader sees an empty line instead, or '"' if
    # the line had an odd number of quotes (so a quoted field opens or closes as it did)
    pulled: list[Any] = [0, b""]
    oversized: list[tuple[int, str]] = []  # (bytes pulled before the line, its head)
    read = partial(handle.readline, limit + 2 if limit < sys.maxsize else -1)

    def decoded_lines() -> Iterator[str]:
        for n, raw_bytes in enumerate(iter(read, b""), 1):
            if len(raw_bytes) > limit:
                size, brk, quotes = _line_size(handle, raw_bytes)
                if size > limit:
                    oversized.append((pulled[0], _head(raw_bytes)))
                    pulled[0] += size + brk
                    pulled[1] = b"\r\n"[2 - brk :]
                    yield '"\n' if quotes % 2 else "\n"
                    continue
            pulled[0] += len(raw_bytes)
            pulled[1] = raw_bytes
            try:
                yield raw_bytes.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise utf8_error(path, n, exc) from None

    def to_csv(cells: list[str]) -> str:
        buf = io.StringIO()
        csv.writer(buf, delimiter=delimiter, lineterminator="").writerow(cells)
        return buf.getvalue()

    try:
        reader = csv.reader(decoded_lines(), delimiter=delimiter, strict=True)
        last = 0
        header: list[str] | None = None
        try:
            for header in reader:
                if oversized:
                    raise _source_error(
                        path,
                        f"header line is over the limit of {limit:,} bytes per item; expected a "
                        "header row naming the columns",
                        reader.line_num,
                    )
                if header:
                    break
        except csv.Error as exc:
            raise _source_error(path, _csv_problem(exc), 1) from None
        if not header:
            raise _source_error(
                path, "file has no header; expected a header row naming the columns"
            )
        last = reader.line_num
        header_line = last
        if header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        seen: set[str] = set()
        for i, name in enumerate(header):
            if not name:
                raise _source_error(
                    path,
                    f"column {i + 1} of the header has no name; expected a name for every column "
                    "(a pandas index written without index=False?)",
                    header_line,
                )
            if name in seen:
                raise _source_error(
                    path,
                    f"column {name!r} appears twice in the header; expected unique names",
                    header_line,
                )
            seen.add(name)
        id_key = _pick_id_column(path, header, id_field)
        maker = _RowMaker(
            id_key, id_required=id_key is not None, raw_of=lambda row: ""
        )  # raw of a rejected record: the record itself, re-written as CSV (below)
        make = maker.bind()
        width = len(header)
        rows = 0
        while True:
            before = pulled[0]
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise _source_error(path, _csv_problem(exc), last + 1) from None
            line = last + 1
            last = reader.line_num
            if pulled[0] - before > limit:  # the record's size, its final line break excluded
                end: bytes = pulled[1]
                size = pulled[0] - before - (2 if end.endswith(b"\r\n") else end.endswith(b"\n"))
                if size > limit:
                    rows += 1
                    # raw: the record's first line when that one was too long, else the record
                    if oversized and oversized[0][0] == before:
                        head = oversized[0][1]
                    else:
                        head = to_csv(cells)[:_HEAD] + "..."
                    oversized.clear()
                    yield _too_large(maker, line, size, limit, head)
                    continue
            if not cells:
                continue  # blank line
            rows += 1
            if len(cells) != width:
                yield maker.reject(
                    line,
                    None,
                    f"saw {len(cells)} cells; expected {width} as in the header",
                    to_csv(cells),
                )
                continue
            obj = {k: v for k, v in zip(header, cells, strict=True) if v}
            row = make(obj, line, None)
            if type(row) is RejectedRow:
                row = RejectedRow(row.line, row.field, row.message, to_csv(cells))
            yield row
        if rows == 0:
            raise _source_error(path, "file has a header but no rows; expected at least one row")
    finally:
        handle.close()


def _csv_problem(exc: csv.Error) -> str:
    """What the csv module could not parse, as seen vs expected (the line is the record's)."""
    text = str(exc)
    if "field limit" in text:
        return (
            f"a field is longer than the csv module's limit of {csv.field_size_limit()} "
            "characters; expected shorter fields (JSONL or Parquet suit long texts)"
        )
    if "unexpected end of data" in text:
        return "a quoted field in this record is never closed; expected a closing '\"'"
    return f"could not parse CSV ({text}); expected RFC 4180 quoting ('\"' inside quotes as '\"\"')"


def _pick_id_column(path: Path, columns: list[str], id_field: str | None) -> str | None:
    if id_field is not None:
        if id_field not in columns:
            raise _source_error(
                path, f"id field {id_field!r} is not a column; columns seen: {columns}"
            )
        return id_field
    for name in ("id", "task"):
        if name in columns:
            return name
    return None


# ---------------------------------------------------------------------------------------------
# Parquet and Arrow (HF save_to_disk)
# ---------------------------------------------------------------------------------------------


def _iter_batches_rows(
    batches: Iterable[pa.RecordBatch], maker: _RowMaker, first_row: int, limit: int
) -> Iterator[Row]:
    """Rows of Arrow record batches, ``_BATCH_ROWS`` Python dicts at a time."""
    row_no = first_row
    make = maker.bind()
    for batch in batches:
        for start in range(0, batch.num_rows, _BATCH_ROWS):
            chunk = batch.slice(start, _BATCH_ROWS)
            if limit < sys.maxsize:
                sizes = sum(
                    (_arrow_sizes(column) for column in chunk.columns),
                    np.zeros(chunk.num_rows, dtype=np.int64),
                )
                if sizes.max(initial=0) > limit:  # rows over the limit are never converted
                    for i in range(chunk.num_rows):
                        if sizes[i] > limit:
                            yield _too_large(maker, row_no + i + 1, int(sizes[i]), limit, "")
                        else:
                            yield from _iter_batches_rows(
                                [chunk.slice(i, 1)], maker, row_no + i, sys.maxsize
                            )
                    row_no += chunk.num_rows
                    continue
            nullable = [
                name
                for name, column in zip(chunk.schema.names, chunk.columns, strict=True)
                if column.null_count
            ]
            for obj in chunk.to_pylist():
                row_no += 1
                for name in nullable:
                    if obj[name] is None:
                        del obj[name]
                yield make(obj, row_no, None)


def _iter_parquet(path: Path, id_field: str | None, limit: int) -> Iterator[Row]:
    try:
        pf = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
    except (pa.ArrowException, OSError) as exc:
        raise _source_error(
            path, f"could not read as Parquet ({exc}); expected a Parquet file"
        ) from None
    schema = pf.schema_arrow
    index_columns: set[str] = set()
    meta = schema.pandas_metadata
    if meta:
        index_columns = {c for c in meta.get("index_columns", []) if isinstance(c, str)}
    columns = [name for name in schema.names if name not in index_columns]
    id_key = _pick_id_column(path, columns, id_field)
    maker = _RowMaker(id_key, id_required=id_key is not None)
    if pf.metadata.num_rows == 0:
        raise _source_error(path, "file has no rows; expected at least one row")
    batches = pf.iter_batches(batch_size=_BATCH_ROWS, columns=columns, use_threads=False)
    try:
        yield from _iter_batches_rows(batches, maker, 0, limit)
    except (pa.ArrowException, OSError) as exc:
        raise _source_error(path, f"could not read as Parquet ({exc})") from None


def _hf_arrow_files(folder: Path) -> list[Path]:
    state = folder / "state.json"
    if state.is_file():
        try:
            info = json.loads(state.read_text(encoding="utf-8"))
            names = [entry["filename"] for entry in info["_data_files"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise _source_error(
                folder / "state.json",
                f"could not read the data file list ({exc!r}); expected "
                '{"_data_files": [{"filename": ...}, ...]} as written by save_to_disk',
            ) from None
        files = [folder / name for name in names]
    else:
        files = sorted(folder.glob("*.arrow"))
    missing = [f.name for f in files if not f.is_file()]
    if not files or missing:
        raise _source_error(
            folder,
            f"arrow data files missing ({missing or 'none found'}); expected the .arrow files "
            "that save_to_disk writes next to state.json",
        )
    return files


def _arrow_batches(path: Path) -> Iterator[pa.RecordBatch]:
    try:
        source = pa.memory_map(str(path))
    except (pa.ArrowException, OSError) as exc:
        raise _source_error(path, f"cannot read the arrow file ({exc})") from None
    try:
        try:
            reader: Any = pa_ipc.open_stream(source)
        except pa.ArrowInvalid:
            source.seek(0)
            try:
                file_reader = pa_ipc.open_file(source)
            except (pa.ArrowException, OSError) as exc:
                raise _source_error(
                    path, f"could not read as Arrow IPC ({exc}); expected an arrow file"
                ) from None
            reader = (file_reader.get_batch(i) for i in range(file_reader.num_record_batches))
        try:
            yield from reader
        except (pa.ArrowException, OSError) as exc:
            raise _source_error(path, f"could not read as Arrow IPC ({exc})") from None
    finally:
        source.close()


def _arrow_schema_names(path: Path) -> list[str]:
    try:
        with pa.memory_map(str(path)) as source:
            try:
                return list(pa_ipc.open_stream(source).schema.names)
            except pa.ArrowInvalid:
                source.seek(0)
                return list(pa_ipc.open_file(source).schema.names)
    except (pa.ArrowException, OSError) as exc:
        raise _source_error(
            path, f"could not read as Arrow IPC ({exc}); expected an arrow file"
        ) from None


def _iter_hf_dataset(
    folder: Path, id_field: str | None, split: str | None, limit: int
) -> Iterator[Row]:
    files = _hf_arrow_files(folder)
    id_key = _pick_id_column(folder, _arrow_schema_names(files[0]), id_field)
    maker = _RowMaker(id_key, id_required=id_key is not None, split=split)

    def batches() -> Iterator[pa.RecordBatch]:
        for file in files:
            yield from _arrow_batches(file)

    count = 0
    for row in _iter_batches_rows(batches(), maker, 0, limit):
        count += 1
        yield row
    if count == 0 and split is None:
        raise _source_error(folder, "dataset has no rows; expected at least one row")


def _iter_hf(path: Path, id_field: str | None, split: str | None, limit: int) -> Iterator[Row]:
    dict_file = path / "dataset_dict.json"
    if not dict_file.is_file():
        if split is not None:
            raise _source_error(
                path,
                f"split={split!r} given, but the folder is a single dataset (no dataset_dict.json)",
            )
        yield from _iter_hf_dataset(path, id_field, None, limit)
        return
    try:
        splits = json.loads(dict_file.read_text(encoding="utf-8"))["splits"]
        if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits):
            raise TypeError("splits is not a list of names")
    except (ValueError, KeyError, TypeError) as exc:
        raise _source_error(
            dict_file, f'could not read the split list ({exc!r}); expected {{"splits": [...]}}'
        ) from None
    if split is not None:
        if split not in splits:
            raise _source_error(path, f"unknown split {split!r}; the folder has splits {splits}")
        splits = [split]
    count = 0
    for name in splits:
        for row in _iter_hf_dataset(path / name, id_field, name, limit):
            count += 1
            yield row
    if count == 0:
        raise _source_error(path, "dataset has no rows; expected at least one row")


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def detect_format(path: Path) -> Format:
    """The format of ``path``: by suffix for files, ``"hf"`` for a ``save_to_disk`` folder."""
    path = Path(path)
    if path.is_dir():
        if any((path / marker).is_file() for marker in _HF_MARKERS):
            return "hf"
        raise InvalidInput(
            f"folder is not a Hugging Face dataset (no {' / '.join(_HF_MARKERS)}); "
            + _EXPECTED_FORMATS,
            source=str(path),
        )
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        seen = f"suffix {path.suffix!r}" if path.suffix else "no suffix"
        raise InvalidInput(f"unknown format ({seen}); {_EXPECTED_FORMATS}", source=str(path))
    return fmt


def iter_rows(
    path: str | Path,
    *,
    format: str | None = None,
    id_field: str | None = None,
    split: str | None = None,
    max_item_bytes: int | None = DEFAULT_MAX_ITEM_BYTES,
) -> Iterator[Row]:
    """Stream the items of a file as :class:`ItemRow` / :class:`RejectedRow`, in file order.

    ``format`` is one of ``jsonl``, ``csv``, ``tsv``, ``parquet``, ``hf`` (default: detected
    from the path). ``id_field`` names the external id field (default ``id``, else ``task``).
    ``split`` selects one split of an HF DatasetDict folder (default: all splits).
    ``max_item_bytes``: larger items are rejected rows (``None``: no limit).
    """
    path = Path(path)
    limit = _check_limit(path, max_item_bytes)
    if not path.exists():
        raise InvalidInput("file not found", source=str(path))
    if format is None:
        fmt = detect_format(path)
    else:
        resolved = _FORMAT_ALIASES.get(format.lower())
        if resolved is None:
            raise InvalidInput(
                f"unknown format {format!r}; expected one of {sorted(set(_FORMAT_ALIASES))}",
                source=str(path),
            )
        fmt = resolved
    if id_field is not None and not id_field:
        raise InvalidInput("id_field is empty; expected a field name", source=str(path))
    if split is not None and fmt != "hf":
        raise InvalidInput(
            f"split={split!r} applies to Hugging Face DatasetDict folders only", source=str(path)
        )
    if fmt == "hf":
        if not path.is_dir():
            raise InvalidInput(
                "expected a folder written by save_to_disk, saw a file", source=str(path)
            )
        return _iter_hf(path, id_field, split, limit)
    if path.is_dir():
        raise InvalidInput(f"expected a {fmt} file, saw a folder", source=str(path))
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInput(f"cannot read the file ({exc.strerror})", source=str(path)) from None
    if size == 0:
        raise InvalidInput(f"file is empty; expected {fmt} rows", source=str(path))
    if fmt == "jsonl":
        if path.suffix.lower() == ".json" and _starts_with_array(path):
            raise InvalidInput(
                "file holds a JSON array; expected JSON Lines (one JSON object per line)",
                source=str(path),
            )
        return _iter_jsonl(path, id_field, limit)
    if fmt == "csv":
        delimiter = (
            "\t" if (format or "").lower() == "tsv" or path.suffix.lower() == ".tsv" else ","
        )
        return _iter_csv(path, id_field, delimiter, limit)
    return _iter_parquet(path, id_field, limit)


def _starts_with_array(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise InvalidInput(f"cannot read the file ({exc.strerror})", source=str(path)) from None
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"["


def iter_row_batches(
    path: str | Path,
    *,
    format: str | None = None,
    id_field: str | None = None,
    split: str | None = None,
    batch_size: int = 10_000,
    max_item_bytes: int | None = DEFAULT_MAX_ITEM_BYTES,
) -> Iterator[list[Row]]:
    """:func:`iter_rows` in lists of up to ``batch_size`` rows."""
    if batch_size < 1:
        raise InvalidInput(f"batch_size must be at least 1, saw {batch_size}")
    rows = iter_rows(
        path, format=format, id_field=id_field, split=split, max_item_bytes=max_item_bytes
    )
    return iter(lambda: list(itertools.islice(rows, batch_size)), [])


def write_rejects(rows: Iterable[RejectedRow], path: Path) -> int:
    """Write rejected rows as JSONL ``{"line", "field", "message", "raw"}``; return the count."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            record = {"line": row.line, "field": row.field, "message": row.message, "raw": row.raw}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
