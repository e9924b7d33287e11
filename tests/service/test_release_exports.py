"""Release exporters (csv, hf, label_studio, next to jsonl and parquet): each read back, each
re-exported bit for bit, on single-label and multi-label projects."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from labelloop import registry
from labelloop.service.project.schemas import apply_schema_file
from labelloop.service.release.export import export_release
from labelloop.service.release.releases import create_release
from labelloop.service.source.imports import import_answers, import_gold
from labelloop.store.engine import Store
from tests.service.test_release import new_project, store  # noqa: F401  (store: a fixture)

FORMATS = ("jsonl", "csv", "parquet", "hf", "label_studio")


def files_sha256(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def read_back(fmt: str, folder: Path) -> list[dict]:
    """The exported rows, read by a reader that is not ours where one exists."""
    if fmt == "jsonl":
        return [json.loads(x) for x in (folder / "labels.jsonl").read_text().splitlines()]
    if fmt == "csv":
        with open(folder / "labels.csv", encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(folder / "labels.parquet").to_pylist()
    if fmt == "hf":
        import datasets

        return datasets.load_from_disk(str(folder)).to_list()
    assert fmt == "label_studio"
    return json.loads((folder / "tasks.json").read_text())


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reads_back_and_reexports_bit_for_bit(store, tmp_path, fmt):  # noqa: F811
    create_release(store, tmp_path, None, "v1", method="majority_vote")
    out = tmp_path / "exports"
    first = export_release(store, None, "v1", fmt, out)
    folder = Path(first.path)
    manifest = json.loads((folder / "manifest.json").read_text())
    sums = files_sha256(folder)
    assert {n: m["sha256"] for n, m in manifest["files"].items()} == {
        n: h for n, h in sums.items() if n != "manifest.json"
    }
    again = export_release(store, None, "v1", fmt, tmp_path / "elsewhere")
    assert again.sha256 == first.sha256 and files_sha256(Path(again.path)) == sums
    rows = read_back(fmt, folder)
    if fmt == "label_studio":
        by_item = {task["data"]["item"]: task for task in rows}
        assert sorted(by_item) == ["t1", "t2", "t3"]
        t1 = by_item["t1"]
        people = [a for a in t1["annotations"] if not a["ground_truth"]]
        assert [a["result"][0]["value"]["choices"] for a in people] == [["spam"], ["spam"], ["ham"]]
        assert all(a["lead_time"] == 12.5 for a in people)
        names = t1["meta"]["labelloop"]["labelers"]
        assert [names[str(a["completed_by"])].split(":")[1] for a in people] == [
            "ann",
            "bob",
            "cat",
        ]
        (aggregate,) = t1["predictions"]
        assert aggregate["model_version"] == "labelloop:majority_vote.v1"
        assert aggregate["score"] == pytest.approx(2 / 3)
        assert aggregate["result"][0]["value"]["choices"] == ["spam"]
        (gold,) = [a for a in by_item["t3"]["annotations"] if a["ground_truth"]]
        assert gold["result"][0]["value"]["choices"] == ["ham"]
        return
    by_item = {r["item"]: r for r in rows}
    assert {k: r["label"] for k, r in by_item.items()} == {"t1": "spam", "t2": "ham", "t3": "ham"}
    t1 = by_item["t1"]
    assert {k: str(r["source"]) for k, r in by_item.items()}["t3"] == "gold"
    assert float(t1["confidence"]) == pytest.approx(2 / 3)
    assert str(t1["method"]) == "majority_vote.v1" and str(t1["schema_version"]) == "1.0"
    lists = {
        c: json.loads(t1[c]) if fmt == "csv" else t1[c]
        for c in ("labelers", "labeler_kinds", "answer_labels", "time_spent_ms", "answered_at")
    }
    assert [x.split(":")[1] for x in lists["labelers"]] == ["ann", "bob", "cat"]
    assert lists["labeler_kinds"] == ["human"] * 3
    assert lists["answer_labels"] == ["spam", "spam", "ham"]
    assert lists["time_spent_ms"] == [12500] * 3
    assert all(x.startswith("20") for x in lists["answered_at"])
    soft = json.loads(t1["soft_label"]) if fmt == "csv" else t1["soft_label"]
    soft = dict(soft) if fmt == "parquet" else soft
    if fmt == "hf":
        soft = {x["label"]: x["p"] for x in soft}
    assert soft == pytest.approx({"ham": 1 / 3, "spam": 2 / 3}, abs=1e-6)


MULTI_SCHEMA = """\
name: tags
version: "1"
task: multi_label
min_labels: 1
inputs:
  - name: text
    type: text
labels:
  - name: red
    description: Red.
  - name: green
    description: Green.
  - name: blue
    description: Blue.
"""


@pytest.fixture
def multi(database_url: str, tmp_path: Path) -> Store:
    s = new_project(database_url, tmp_path, "tags")
    (tmp_path / "schema.yaml").write_text(MULTI_SCHEMA)
    apply_schema_file(s, None, tmp_path / "schema.yaml")
    answers = tmp_path / "answers.jsonl"
    rows = [("ann", "m1", ["red", "blue"]), ("bob", "m1", ["red"]), ("ann", "m2", ["green"])]
    answers.write_text(
        "".join(json.dumps({"worker": w, "task": k, "label": v}) + "\n" for w, k, v in rows)
    )
    import_answers(s, None, answers)
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        json.dumps({"task": "m1", "label": ["blue", "red"]})
        + "\n"
        + json.dumps({"task": "m2", "label": ["green"]})
        + "\n"
    )
    import_gold(s, None, gold)
    return s


@pytest.mark.parametrize("fmt", FORMATS)
def test_multi_label_values_are_lists(multi, tmp_path, fmt):
    create_release(multi, tmp_path, None, "v1", method="majority_vote")
    out = tmp_path / "exports"
    first = export_release(multi, None, "v1", fmt, out)
    again = export_release(multi, None, "v1", fmt, tmp_path / "elsewhere")
    assert files_sha256(Path(first.path)) == files_sha256(Path(again.path))
    rows = read_back(fmt, Path(first.path))
    if fmt == "label_studio":
        gold = {
            t["data"]["item"]: next(a for a in t["annotations"] if a["ground_truth"]) for t in rows
        }
        got = {k: sorted(a["result"][0]["value"]["choices"]) for k, a in gold.items()}
        assert got == {"m1": ["blue", "red"], "m2": ["green"]}
        return
    labels = {r["item"]: r["label"] for r in rows}
    if fmt != "jsonl":  # text columns hold a multi-label value as JSON text
        labels = {k: json.loads(v) for k, v in labels.items()}
    assert {k: sorted(v) for k, v in labels.items()} == {"m1": ["blue", "red"], "m2": ["green"]}
    m1 = {r["item"]: r for r in rows}["m1"]
    answered = json.loads(m1["answer_labels"]) if fmt == "csv" else m1["answer_labels"]
    if fmt in ("parquet", "hf"):  # a list of strings: each a label as JSON text
        answered = [json.loads(v) for v in answered]
    assert sorted(tuple(sorted(v)) for v in answered) == [("blue", "red"), ("red",)]


def test_exporters_are_registered():
    assert {"csv.v1", "hf.v1", "jsonl.v1", "label_studio.v1", "parquet.v1"} <= set(
        registry.exporters
    )
