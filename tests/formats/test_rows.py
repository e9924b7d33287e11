"""Streaming item readers: JSONL, CSV/TSV, Parquet, HF save_to_disk folders."""

from __future__ import annotations

import datetime as dt
import gc
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelloop.core.identity import item_content_hash
from labelloop.core.provenance import canonical_json, content_hash
from labelloop.errors import InvalidInput
from labelloop.formats.rows import (
    ItemRow,
    RejectedRow,
    detect_format,
    iter_row_batches,
    iter_rows,
    write_rejects,
)


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def items(path: Path, **kwargs: Any) -> list[ItemRow]:
    rows = list(iter_rows(path, **kwargs))
    rejected = [r for r in rows if isinstance(r, RejectedRow)]
    assert not rejected, rejected
    return rows  # type: ignore[return-value]


def only_rejected(path: Path, **kwargs: Any) -> RejectedRow:
    rows = list(iter_rows(path, **kwargs))
    rejected = [r for r in rows if isinstance(r, RejectedRow)]
    assert len(rejected) == 1, rows
    return rejected[0]


def expected_hash(data: dict[str, Any], media: str | None = None) -> str:
    return content_hash({"data": data, "media": media})


# --------------------------------------------------------------------------------------- JSONL


def test_jsonl_round_trip(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [
            {"id": "a1", "text": "hello", "n": 3, "tags": ["x", "y"]},
            {"id": 7, "text": "int id", "metadata": {"lang": "en"}, "media": "s3://b/k.png"},
            {"text": "no id"},
        ],
    )
    a, b, c = items(path)
    assert a == ItemRow(
        1, "a1", {"text": "hello", "n": 3, "tags": ["x", "y"]}, {}, None,
        expected_hash({"text": "hello", "n": 3, "tags": ["x", "y"]}),
    )  # fmt: skip
    assert (b.line, b.external_id, b.data, b.metadata, b.media) == (
        2, "7", {"text": "int id"}, {"lang": "en"}, "s3://b/k.png",
    )  # fmt: skip
    assert b.content_hash == expected_hash({"text": "int id"}, "s3://b/k.png")
    assert (c.external_id, c.data) == (None, {"text": "no id"})


def test_jsonl_line_numbers_are_physical(tmp_path: Path) -> None:
    lines = [json.dumps({"id": f"i{n}", "text": f"t {n}"}) for n in range(1, 10_001)]
    lines[7776] = '{"id": "i7777", "text": "broken" "x"}'
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = list(iter_rows(path))
    bad = [r for r in rows if isinstance(r, RejectedRow)]
    assert len(rows) == 10_000
    assert len(bad) == 1
    assert bad[0].line == 7777
    assert bad[0].field is None
    assert bad[0].message == (
        "invalid JSON (Expecting ',' delimiter at column 34); expected one JSON object per line"
    )
    assert bad[0].raw == lines[7776]
    assert [r.line for r in rows[7777:7780]] == [7778, 7779, 7780]


def test_jsonl_blank_lines_skipped_but_counted_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a"}\n\n   \r\n{"id": "b", "x": 1}\r\n\n')
    rows = items(path)
    assert [(r.line, r.external_id) for r in rows] == [(1, "a"), (4, "b")]
    assert rows[1].data == {"x": 1}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[1, 2]", "expected a JSON object, saw a list"),
        ('"text"', "expected a JSON object, saw a string"),
        ("3", "expected a JSON object, saw a number"),
        ("{", "invalid JSON (Expecting property name enclosed in double quotes at column 2); "
              "expected one JSON object per line"),
        ('{"a": 1} {"b": 2}', "invalid JSON (Extra data at column 10); "
                              "expected one JSON object per line"),
    ],
)  # fmt: skip
def test_jsonl_whole_row_problems(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "w.jsonl"
    path.write_text('{"id": "ok"}\n' + line + "\n", encoding="utf-8")
    bad = only_rejected(path)
    assert (bad.line, bad.field, bad.message, bad.raw) == (2, None, message, line)


@pytest.mark.parametrize(
    ("value", "seen"),
    [
        (3.5, "3.5"),
        (True, "true"),
        (None, "null"),
        ("", "an empty string"),
        ("  ", 'whitespace "  "'),
        ({"a": 1}, "an object"),
        ([1], "a list"),
    ],
)
def test_bad_ids_are_rejected_naming_the_id_field(tmp_path: Path, value: Any, seen: str) -> None:
    path = write_jsonl(tmp_path / "ids.jsonl", [{"id": "fine", "x": 1}, {"id": value, "x": 2}])
    bad = only_rejected(path)
    assert bad.line == 2
    assert bad.field == "id"
    assert bad.message == f"expected a non-empty string or integer id, saw {seen}"
    assert json.loads(bad.raw) == {"id": value, "x": 2}


def test_id_field_choice(tmp_path: Path) -> None:
    task = write_jsonl(tmp_path / "t.jsonl", [{"task": "t1", "q": "a"}, {"task": 2, "q": "b"}])
    assert [(r.external_id, r.data) for r in items(task)] == [("t1", {"q": "a"}), ("2", {"q": "b"})]
    both = write_jsonl(tmp_path / "both.jsonl", [{"id": "i1", "task": "summarize", "q": "a"}])
    assert [(r.external_id, r.data) for r in items(both)] == [
        ("i1", {"task": "summarize", "q": "a"})
    ]
    # the first row with an id/task key fixes the id field for the whole file
    mixed = write_jsonl(
        tmp_path / "m.jsonl", [{"q": "x"}, {"id": "i1", "q": "a"}, {"task": "t", "q": "b"}]
    )
    assert [(r.external_id, r.data) for r in items(mixed)] == [
        (None, {"q": "x"}),
        ("i1", {"q": "a"}),
        (None, {"task": "t", "q": "b"}),
    ]
    custom = write_jsonl(tmp_path / "c.jsonl", [{"uid": "u1", "id": "not-the-id", "q": "a"}])
    row = items(custom, id_field="uid")[0]
    assert (row.external_id, row.data) == ("u1", {"id": "not-the-id", "q": "a"})
    with pytest.raises(InvalidInput, match="no row has the id field 'uuid'"):
        list(iter_rows(custom, id_field="uuid"))


def test_metadata_and_media_checks(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"id": "a", "metadata": [1]},
            {"id": "b", "metadata": "{not json"},
            {"id": "c", "media": 5},
            {"id": "d", "media": ""},
            {"id": "e", "metadata": None, "media": None, "x": 1},
            {"id": "f", "metadata": '{"k": 1}'},
        ],
    )
    rows = list(iter_rows(path))
    assert [(r.field, r.message) for r in rows[:4]] == [  # type: ignore[union-attr]
        ("metadata", "saw a list; expected a JSON object"),
        ("metadata", "saw text that is not JSON; expected a JSON object"),
        ("media", "saw 5; expected a media reference (a non-empty URL or path string)"),
        ("media", "saw an empty string; expected a media reference (a non-empty URL or path string)"),
    ]  # fmt: skip
    assert rows[4] == ItemRow(5, "e", {"x": 1}, {}, None, expected_hash({"x": 1}))
    assert isinstance(rows[5], ItemRow) and rows[5].metadata == {"k": 1}


def test_nan_and_infinity_are_rejected_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "nan.jsonl"
    path.write_text(
        '{"id": "a", "score": NaN}\n'
        '{"id": "b", "deep": {"xs": [1, Infinity]}}\n'
        '{"id": "c", "big": 1e999}\n'
        '{"id": "d", "metadata": {"p": -Infinity}}\n'
        '{"id": "e", "ok": 1.5}\n',
        encoding="utf-8",
    )
    a, b, c, d, e = iter_rows(path)
    assert isinstance(a, RejectedRow) and (a.field, a.message) == (
        "score", "saw nan; expected a finite number (JSON has no NaN/Infinity)",
    )  # fmt: skip
    assert isinstance(b, RejectedRow) and (b.field, b.message) == (
        "deep", "at 'deep.xs[1]': saw inf; expected a finite number (JSON has no NaN/Infinity)",
    )  # fmt: skip
    assert isinstance(c, RejectedRow) and c.field == "big"
    assert isinstance(d, RejectedRow) and d.field == "metadata" and "'metadata.p'" in d.message
    assert a.raw == '{"id": "a", "score": NaN}'
    assert isinstance(e, ItemRow)


def test_lone_surrogate_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"id": "a", "t": "x\\ud800y"}\n', encoding="utf-8")
    bad = only_rejected(path)
    assert bad.field == "t"
    assert "lone surrogate" in bad.message


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    path.write_bytes(b'{"id": "a"}\n{"id": "b"}\n{"id": "\xff"}\n')
    with pytest.raises(InvalidInput) as info:
        list(iter_rows(path))
    assert info.value.line == 3
    assert info.value.source == str(path)
    assert "not valid UTF-8 (byte 0xff at byte 9 of the line); expected UTF-8 text" in str(
        info.value
    )


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="file not found"):
        iter_rows(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(InvalidInput, match="file is empty") as info:
        iter_rows(tmp_path / "empty.jsonl")
    assert info.value.source == str(tmp_path / "empty.jsonl")
    (tmp_path / "blank.jsonl").write_text("\n  \n\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="file has no rows"):
        list(iter_rows(tmp_path / "blank.jsonl"))
    (tmp_path / "arr.json").write_text('[{"id": 1}]', encoding="utf-8")
    with pytest.raises(InvalidInput, match="holds a JSON array; expected JSON Lines"):
        iter_rows(tmp_path / "arr.json")
    (tmp_path / "x.xlsx").write_bytes(b"x")
    with pytest.raises(InvalidInput, match=r"unknown format \(suffix '.xlsx'\); expected .jsonl"):
        iter_rows(tmp_path / "x.xlsx")
    with pytest.raises(InvalidInput, match="unknown format 'excel'; expected one of"):
        iter_rows(tmp_path / "x.xlsx", format="excel")
    with pytest.raises(InvalidInput, match="not a Hugging Face dataset"):
        iter_rows(tmp_path)
    with pytest.raises(InvalidInput, match="applies to Hugging Face DatasetDict folders only"):
        iter_rows(tmp_path / "x.xlsx", format="jsonl", split="train")


def test_detect_format(tmp_path: Path) -> None:
    cases = {
        "a.jsonl": "jsonl", "a.NDJSON": "jsonl", "a.json": "jsonl", "a.csv": "csv",
        "a.tsv": "csv", "a.parquet": "parquet", "a.pq": "parquet",
    }  # fmt: skip
    for name, fmt in cases.items():
        assert detect_format(tmp_path / name) == fmt
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "state.json").write_text("{}")
    assert detect_format(tmp_path / "ds") == "hf"
    with pytest.raises(InvalidInput, match="no suffix"):
        detect_format(tmp_path / "README")


def test_format_override(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.txt", [{"id": "a", "x": 1}])
    assert items(path, format="jsonl")[0].external_id == "a"


# ----------------------------------------------------------------------------------------- CSV


def test_csv_quoted_multiline_fields_and_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(
        'id,text,note\n'
        'a,"line one\nline two\nline three",n1\n'
        '\n'
        'b,"has ""quotes"", and, commas",\n'
        'c,"x\r\ny",n3\n'
        'd,plain,n4\n',
        encoding="utf-8",
        newline="",
    )  # fmt: skip
    rows = items(path)
    assert [(r.line, r.external_id) for r in rows] == [(2, "a"), (6, "b"), (7, "c"), (9, "d")]
    assert rows[0].data == {"text": "line one\nline two\nline three", "note": "n1"}
    assert rows[1].data == {"text": 'has "quotes", and, commas'}  # empty cell: field absent
    assert rows[2].data == {"text": "x\r\ny", "note": "n3"}


def test_csv_rows_and_values(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text(
        '\ufefftask,text,metadata,media\n'
        't1,hello,"{""src"": ""web""}",img/1.png\n'
        't2,x,,\n'
        ',no id,,\n'
        't4,too,many,cells,here\n'
        't5,x,[1],\n',
        encoding="utf-8",
    )  # fmt: skip
    rows = list(iter_rows(path))
    assert rows[0] == ItemRow(2, "t1", {"text": "hello"}, {"src": "web"}, "img/1.png",
                              expected_hash({"text": "hello"}, "img/1.png"))  # fmt: skip
    assert rows[1] == ItemRow(3, "t2", {"text": "x"}, {}, None, expected_hash({"text": "x"}))
    assert rows[2] == RejectedRow(
        4, "task", "expected a non-empty string or integer id, saw no value", ",no id,,"
    )
    assert rows[3] == RejectedRow(5, None, "saw 5 cells; expected 4 as in the header",
                                  "t4,too,many,cells,here")  # fmt: skip
    assert rows[4] == RejectedRow(
        6, "metadata", "saw JSON a list; expected a JSON object", "t5,x,[1],"
    )


def test_tsv_and_custom_id(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("key\tid\ttext\nk1\t5\ta, b\n", encoding="utf-8")
    (row,) = items(path, id_field="key")
    assert (row.external_id, row.data) == ("k1", {"id": "5", "text": "a, b"})
    with pytest.raises(InvalidInput, match=r"id field 'nope' is not a column; columns seen: \["):
        list(iter_rows(path, id_field="nope"))


def test_csv_file_level_errors(tmp_path: Path) -> None:
    cases = {
        "blank.csv": ("\n\n", "file has no header"),
        "only_header.csv": ("id,text\n", "file has a header but no rows"),
        "dup.csv": ("id,text,text\n1,a,b\n", "column 'text' appears twice"),
        "index.csv": (",id,text\n0,1,a\n", "column 1 of the header has no name"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(InvalidInput, match=message):
            list(iter_rows(tmp_path / name))
    broken = {
        "open.csv": ('id,text\na,ok\nb,"never closed\nc,x\n', 3, "is never closed"),
        "quote.csv": ('id,text\na,ok\nb,"q"x\n', 3, "could not parse CSV"),
        "long.csv": ("id,text\na," + "x" * 200_000 + "\n", 2, "longer than the csv module's limit"),
    }
    for name, (text, line, message) in broken.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(InvalidInput, match=message) as info:
            list(iter_rows(tmp_path / name))
        assert info.value.line == line
    (tmp_path / "u.csv").write_bytes(b"id,text\na,ok\nb,caf\xe9\n")
    with pytest.raises(InvalidInput, match="not valid UTF-8") as info:
        list(iter_rows(tmp_path / "u.csv"))
    assert info.value.line == 3


# ------------------------------------------------------------------------------------- Parquet


def test_parquet_round_trip_nulls_and_types(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["a", "b", None, "d", "e"],
            "text": ["x", None, "z", "w", "v"],
            "score": [1.5, 2.0, 3.0, float("nan"), 0.5],
            "when": [dt.datetime(2024, 1, 2, 3, 4, 5)] * 5,
            "blob": [None, None, None, None, b"\x00\x01"],
            "metadata": [{"k": 1}, None, None, None, None],
        }
    )
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, row_group_size=2)
    a, b, c, d, e = iter_rows(path)
    assert a == ItemRow(
        1, "a", {"text": "x", "score": 1.5, "when": "2024-01-02T03:04:05"}, {"k": 1}, None,
        expected_hash({"text": "x", "score": 1.5, "when": "2024-01-02T03:04:05"}),
    )  # fmt: skip
    assert isinstance(b, ItemRow) and "text" not in b.data  # null: field absent
    assert isinstance(c, RejectedRow) and (c.line, c.field) == (3, "id")
    assert c.message == "expected a non-empty string or integer id, saw no value"
    assert isinstance(d, RejectedRow) and (d.line, d.field) == (4, "score")
    assert json.loads(d.raw)["id"] == "d"
    assert isinstance(e, RejectedRow) and (e.line, e.field) == (5, "blob")
    assert e.message.startswith("saw 2 bytes of binary data; expected JSON-representable values")


def test_parquet_from_pandas_drops_index_and_keeps_ints(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"task": [10, 11], "text": ["a", "b"]}, index=[5, 6])
    path = tmp_path / "pd.parquet"
    frame.to_parquet(path)
    rows = items(path)
    assert [(r.line, r.external_id, r.data) for r in rows] == [
        (1, "10", {"text": "a"}),
        (2, "11", {"text": "b"}),
    ]


def test_parquet_file_level_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"this is not parquet at all")
    with pytest.raises(InvalidInput, match="could not read as Parquet") as info:
        list(iter_rows(bad))
    assert info.value.source == str(bad)
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"id": pa.array([], pa.string())}), empty)
    with pytest.raises(InvalidInput, match="no rows"):
        list(iter_rows(empty))


# ------------------------------------------------------------------------------ HF datasets


@pytest.fixture(scope="module")
def hf() -> Any:
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    return datasets


def test_hf_dataset_round_trip(tmp_path: Path, hf: Any) -> None:
    ds = hf.Dataset.from_dict(
        {"id": [f"r{i}" for i in range(2500)], "text": [f"t{i}" for i in range(2500)],
         "label": list(range(2500))}
    )  # fmt: skip
    ds.save_to_disk(str(tmp_path / "ds"), num_shards=3)
    rows = items(tmp_path / "ds")
    assert len(rows) == 2500
    assert rows[1234] == ItemRow(1235, "r1234", {"text": "t1234", "label": 1234}, {}, None,
                                 expected_hash({"text": "t1234", "label": 1234}))  # fmt: skip


def test_hf_dataset_dict_reads_all_splits(tmp_path: Path, hf: Any) -> None:
    train = hf.Dataset.from_dict({"id": ["a", "b"], "text": ["x", "y"]})
    test = hf.Dataset.from_dict({"id": ["c"], "text": ["x"]})
    hf.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "dd"))
    rows = items(tmp_path / "dd")
    assert [(r.line, r.external_id, r.metadata) for r in rows] == [
        (1, "a", {"split": "train"}),
        (2, "b", {"split": "train"}),
        (1, "c", {"split": "test"}),
    ]
    assert rows[0].content_hash == rows[2].content_hash  # same content in two splits
    only = items(tmp_path / "dd", split="test")
    assert [(r.external_id, r.metadata) for r in only] == [("c", {"split": "test"})]
    with pytest.raises(InvalidInput, match=r"unknown split 'dev'; the folder has splits"):
        list(iter_rows(tmp_path / "dd", split="dev"))
    # a split folder reads on its own, without split metadata
    assert items(tmp_path / "dd" / "train")[0].metadata == {}


def test_hf_rejects_name_the_split_and_image_bytes(tmp_path: Path, hf: Any) -> None:
    ds = hf.Dataset.from_dict({"id": ["a", ""], "img": [{"bytes": b"\x89PNG", "path": None}] * 2})
    hf.DatasetDict({"val": ds}).save_to_disk(str(tmp_path / "dd"))
    a, b = iter_rows(tmp_path / "dd")
    assert isinstance(a, RejectedRow) and a.field == "img"
    assert a.message.startswith("split 'val': at 'img.bytes': saw 4 bytes of binary data")
    assert isinstance(b, RejectedRow) and (b.line, b.field) == (2, "id")


def test_hf_missing_arrow_files(tmp_path: Path, hf: Any) -> None:
    hf.Dataset.from_dict({"id": ["a"]}).save_to_disk(str(tmp_path / "ds"))
    for arrow in (tmp_path / "ds").glob("*.arrow"):
        arrow.unlink()
    with pytest.raises(InvalidInput, match="arrow data files missing") as info:
        list(iter_rows(tmp_path / "ds"))
    assert info.value.source == str(tmp_path / "ds")


# ------------------------------------------------------------------------- content hash


def test_content_hash_same_across_formats_and_key_order(tmp_path: Path, hf: Any) -> None:
    records = [{"id": "a", "text": "héllo", "label": "pos"}, {"id": "b", "text": "x", "label": "n"}]
    jsonl = write_jsonl(tmp_path / "h.jsonl", records)
    reordered = write_jsonl(
        tmp_path / "r.jsonl",
        [{"label": r["label"], "text": r["text"], "id": r["id"]} for r in records],
    )
    csv_path = tmp_path / "h.csv"
    csv_path.write_text("label,id,text\npos,a,héllo\nn,b,x\n", encoding="utf-8")
    parquet = tmp_path / "h.parquet"
    pq.write_table(pa.Table.from_pylist(records), parquet)
    hf.Dataset.from_list(records).save_to_disk(str(tmp_path / "hf"))
    hashes = {
        str(p): [r.content_hash for r in items(p)]
        for p in (jsonl, reordered, csv_path, parquet, tmp_path / "hf")
    }
    assert len({tuple(h) for h in hashes.values()}) == 1, hashes
    assert hashes[str(jsonl)][0] == expected_hash({"text": "héllo", "label": "pos"})
    # a different id with the same content has the same hash
    other = write_jsonl(tmp_path / "o.jsonl", [{"id": "zzz", "text": "héllo", "label": "pos"}])
    assert items(other)[0].content_hash == hashes[str(jsonl)][0]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(data=st.dictionaries(st.text(), json_values, max_size=6), media=st.none() | st.text())
def test_fast_hash_equals_content_hash(data: dict[str, Any], media: str | None) -> None:
    try:
        reference = expected_hash(data, media)
    except UnicodeEncodeError:  # lone surrogates: rejected rows, never hashed
        return
    assert item_content_hash(data, media) == reference
    # the prebuilt encoder behind canonical_json equals the documented json.dumps form
    assert canonical_json(data) == json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.dictionaries(st.sampled_from(["id", "a", "b", "metadata", "media"]),
                                     json_values, max_size=5), min_size=1, max_size=5))  # fmt: skip
def test_every_jsonl_row_is_an_item_or_a_rejection(tmp_path_factory: Any, rows: list[Any]) -> None:
    path = write_jsonl(tmp_path_factory.mktemp("h") / "h.jsonl", rows)
    out = list(iter_rows(path))
    assert [r.line for r in out] == list(range(1, len(rows) + 1))
    for src, row in zip(rows, out, strict=True):
        if isinstance(row, ItemRow):
            data = {k: v for k, v in src.items() if k not in ("id", "metadata", "media")}
            assert row.data == data
            assert row.content_hash == expected_hash(data, src.get("media"))
            assert row.metadata == (src.get("metadata") or {})
        else:
            assert row.field in ("id", "metadata", "media")


# ------------------------------------------------------------------ batches, rejects, memory


def test_iter_row_batches_and_write_rejects(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        "".join(f'{{"id": "{n}"}}\n' if n % 10 else "oops\n" for n in range(1, 26)),
        encoding="utf-8",
    )
    batches = list(iter_row_batches(path, batch_size=10))
    assert [len(b) for b in batches] == [10, 10, 5]
    rejected = [r for b in batches for r in b if isinstance(r, RejectedRow)]
    assert [r.line for r in rejected] == [10, 20]
    out = tmp_path / "rejects.jsonl"
    assert write_rejects(rejected, out) == 2
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first == {
        "line": 10,
        "field": None,
        "message": "invalid JSON (Expecting value at column 1); expected one JSON object per line",
        "raw": "oops",
    }


def _peak_bytes(path: Path) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        for _ in iter_rows(path):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_memory_does_not_grow_with_file_size(tmp_path: Path, fmt: str) -> None:
    def make(n: int) -> Path:
        path = tmp_path / f"{n}.{fmt}"
        if fmt == "jsonl":
            write_jsonl(path, [{"id": f"i{i}", "text": f"some short text {i}"} for i in range(n)])
        elif fmt == "csv":
            path.write_text(
                "id,text\n" + "".join(f"i{i},some short text {i}\n" for i in range(n)), "utf-8"
            )
        else:
            pq.write_table(
                pa.table({"id": [f"i{i}" for i in range(n)],
                          "text": [f"some short text {i}" for i in range(n)]}),
                path, row_group_size=50_000,
            )  # fmt: skip
        return path

    small, large = _peak_bytes(make(5_000)), _peak_bytes(make(20_000))
    assert large < 2_000_000, large
    assert large < small * 1.5 + 100_000, (small, large)


def test_streaming_is_lazy(tmp_path: Path) -> None:
    path = tmp_path / "lazy.jsonl"
    path.write_bytes(b'{"id": "a"}\n' + b"\xff\n")
    rows = iter_rows(path)  # no error yet: nothing read past the checks
    assert next(rows).external_id == "a"  # type: ignore[union-attr]
    with pytest.raises(InvalidInput):
        next(rows)


def test_decimal_values_become_strings(tmp_path: Path) -> None:
    import decimal

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"id": ["a"], "price": pa.array([decimal.Decimal("1.25")])}), path)
    (row,) = items(path)
    assert row.data == {"price": "1.25"}
