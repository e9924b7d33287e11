"""The one reader of answer files (``worker,task,label[,time]``) and gold files (``task,label``).

Formats, by suffix: ``.jsonl``/``.ndjson``/``.json`` are JSON Lines (one object per line with
the same field names), ``.tsv`` is tab-separated, anything else is CSV with a header.

:func:`iter_answer_rows` streams the rows in file order with their line numbers, as
:class:`AnswerRow` (valid) or :class:`~labelloop.formats.rows.RejectedRow` (a row-level
problem: an empty or missing field, a wrong number of cells, a value of the wrong type), so the
import service can abort on the first one or skip them into a rejects file. File-level
problems (missing or empty file, missing columns, invalid UTF-8, unparsable quoting) raise
:class:`~labelloop.errors.InvalidInput` naming file and line.

Values are trimmed; an empty value is a rejected row. In JSONL, ``worker``, ``task`` and
``label`` are strings or integers (an integer becomes its decimal text, as in CSV) and
``time`` is a string or a number. A label is one string, or a list of strings for a
multi-label schema: a JSON list in JSONL, or in CSV the cell split on ``label_delimiter``
(e.g. ``"spam|promo"`` with ``|``). Without a delimiter a CSV label is always one string.
Whether a label must be one string or a list is the schema's call (the import service checks).

:func:`read_answers` and :func:`read_gold` load a whole file into integer codes for the
stateless ``aggregate``/``agreement`` commands. A clean file is parsed by pyarrow (a million
rows in well under a second); when pyarrow cannot parse it or any check fails, the file is
read again with :func:`iter_answer_rows`, which names the first bad line, so both paths
accept the same files and give the same errors.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from labelloop.core.answers import Answers, LabelSpace
from labelloop.errors import InvalidInput
from labelloop.formats.files import atomic_path
from labelloop.formats.rows import RejectedRow, utf8_error
from labelloop.formats.telemetry import _kind

__all__ = [
    "ANSWER_FIELDS",
    "GOLD_FIELDS",
    "AnswerRow",
    "AnswerTable",
    "answer_format",
    "gold_conflict",
    "iter_answer_rows",
    "read_answers",
    "read_gold",
    "write_labels_csv",
]

AnswerFormat: TypeAlias = Literal["csv", "tsv", "jsonl"]
Label: TypeAlias = str | tuple[str, ...]

ANSWER_FIELDS = ("worker", "task", "label")
"""Required fields of an answers file (``time`` is optional)."""
GOLD_FIELDS = ("task", "label")
"""Required fields of a gold file."""

_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


@dataclass(frozen=True, slots=True)
class AnswerRow:
    """One valid row of an answers or gold file."""

    line: int
    """1-based physical line where the row starts (the CSV header is line 1)."""
    task: str
    label: Label
    """One label, or a tuple of labels (a JSONL list, or a CSV cell split on the delimiter)."""
    worker: str | None = None
    """``None`` in gold files."""
    time: str | None = None
    """The ``time`` value as text (seconds spent or an ISO-8601 time); ``None`` when absent."""


Row: TypeAlias = AnswerRow | RejectedRow


@dataclass(frozen=True)
class AnswerTable:
    """Answers read from a file, with the ids behind each code (position = code)."""

    answers: Answers
    item_ids: list[str]
    labeler_ids: list[str]
    label_space: LabelSpace


def answer_format(path: Path) -> AnswerFormat:
    """``jsonl`` for .jsonl/.ndjson/.json, ``tsv`` for .tsv, else ``csv``."""
    suffix = path.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return "jsonl"
    return "tsv" if suffix == ".tsv" else "csv"


def _expected(required: tuple[str, ...], with_time: bool) -> str:
    return ",".join(required) + ("[,time]" if with_time else "")


def _check_file(path: Path, required: tuple[str, ...], with_time: bool) -> None:
    if not path.exists():
        raise InvalidInput(f"file not found: {path}")
    if not path.is_file():
        raise InvalidInput("expected a file, saw a folder", source=str(path))
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInput(f"cannot read the file ({exc.strerror})", source=str(path)) from None
    if size == 0:
        what = (
            "JSON objects with fields " + ", ".join(required)
            if answer_format(path) == "jsonl"
            else "a header " + _expected(required, with_time)
        )
        raise InvalidInput(f"file is empty; expected {what}", source=str(path))


# --------------------------------------------------------------------------- streaming rows


def iter_answer_rows(
    path: str | Path,
    *,
    required: tuple[str, ...] = ANSWER_FIELDS,
    with_time: bool = True,
    label_delimiter: str | None = None,
) -> Iterator[Row]:
    """Stream the rows of an answers (or, with ``required=GOLD_FIELDS``, gold) file.

    ``with_time`` reads the optional ``time`` field. ``label_delimiter`` splits CSV label
    cells into lists (multi-label schemas); it must not be given for JSONL, where a list
    label is a JSON list. File-level problems raise when iteration starts or reaches them.
    """
    path = Path(path)
    if label_delimiter is not None and not label_delimiter:
        raise InvalidInput("--label-delimiter is empty; expected a character such as '|'")
    _check_file(path, required, with_time)
    fmt = answer_format(path)
    if fmt == "jsonl":
        if label_delimiter is not None:
            raise InvalidInput(
                "--label-delimiter applies to CSV files; in JSONL a multi-label answer is a "
                'JSON list ("label": ["a", "b"])',
                source=str(path),
            )
        return _iter_jsonl(path, required, with_time)
    return _iter_csv(path, required, with_time, "\t" if fmt == "tsv" else ",", label_delimiter)


def _open(path: Path) -> Any:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InvalidInput(f"cannot read the file ({exc.strerror})", source=str(path)) from None


def _utf8_lines(path: Path, handle: Any) -> Iterator[str]:
    for n, raw in enumerate(handle, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise utf8_error(path, n, exc) from None
        yield text[1:] if n == 1 and text.startswith("\ufeff") else text


def _split_label(cell: str, delimiter: str | None) -> tuple[Label, str | None]:
    """The label of a CSV cell, and what is wrong with it (None when fine)."""
    if delimiter is None:
        return cell, None
    parts = tuple(part.strip() for part in cell.split(delimiter))
    if not all(parts):
        return parts, (
            f"saw {cell!r}: an empty label between {delimiter!r} delimiters; "
            f"expected labels separated by {delimiter!r}"
        )
    return parts, None


def _iter_csv(
    path: Path,
    required: tuple[str, ...],
    with_time: bool,
    delimiter: str,
    label_delimiter: str | None,
) -> Iterator[Row]:
    handle = _open(path)
    try:
        reader = csv.reader(_utf8_lines(path, handle), delimiter=delimiter, strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise InvalidInput(f"malformed CSV: {exc}", source=str(path), line=1) from None
        expected = _expected(required, with_time)
        if not header:
            raise InvalidInput(f"file is empty; expected a header {expected}", source=str(path))
        header = [h.strip() for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise InvalidInput(
                f"missing column(s) {missing}; header seen {header}, expected {expected}",
                source=str(path),
                line=1,
            )
        dupes = sorted({c for c in header if c and header.count(c) > 1})
        if dupes:
            raise InvalidInput(
                f"column(s) {dupes} appear twice in the header; expected unique names",
                source=str(path),
                line=1,
            )
        names = (*required, "time") if with_time and "time" in header else required
        wanted = [(c, header.index(c)) for c in names]
        width = len(header)

        def raw_of(record: list[str]) -> str:
            return delimiter.join(record)

        line = reader.line_num
        rows = 0
        while True:
            start = line + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise InvalidInput(f"malformed CSV: {exc}", source=str(path), line=start) from None
            line = reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            rows += 1
            if len(record) != width:
                yield RejectedRow(
                    start,
                    None,
                    f"saw {len(record)} fields; expected {width} as in the header {header}",
                    raw_of(record),
                )
                continue
            values = {c: record[i].strip() for c, i in wanted}
            empty = next((c for c in required if not values[c]), None)
            if empty is not None:
                yield RejectedRow(
                    start, empty, "empty value; expected a non-empty string", raw_of(record)
                )
                continue
            label, problem = _split_label(values["label"], label_delimiter)
            if problem is not None:
                yield RejectedRow(start, "label", problem, raw_of(record))
                continue
            yield AnswerRow(
                start, values["task"], label, values.get("worker"), values.get("time") or None
            )
        if rows == 0:
            raise InvalidInput("file has a header but no rows", source=str(path))
    finally:
        handle.close()


def _text(value: Any) -> str | None:
    """A non-empty trimmed string from a string or integer, else None."""
    if type(value) is str:
        value = value.strip()
        return value or None
    if type(value) is int:
        return str(value)
    return None


def _check_object(
    obj: Any, required: tuple[str, ...], with_time: bool
) -> tuple[str, str] | dict[str, Any]:
    """The row's values, or ``(field, message)`` for the first problem."""
    if type(obj) is not dict:
        return "", f"saw JSON {_kind(obj)}; expected a JSON object with fields {list(required)}"
    out: dict[str, Any] = {}
    for name in required:
        if name not in obj:
            return name, f"missing field; expected fields {list(required)}"
        value = obj[name]
        if name == "label" and type(value) is list:
            labels = [_text(v) for v in value]
            bad = next((i for i, v in enumerate(labels) if v is None), None)
            if bad is not None:
                return name, (
                    f"item {bad} of the list is {_kind(value[bad])}; expected a list of "
                    "non-empty label strings"
                )
            out[name] = tuple(labels)
            continue
        text = _text(value)
        if text is None:
            expected = (
                "a label string (or a list of labels for a multi-label schema)"
                if name == "label"
                else "a non-empty string or integer"
            )
            return name, f"saw {_kind(value)}; expected {expected}"
        out[name] = text
    if with_time:
        value = obj.get("time")
        if value is None:
            out["time"] = None
        elif type(value) in (int, float):
            out["time"] = repr(value) if type(value) is float else str(value)
        elif type(value) is str:
            out["time"] = value.strip() or None
        else:
            return "time", f"saw {_kind(value)}; expected seconds spent or an ISO-8601 time"
    return out


def _iter_jsonl(path: Path, required: tuple[str, ...], with_time: bool) -> Iterator[Row]:
    handle = _open(path)
    rows = 0
    try:
        for line, text in enumerate(_utf8_lines(path, handle), 1):
            if not text.strip():
                continue
            rows += 1
            raw = text.rstrip("\r\n")
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError) as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                yield RejectedRow(
                    line, None, f"invalid JSON ({reason}); expected one JSON object per line", raw
                )
                continue
            checked = _check_object(obj, required, with_time)
            if isinstance(checked, tuple):
                field, message = checked
                yield RejectedRow(line, field or None, message, raw)
                continue
            yield AnswerRow(
                line, checked["task"], checked["label"], checked.get("worker"), checked.get("time")
            )
    finally:
        handle.close()
    if rows == 0:
        raise InvalidInput(
            f"file has no rows; expected one JSON object per line with fields {list(required)}",
            source=str(path),
        )


def _strict(rows: Iterator[Row], path: Path, *, single: bool) -> Iterator[AnswerRow]:
    """Valid rows only: the first rejected row (or list label when ``single``) raises."""
    for row in rows:
        if isinstance(row, RejectedRow):
            raise InvalidInput(row.message, source=str(path), line=row.line, field=row.field)
        if single and not isinstance(row.label, str):
            raise InvalidInput(
                f"saw a list of labels {list(row.label)} (a multi-label answer); expected one "
                "label: aggregation and agreement support single-label answers only",
                source=str(path),
                line=row.line,
                field="label",
            )
        yield row


# --------------------------------------------------------------------------- whole files


def _arrow_table(path: Path, fmt: AnswerFormat, names: tuple[str, ...]) -> pa.Table | None:
    """The trimmed string columns ``names`` parsed by pyarrow, or None when anything is off
    (the caller then reads the file with :func:`iter_answer_rows` for the exact error)."""
    types = {name: pa.string() for name in names}
    try:
        if fmt == "jsonl":
            data = path.read_bytes()
            table = pajson.read_json(
                pa.BufferReader(data),
                read_options=pajson.ReadOptions(block_size=1 << 24),
                parse_options=pajson.ParseOptions(
                    explicit_schema=pa.schema(types), unexpected_field_behavior="ignore"
                ),
            )
            # one object per line: pyarrow also takes two on one line (the row reader does
            # not), and a blank line makes the counts differ too (then the row reader decides)
            if table.num_rows != data.count(b"\n") + (not data.endswith(b"\n")):
                return None
        else:
            table = pacsv.read_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=1 << 24),
                parse_options=pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ","),
                convert_options=pacsv.ConvertOptions(
                    column_types=types, strings_can_be_null=False, include_columns=list(names)
                ),
            )
        if table.num_rows == 0 or len(set(table.column_names)) != len(table.column_names):
            return None
        columns = {}
        for name in names:
            if name not in table.column_names:
                return None
            col = pc.utf8_trim_whitespace(table[name])
            if col.null_count or pc.any(pc.equal(pc.utf8_length(col), 0)).as_py():
                return None
            columns[name] = col
        return pa.table(columns)
    except (pa.ArrowException, OSError, KeyError, ValueError):
        return None


def _rows_table(path: Path, names: tuple[str, ...]) -> pa.Table:
    """The same columns from :func:`iter_answer_rows` (raises on the first bad row)."""
    cols: dict[str, list[str]] = {name: [] for name in names}
    get: dict[str, Callable[[AnswerRow], Any]] = {
        "worker": lambda r: r.worker,
        "task": lambda r: r.task,
        "label": lambda r: r.label,
    }
    for row in _strict(iter_answer_rows(path, required=names, with_time=False), path, single=True):
        for name in names:
            cols[name].append(get[name](row))
    return pa.table({name: pa.array(values, type=pa.string()) for name, values in cols.items()})


def _read_table(path: Path, names: tuple[str, ...]) -> pa.Table:
    _check_file(path, names, False)
    table = _arrow_table(path, answer_format(path), names)
    return table if table is not None else _rows_table(path, names)


def _first_row(
    path: Path, names: tuple[str, ...], wanted: Callable[[AnswerRow], bool]
) -> AnswerRow:
    """The first row matching ``wanted`` (error path only: reads the file again)."""
    rows = iter_answer_rows(path, required=names, with_time=False)
    for row in _strict(rows, path, single=True):
        if wanted(row):
            return row
    raise AssertionError("no matching row")  # pragma: no cover - callers know one exists


def _codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, list[str]]:
    """Sorted distinct values and each row's code into them."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = column.dictionary_encode()
    # Arrow sorts the distinct strings in C++ (bytewise = code point order, as str sorting).
    order = pc.array_sort_indices(encoded.dictionary).to_numpy(zero_copy_only=False)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    idx = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return rank[idx], encoded.dictionary.take(pa.array(order)).to_pylist()


def read_answers(path: str | Path, *, label_space: LabelSpace | None = None) -> AnswerTable:
    """Read ``worker,task,label`` rows into codes (ids sorted, labels in natural order).

    Every row is kept (repeated answers included); apply
    :meth:`~labelloop.core.answers.Answers.deduplicate` for the one-answer-per-pair rule.
    A ``label_space`` restricts labels to a known set; an unknown label names its line.
    Multi-label answers (JSONL lists) are an error naming the line: the aggregators and
    agreement measures take one label per answer.
    """
    path = Path(path)
    table = _read_table(path, ANSWER_FIELDS)
    item, item_ids = _codes(table["task"])
    labeler, labeler_ids = _codes(table["worker"])
    encoded = table["label"].combine_chunks().dictionary_encode()
    distinct = [str(v) for v in encoded.dictionary.to_pylist()]
    if label_space is None:
        label_space = LabelSpace.from_values(distinct)
    unknown = {v for v in distinct if v not in label_space}
    if unknown:
        bad = _first_row(path, ANSWER_FIELDS, lambda r: r.label in unknown)
        raise InvalidInput(
            f"label {bad.label!r} is not in the label set {list(label_space.labels)}",
            source=str(path),
            line=bad.line,
            field="label",
        )
    lut = np.asarray([label_space.code(v) for v in distinct], dtype=np.int64)
    label = lut[encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)]
    answers = Answers(item, labeler, label, len(item_ids), len(labeler_ids), len(label_space))
    return AnswerTable(answers, item_ids, labeler_ids, label_space)


def read_gold(path: str | Path) -> dict[str, str]:
    """Read ``task,label`` rows into a mapping; a task listed twice with two labels is an error."""
    path = Path(path)
    table = _read_table(path, GOLD_FIELDS)
    tasks, labels = table["task"].to_pylist(), table["label"].to_pylist()
    gold = dict(zip(tasks, labels, strict=True))
    if len(gold) < len(tasks) and any(gold[t] != x for t, x in zip(tasks, labels, strict=True)):
        first: dict[str, AnswerRow] = {}
        rows = iter_answer_rows(path, required=GOLD_FIELDS, with_time=False)
        for row in _strict(rows, path, single=True):
            seen = first.setdefault(row.task, row)
            if seen.label != row.label:
                raise gold_conflict(path, row.task, (seen.label, seen.line), (row.label, row.line))
    return gold


def gold_conflict(
    path: Path, task: str, first: tuple[Any, int], other: tuple[Any, int]
) -> InvalidInput:
    """The error for a task given two gold labels: ``(label, line)`` of each."""
    return InvalidInput(
        f"task {task!r} has gold {first[0]!r} (line {first[1]}) and {other[0]!r}; expected one "
        "gold label per task",
        source=str(path),
        line=other[1],
        field="label",
    )


def write_labels_csv(
    out: Path,
    item_ids: list[str],
    names: tuple[str, ...],
    labels: npt.NDArray[np.int64],
    confidence: npt.NDArray[np.floating[Any]],
) -> None:
    """Write ``task,label,confidence`` (an ``ABSTAIN`` label as an empty cell), atomically."""
    codes = np.asarray(labels)
    dictionary = pa.array([*names, ""], type=pa.string())
    label_col = pa.DictionaryArray.from_arrays(
        pa.array(np.where(codes < 0, len(names), codes).astype(np.int32)), dictionary
    ).cast(pa.string())
    table = pa.table(
        {
            "task": pa.array(item_ids, type=pa.string()),
            "label": label_col,
            "confidence": pa.array(np.round(np.asarray(confidence, dtype=np.float64), 6)),
        }
    )
    with atomic_path(out) as tmp:
        pacsv.write_csv(table, tmp, write_options=pacsv.WriteOptions(quoting_style="needed"))
