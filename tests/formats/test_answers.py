"""The one reader of answer and gold files: rows with lines, CSV and JSONL, fast and slow paths."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelloop.core.answers import LabelSpace
from labelloop.errors import InvalidInput
from labelloop.formats.answers import (
    GOLD_FIELDS,
    AnswerRow,
    AnswerTable,
    _arrow_table,
    _rows_table,
    iter_answer_rows,
    read_answers,
    read_gold,
)
from labelloop.formats.rows import RejectedRow

ROWS = [
    {"worker": "w1", "task": "t1", "label": "cat", "time": "12.5"},
    {"worker": "w2", "task": "t1", "label": "dog"},
    {"worker": "w1", "task": "t2", "label": "dog", "time": "2026-01-02T03:04:05Z"},
    {"worker": "w3", "task": "t2", "label": "dog"},
]


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[object], blank_after: int | None = None) -> Path:
    lines = [json.dumps(r) for r in rows]
    if blank_after is not None:
        lines.insert(blank_after, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def csv_text(rows: list[dict[str, str]]) -> str:
    body = [f"{r['worker']},{r['task']},{r['label']},{r.get('time', '')}" for r in rows]
    return "\n".join(["worker,task,label,time", *body]) + "\n"


def same_table(a: AnswerTable, b: AnswerTable) -> bool:
    return (
        a.item_ids == b.item_ids
        and a.labeler_ids == b.labeler_ids
        and a.label_space.labels == b.label_space.labels
        and all(
            np.array_equal(getattr(a.answers, f), getattr(b.answers, f))
            for f in ("item", "labeler", "label")
        )
    )


def test_csv_and_jsonl_give_the_same_rows_with_their_lines(tmp_path: Path) -> None:
    csv_rows = list(iter_answer_rows(write_csv(tmp_path / "a.csv", csv_text(ROWS))))
    jsonl_rows = list(iter_answer_rows(write_jsonl(tmp_path / "a.jsonl", ROWS, blank_after=2)))
    assert [r.line for r in csv_rows] == [2, 3, 4, 5]
    assert [r.line for r in jsonl_rows] == [1, 2, 4, 5]  # the blank line 3 is counted
    strip = [(r.worker, r.task, r.label, r.time) for r in csv_rows]
    assert strip == [(r.worker, r.task, r.label, r.time) for r in jsonl_rows]
    assert strip[0] == ("w1", "t1", "cat", "12.5") and strip[1][3] is None


def test_jsonl_integers_become_text_and_numbers_are_times(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"worker": 7, "task": 12, "label": 1, "time": 3.5}])
    assert list(iter_answer_rows(path)) == [AnswerRow(1, "12", "1", "7", "3.5")]


@pytest.mark.parametrize(
    ("row", "field", "needle"),
    [
        ({"worker": "w", "task": "t"}, "label", "missing field"),
        ({"worker": "w", "task": " ", "label": "a"}, "task", "saw an empty string"),
        ({"worker": True, "task": "t", "label": "a"}, "worker", "saw a boolean"),
        ({"worker": "w", "task": "t", "label": None}, "label", "saw null; expected a label"),
        ({"worker": "w", "task": "t", "label": ["a", 2.5]}, "label", "item 1 of the list"),
        ({"worker": "w", "task": "t", "label": "a", "time": [1]}, "time", "saw a list"),
        (["w", "t", "a"], None, "saw JSON a list; expected a JSON object"),
    ],
)
def test_bad_jsonl_rows_are_rejected_naming_line_and_field(
    tmp_path: Path, row: object, field: str | None, needle: str
) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [ROWS[0], row])
    first, second = iter_answer_rows(path)
    assert isinstance(first, AnswerRow)
    assert isinstance(second, RejectedRow)
    assert (second.line, second.field) == (2, field) and needle in second.message
    assert json.loads(second.raw) == row


def test_csv_label_delimiter_splits_cells_and_rejects_empty_parts(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "worker,task,label\nw1,t1,a | b\nw1,t2,a||b\nw1,t3,c\n")
    rows = list(iter_answer_rows(path, label_delimiter="|"))
    assert isinstance(rows[0], AnswerRow) and rows[0].label == ("a", "b")
    assert isinstance(rows[1], RejectedRow) and rows[1].line == 3 and rows[1].field == "label"
    assert "empty label between '|' delimiters" in rows[1].message
    assert isinstance(rows[2], AnswerRow) and rows[2].label == ("c",)
    # without a delimiter a cell is one label, whatever it holds
    assert next(iter(iter_answer_rows(path))).label == "a | b"  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="applies to CSV files"):
        iter_answer_rows(write_jsonl(tmp_path / "a.jsonl", ROWS), label_delimiter="|")


def test_csv_row_problems_are_rows_and_file_problems_raise(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "worker,task,label\nw1,t1,a,extra\n\nw1,,b\nw2,t2,c\n")
    rows = list(iter_answer_rows(path))
    assert [(r.line, type(r).__name__) for r in rows] == [
        (2, "RejectedRow"),
        (4, "RejectedRow"),
        (5, "AnswerRow"),
    ]
    assert "saw 4 fields; expected 3" in rows[0].message  # type: ignore[union-attr]
    assert rows[1].field == "task"  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match=r"line 1: missing column\(s\) \['label'\]"):
        list(iter_answer_rows(write_csv(tmp_path / "b.csv", "worker,task\nw,t\n")))
    with pytest.raises(InvalidInput, match="appear twice in the header"):
        list(iter_answer_rows(write_csv(tmp_path / "c.csv", "worker,task,label,task\nw,t,a,u\n")))
    bad_utf8 = tmp_path / "d.csv"
    bad_utf8.write_bytes(b"worker,task,label\nw,t,a\nw,t,\xff\n")
    with pytest.raises(InvalidInput, match="line 3: not valid UTF-8"):
        list(iter_answer_rows(bad_utf8))


def test_fast_path_and_row_path_read_the_same_tables(tmp_path: Path) -> None:
    clean = write_csv(tmp_path / "clean.csv", csv_text(ROWS))
    table = read_answers(clean)
    # what pyarrow parses equals what the streaming reader gives
    names = ("worker", "task", "label")
    fast = _arrow_table(clean, "csv", names)
    assert fast is not None and fast.equals(_rows_table(clean, names))
    jsonl_fast = _arrow_table(write_jsonl(tmp_path / "clean.jsonl", ROWS), "jsonl", names)
    assert jsonl_fast is not None and jsonl_fast.equals(fast)
    # files pyarrow cannot take (a whitespace-only line, padded cells, integer ids in JSONL)
    # are read by the streaming reader with the same result
    messy = write_csv(
        tmp_path / "messy.csv",
        "\ufeffworker,task,label,time\n w1 ,t1,cat,12.5\n   \nw2,t1,dog,\n"
        "w1,t2,dog,2026-01-02T03:04:05Z\nw3,t2, dog ,\n",
    )
    assert same_table(read_answers(messy), table)
    jsonl = write_jsonl(tmp_path / "a.jsonl", ROWS, blank_after=1)
    assert same_table(read_answers(jsonl), table)
    ints = write_jsonl(tmp_path / "ints.jsonl", [{"worker": 1, "task": 2, "label": "x"}])
    assert read_answers(ints).item_ids == ["2"]


def test_unknown_label_names_its_physical_line(tmp_path: Path) -> None:
    # a blank line and a quoted two-line cell before the bad row: line 6, not data row 4 + 1
    path = write_csv(
        tmp_path / "a.csv",
        'worker,task,label\nw1,"t\n1",cat\n\nw2,t1,cat\nw3,t1,dgo\n',
    )
    with pytest.raises(InvalidInput, match=r"line 6, field 'label': label 'dgo' is not in"):
        read_answers(path, label_space=LabelSpace(("cat",)))


def test_two_objects_on_one_jsonl_line_are_refused_by_both_paths(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps(ROWS[1]) + " " + json.dumps(ROWS[2]))
    with pytest.raises(InvalidInput, match="line 2: invalid JSON"):
        read_answers(path)


def test_multi_label_answers_cannot_be_read_as_a_table(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [ROWS[0], {**ROWS[1], "label": ["cat", "dog"]}])
    with pytest.raises(InvalidInput) as info:
        read_answers(path)
    message = str(info.value)
    assert "line 2, field 'label'" in message and "single-label answers only" in message


def test_gold_in_both_formats_and_a_conflict_names_both_lines(tmp_path: Path) -> None:
    gold = [{"task": "t1", "label": "cat"}, {"task": "t2", "label": "dog"}]
    as_jsonl = read_gold(write_jsonl(tmp_path / "g.jsonl", gold))
    assert as_jsonl == read_gold(write_csv(tmp_path / "g.csv", "task,label\nt1,cat\nt2,dog\n"))
    assert as_jsonl == {"t1": "cat", "t2": "dog"}
    clash = write_csv(tmp_path / "c.csv", "task,label\nt1,cat\n\nt2,dog\nt1,dog\n")
    with pytest.raises(InvalidInput, match=r"line 5, field 'label'.*'cat' \(line 2\) and 'dog'"):
        read_gold(clash)
    rows = list(iter_answer_rows(clash, required=GOLD_FIELDS, with_time=False))
    assert all(isinstance(r, AnswerRow) and r.worker is None for r in rows)


def test_empty_and_headerless_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="file is empty; expected a header worker,task,label"):
        read_answers(write_csv(tmp_path / "a.csv", ""))
    with pytest.raises(InvalidInput, match="file has a header but no rows"):
        read_answers(write_csv(tmp_path / "b.csv", "worker,task,label\n"))
    with pytest.raises(InvalidInput, match="file has no rows"):
        read_answers(write_csv(tmp_path / "c.jsonl", "\n\n"))


cells = st.text(alphabet=st.sampled_from(list("ab ,\"'|\t\n\r;é\u2028x")), min_size=0, max_size=6)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(cells, cells, cells), min_size=1, max_size=6))
def test_pyarrow_never_accepts_what_the_row_reader_reads_differently(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str, str]]
) -> None:
    path = tmp_path_factory.mktemp("prop") / "a.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["worker", "task", "label"])
        writer.writerows(rows)
    names = ("worker", "task", "label")
    fast = _arrow_table(path, "csv", names)
    try:
        slow = _rows_table(path, names)
    except InvalidInput:
        assert fast is None  # what the row reader refuses, the fast path never accepts
        return
    if fast is not None:
        assert fast.equals(slow)
