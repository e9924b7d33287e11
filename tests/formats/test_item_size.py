"""Per-item size limit: every reader rejects items over ``max_item_bytes`` naming line and size,
and JSONL/CSV never hold an oversized line whole."""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelloop.errors import InvalidInput
from labelloop.formats.rows import ItemRow, RejectedRow, _arrow_sizes, iter_rows
from labelloop.settings import DEFAULT_MAX_ITEM_BYTES, get_settings


def read(path: Path, **kwargs: Any) -> list[ItemRow | RejectedRow]:
    return list(iter_rows(path, **kwargs))


def line_of(n: int, key: str) -> bytes:
    """A JSONL line of exactly ``n`` bytes (without its line break)."""
    base = json.dumps({"id": key, "text": ""}).encode()
    return json.dumps({"id": key, "text": "x" * (n - len(base))}).encode()


def test_default_is_one_mebibyte_and_the_setting_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert DEFAULT_MAX_ITEM_BYTES == 1 << 20 == get_settings().max_item_bytes
    monkeypatch.setenv("LABELLOOP_MAX_ITEM_BYTES", "4096")
    assert get_settings().max_item_bytes == 4096
    monkeypatch.setenv("LABELLOOP_MAX_ITEM_BYTES", "0")
    from labelloop.errors import ConfigError

    with pytest.raises(ConfigError, match=r"LABELLOOP_MAX_ITEM_BYTES='0'.*greater than or equal"):
        get_settings()


def test_jsonl_lines_at_and_over_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_bytes(
        line_of(60, "a") + b"\n"  # at the limit
        + line_of(61, "b") + b"\n"  # one byte over
        + line_of(60, "c") + b"\r\n"  # the line break does not count
        + b"\n"  # blank line, still counted
        + line_of(200, "d") + b"\n"
        + line_of(59, "e") + b"\n"
        + line_of(61, "f")  # last line, no line break
    )  # fmt: skip
    rows = read(path, max_item_bytes=60)
    ok = [r.external_id for r in rows if isinstance(r, ItemRow)]
    bad = [r for r in rows if isinstance(r, RejectedRow)]
    assert ok == ["a", "c", "e"]
    assert [(r.line, r.field) for r in bad] == [(2, None), (5, None), (7, None)]
    assert bad[0].message.startswith("item is 61 bytes; expected at most 60 bytes")
    assert "item is 200 bytes" in bad[1].message and "--max-item-bytes" in bad[1].message
    assert bad[1].raw.startswith('{"id": "d", "text": "xxx') and bad[1].raw.endswith("...")
    # no limit: every row is an item
    assert all(isinstance(r, ItemRow) for r in read(path, max_item_bytes=None))


def test_jsonl_oversized_line_is_never_held_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as fh:
        fh.write(line_of(50, "small") + b"\n")
        fh.write(b'{"id": "huge", "text": "')
        for _ in range(40):
            fh.write(b"y" * (1 << 20))
        fh.write(b'"}\n')
        fh.write(line_of(50, "after") + b"\n")
    gc.collect()
    tracemalloc.start()
    try:
        rows = read(path, max_item_bytes=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [type(r).__name__ for r in rows] == ["ItemRow", "RejectedRow", "ItemRow"]
    huge = rows[1]
    assert isinstance(huge, RejectedRow) and huge.line == 2
    assert f"item is {40 * (1 << 20) + 26:,} bytes; expected at most 1,048,576" in huge.message
    assert len(huge.raw) < 300
    assert peak < 8 * (1 << 20), peak  # a 40 MiB line, read 1 MiB at a time


def test_csv_records_over_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(
        b"id,text\n"
        b"a," + b"x" * 38 + b"\n"  # 40 bytes: at the limit
        b"b," + b"x" * 39 + b"\n"  # 41 bytes
        b'c,"multi\nline ' + b"z" * 40 + b'"\n'  # one record over two lines
        b"d," + b"w" * 5000 + b"\r\n"  # a physical line over the limit
        b"e,after\n"
    )  # fmt: skip
    rows = read(path, max_item_bytes=40)
    assert [r.external_id for r in rows if isinstance(r, ItemRow)] == ["a", "e"]
    bad = [r for r in rows if isinstance(r, RejectedRow)]
    assert [(r.line, r.message.split(";")[0]) for r in bad] == [
        (3, "item is 41 bytes"),
        (4, "item is 55 bytes"),
        (6, "item is 5,002 bytes"),
    ]
    assert bad[1].raw.startswith("c,") and bad[2].raw.startswith("d,www")
    rows = read(path, max_item_bytes=None)
    assert all(isinstance(r, ItemRow) for r in rows) and rows[-1].line == 7


def test_csv_header_over_the_limit_raises(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"column_{i}" for i in range(100)) + "\nx\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"line 1: header line is over the limit of 100 bytes"):
        read(path, max_item_bytes=100)


def test_parquet_rows_over_the_limit(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["a", "b", "c", "d"],
            "text": ["x" * 10, "y" * 100, None, "é" * 5],
            "tags": [["t"], [], ["u" * 200], None],
        }
    )
    pq.write_table(table, tmp_path / "items.parquet")
    rows = read(tmp_path / "items.parquet", max_item_bytes=50)
    assert [type(r).__name__ for r in rows] == ["ItemRow", "RejectedRow", "RejectedRow", "ItemRow"]
    assert rows[0].data == {"text": "x" * 10, "tags": ["t"]}  # type: ignore[union-attr]
    assert (rows[1].line, rows[2].line) == (2, 3)
    assert rows[1].message.startswith("item is 101 bytes; expected at most 50")  # type: ignore[union-attr]
    assert rows[2].message.startswith("item is 201 bytes")  # type: ignore[union-attr]
    assert rows[3].data == {"text": "é" * 5}  # type: ignore[union-attr]


def test_hf_rows_over_the_limit_name_the_split(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"id": ["a", "b"], "text": ["ok", "z" * 500]}),
            "test": datasets.Dataset.from_dict({"id": ["c"], "text": ["fine"]}),
        }
    ).save_to_disk(str(tmp_path / "hf"))
    rows = read(tmp_path / "hf", max_item_bytes=100)
    bad = [r for r in rows if isinstance(r, RejectedRow)]
    assert [r.external_id for r in rows if isinstance(r, ItemRow)] == ["a", "c"]
    assert len(bad) == 1 and bad[0].line == 2
    assert bad[0].message.startswith("split 'train': item is 501 bytes; expected at most 100")


def test_arrow_sizes_of_nested_values() -> None:
    strings = pa.array(["ab", None, "é"])
    assert _arrow_sizes(strings).tolist() == [2, 0, 2]
    lists = pa.array([["ab", "c"], None, [], ["é"]])
    assert _arrow_sizes(lists).tolist() == [3, 0, 0, 2]
    structs = pa.array([{"a": "xyz", "b": 1}, {"a": None, "b": 2}])
    assert _arrow_sizes(structs).tolist() == [3 + 8, 8]
    assert _arrow_sizes(pa.array([1.5, None], pa.float32())).tolist() == [4, 4]
    sliced = pa.array([["a"], ["bb", "ccc"], ["dddd"]]).slice(1, 2)
    assert _arrow_sizes(sliced).tolist() == [5, 4]
    maps = pa.array([[("k", "v" * 30)]], pa.map_(pa.string(), pa.string()))
    assert int(_arrow_sizes(maps)[0]) >= 31
    assert _arrow_sizes(pa.array([], pa.string())).dtype == np.int64
    # categorical (dictionary) values count by their value, not their index width
    codes = pa.array(["x" * 100, "y", "x" * 100, None]).dictionary_encode()
    assert _arrow_sizes(codes).tolist() == [100, 1, 100, 0]
    if hasattr(pa, "string_view"):  # pyarrow >= 16
        views = pa.array(["ab", None, "cde"], pa.string_view())
        assert _arrow_sizes(views).tolist() == [2, 0, 3]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_limit_is_invalid_input(tmp_path: Path, bad: Any) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": "a"}\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"max_item_bytes is .*expected a whole number"):
        iter_rows(path, max_item_bytes=bad)


def test_csv_oversized_line_inside_a_quoted_field_keeps_the_records_after_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(
        b"id,text\n"
        b'a,"opens here ' + b"q" * 500 + b"\n"  # too long, and its quoted field goes on
        b'still a, ""quoted"" field"\n'
        b'b,"one ' + b"r" * 500 + b'\n"\n'  # a short record whose second line closes it
        b"c,last\n"
    )  # fmt: skip
    rows = read(path, max_item_bytes=100)
    assert [(type(r).__name__, r.line) for r in rows] == [
        ("RejectedRow", 2),
        ("RejectedRow", 4),
        ("ItemRow", 6),
    ]
    assert rows[0].raw.startswith('a,"opens here qqq')  # type: ignore[union-attr]
    assert rows[2].data == {"text": "last"}  # type: ignore[union-attr]
