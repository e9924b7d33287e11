"""Fast reader of crowd answer files (`worker,task,label[,time]`) and gold files (`task,label`).

Used by the stateless file commands (`labelloop aggregate FILE`, `labelloop agreement FILE`),
where a million rows must load in well under a second: pyarrow parses, dictionary-encodes,
and hands back integer codes. Streaming row-by-row import into a project lives in
:mod:`labelloop.formats.rows`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from labelloop.core.answers import Answers, LabelSpace
from labelloop.errors import InvalidInput
from labelloop.formats.files import atomic_path


@dataclass(frozen=True)
class AnswerTable:
    """Answers read from a file, with the ids behind each code (position = code)."""

    answers: Answers
    item_ids: list[str]
    labeler_ids: list[str]
    label_space: LabelSpace


def _read_string_table(path: Path, required: tuple[str, ...]) -> pa.Table:
    if not path.is_file():
        raise InvalidInput(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise InvalidInput(
            f"file is empty; expected a header {','.join(required)}", source=str(path)
        )
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in required},
                strings_can_be_null=False,
                include_columns=None,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InvalidInput(
            f"could not parse as CSV with header {','.join(required)}: {exc}", source=str(path)
        ) from None
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise InvalidInput(
            f"missing column(s) {missing}; header seen {table.column_names}, "
            f"expected at least {list(required)}",
            source=str(path),
        )
    if table.num_rows == 0:
        raise InvalidInput("file has a header but no rows", source=str(path))
    for name in required:
        col = pc.utf8_trim_whitespace(table[name])
        empty = pc.equal(pc.utf8_length(col), 0)
        if pc.any(empty).as_py():
            row = int(pc.index(empty, True).as_py())
            raise InvalidInput(
                "empty value; expected a non-empty string",
                source=str(path),
                line=row + 2,
                field=name,
            )
        table = table.set_column(table.column_names.index(name), name, col)
    return table


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Sorted distinct values and each row's code into them."""
    encoded = column.combine_chunks().dictionary_encode()
    # Arrow sorts the distinct strings in C++ (bytewise = code point order, as str sorting).
    order = pc.array_sort_indices(encoded.dictionary).to_numpy(zero_copy_only=False)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    idx = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return rank[idx], encoded.dictionary.take(pa.array(order)).to_pylist()


def read_answers_csv(path: str | Path, *, label_space: LabelSpace | None = None) -> AnswerTable:
    """Read ``worker,task,label`` rows into codes (ids sorted, labels in natural order).

    Every row is kept (repeated answers included); apply
    :meth:`~labelloop.core.answers.Answers.deduplicate` for the one-answer-per-pair rule.
    A ``label_space`` restricts labels to a known set; an unknown label names its line.
    """
    path = Path(path)
    table = _read_string_table(path, ("worker", "task", "label"))
    item, item_ids = _codes(table["task"])
    labeler, labeler_ids = _codes(table["worker"])
    encoded = table["label"].combine_chunks().dictionary_encode()
    distinct = [str(v) for v in encoded.dictionary.to_pylist()]
    if label_space is None:
        label_space = LabelSpace.from_values(distinct)
    unknown = [v for v in distinct if v not in label_space]
    if unknown:
        bad = pc.is_in(table["label"], value_set=pa.array(unknown))
        row = int(pc.index(bad, True).as_py())
        raise InvalidInput(
            f"label {unknown[0]!r} is not in the label set {list(label_space.labels)}",
            source=str(path),
            line=row + 2,
            field="label",
        )
    lut = np.asarray([label_space.code(v) for v in distinct], dtype=np.int64)
    label = lut[encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)]
    answers = Answers(item, labeler, label, len(item_ids), len(labeler_ids), len(label_space))
    return AnswerTable(answers, item_ids, labeler_ids, label_space)


def read_gold_csv(path: str | Path) -> dict[str, str]:
    """Read ``task,label`` rows into a mapping; a task listed twice with two labels is an error."""
    path = Path(path)
    table = _read_string_table(path, ("task", "label"))
    gold: dict[str, str] = {}
    for n, (task, label) in enumerate(
        zip(table["task"].to_pylist(), table["label"].to_pylist(), strict=True)
    ):
        seen = gold.setdefault(task, label)
        if seen != label:
            raise InvalidInput(
                f"task {task!r} has gold {seen!r} and {label!r}; expected one gold label per task",
                source=str(path),
                line=n + 2,
                field="label",
            )
    return gold


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
