"""`labelloop agreement`: JSON keys and values, human table, bad input as one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from labelloop.core import agreement as ag
from labelloop.formats.answers import read_answers
from tests import realdata
from tests.conftest import CliResult

Run = Callable[..., CliResult]
TEMP_ANSWERS = Path(__file__).resolve().parent / "data" / "crowd_small" / "temp" / "answers.csv"

SMALL = """worker,task,label
w1,t1,cat
w2,t1,cat
w3,t1,dog
w1,t2,dog
w2,t2,dog
w3,t2,dog
w1,t3,cat
w2,t3,dog
w1,t4,cat
w1,t5,cat
w2,t5,cat
w3,t5,cat
"""


def write(tmp_path: Path, text: str, name: str = "answers.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_json_keys_and_values(cli: Run, tmp_path: Path) -> None:
    path = write(tmp_path, SMALL)
    res = cli("agreement", str(path), "--json", "--n-boot", "50", "--min-pair-items", "2")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    for key in ("percent_agreement", "cohen_kappa_mean", "fleiss_kappa", "krippendorff_alpha"):
        assert set(data[key]) >= {"value", "ci_low", "ci_high", "n_items", "band"}, key
    assert data["n_items"] == 4 and data["n_tasks"] == 5
    assert data["excluded_items"] == {"count": 1, "reason": "single answer", "examples": ["t4"]}
    assert "single answer" in res.err and "'t4'" in res.err
    assert data["labels"] == ["cat", "dog"]
    answers = read_answers(path).answers.deduplicate()
    assert data["krippendorff_alpha"]["value"] == pytest.approx(
        ag.krippendorff_alpha(answers, n_boot=0).value
    )
    assert data["fleiss_kappa"]["value"] == pytest.approx(ag.fleiss_kappa(answers, n_boot=0).value)
    assert data["band"] == data["krippendorff_alpha"]["band"]
    assert data["percent_agreement"]["band"] is None
    assert [row["label"] for row in data["per_label"]] == ["cat", "dog"]


@pytest.mark.parametrize(
    ("name", "alpha"),
    [
        ("music_genre", 0.3010),  # committed copy; krippendorff 0.9.0 (data README: 0.301)
        ("face", 0.4949),  # full data only (no licence stated for a copy); data README
    ],
)
def test_json_on_a_shared_set_is_reproducible(cli: Run, name: str, alpha: float) -> None:
    path = realdata.crowd(name) / "answers.csv"  # neither set has duplicate answers
    first = cli("agreement", str(path), "--json", "--n-boot", "200", "--seed", "5")
    second = cli("agreement", str(path), "--json", "--n-boot", "200", "--seed", "5")
    assert first.code == 0, first.err
    assert first.out == second.out
    data = json.loads(first.out)
    result = data["krippendorff_alpha"]
    assert result["value"] == pytest.approx(alpha, abs=1e-4)
    assert result["ci_low"] <= result["value"] <= result["ci_high"]
    assert data["cohen_kappa_mean"]["n_pairs"] > 0


def test_interval_level_and_report(cli: Run) -> None:
    path = realdata.crowd("emotion") / "answers.csv"
    res = cli("agreement", str(path), "--json", "--n-boot", "0", "--level", "interval", "--report")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["krippendorff_alpha"]["level"] == "interval"
    assert data["krippendorff_alpha"]["value"] == pytest.approx(0.3575, abs=1e-4)
    assert data["krippendorff_alpha"]["ci_low"] is None  # no bootstrap: null, not NaN
    report = data["report"]
    assert set(report) == {"confused_pairs", "uncertain_items", "deviant_labelers"}
    assert len(report["uncertain_items"]) == 5


def test_human_output_has_table_bands_and_report(cli: Run, tmp_path: Path) -> None:
    path = write(tmp_path, SMALL)
    res = cli("agreement", str(path), "--n-boot", "20", "--min-pair-items", "2", "--report")
    assert res.code == 0, res.err
    for text in ("percent agreement", "Fleiss' kappa", "Krippendorff's alpha (nominal)", "95% CI"):
        assert text in res.out
    assert "schema is broken" in res.out
    assert "Label pairs that need guideline edge-case examples" in res.out
    assert "'cat' vs 'dog'" in res.out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "file is empty"),
        ("worker,task\nw1,t1\n", "missing column(s) ['label']"),
        ("worker,task,label\n", "header but no rows"),
        ("worker,task,label\nw1,t1,a\nw2,t2,b\n", "no task has two or more answers"),
        ("worker,task,label\nw1,t1,a\nw1,t1,b\n", "task 't1', line 2"),
    ],
)
def test_bad_input_is_one_clear_line(cli: Run, tmp_path: Path, content: str, expected: str) -> None:
    path = write(tmp_path, content)
    res = cli("agreement", str(path), "--json")
    assert res.code == 2
    assert res.out == ""
    assert expected in res.err
    assert res.err.startswith("error: ")
    assert "Traceback" not in res.err


def test_bad_options(cli: Run, tmp_path: Path) -> None:
    path = write(tmp_path, SMALL)
    res = cli("agreement", str(path), "--level", "ratio")
    assert res.code == 2 and "expected one of ['nominal', 'ordinal', 'interval']" in res.err
    res = cli("agreement", str(path), "--level", "interval")
    assert res.code == 2 and "label 'cat' is not a number" in res.err
    res = cli("agreement", str(tmp_path / "missing.csv"))
    assert res.code == 2 and "file not found" in res.err


def test_keep_first_changes_duplicates(cli: Run, tmp_path: Path) -> None:
    text = SMALL + "w1,t5,dog\n"  # w1 answered t5 cat, then dog
    path = write(tmp_path, text)
    last = json.loads(cli("agreement", str(path), "--json", "--n-boot", "0").out)
    first = json.loads(
        cli("agreement", str(path), "--json", "--n-boot", "0", "--keep", "first").out
    )
    assert last["duplicates_dropped"] == first["duplicates_dropped"] == 1
    assert last["percent_agreement"]["value"] != first["percent_agreement"]["value"]


def test_without_a_file_measures_the_project_s_answers_like_the_file(
    cli: Run, workspace: Path
) -> None:
    import shutil

    shutil.copy(TEMP_ANSWERS, workspace / "answers.csv")
    assert cli("import", "answers", "answers.csv").code == 0
    args = ("--json", "--n-boot", "50", "--report", "--min-pair-items", "5")
    from_file = cli("agreement", "answers.csv", *args)
    from_project = cli("agreement", *args)
    assert from_project.code == 0, from_project.err
    a, b = json.loads(from_file.out), json.loads(from_project.out)
    assert a.pop("file") == "answers.csv" and b.pop("project") == "test"
    assert b.pop("skipped_answers") == 0 and b.pop("kinds") is None
    b.pop("schema_version")
    for entry in b["report"]["deviant_labelers"]:
        assert entry["worker"].startswith("human:")
        entry["worker"] = entry["worker"].removeprefix("human:")
    assert a == b
    # only model answers: there are none
    none = cli("agreement", "--kind", "model")
    assert none.code == 2 and "no answers of model labelers" in none.err
    wrong = cli("agreement", "answers.csv", "--kind", "human")
    assert wrong.code == 2 and "--kind is for project mode" in wrong.err
