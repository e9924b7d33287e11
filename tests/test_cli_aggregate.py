"""`labelloop aggregate` (file mode): output file, JSON summary, gold scoring, bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult

SMALL = Path(__file__).resolve().parent / "data" / "crowd_small"
Run = Callable[..., CliResult]

ANSWERS = """worker,task,label
w1,t1,cat
w2,t1,cat
w3,t1,dog
w1,t2,dog
w2,t2,dog
w3,t2,dog
w1,t3,cat
w2,t3,cat
w3,t3,cat
w1,t4,dog
w2,t4,cat
w3,t4,dog
"""


def write(tmp_path: Path, text: str, name: str = "answers.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read_out(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_writes_task_label_confidence(cli: Run, tmp_path: Path) -> None:
    src = write(tmp_path, ANSWERS)
    out = tmp_path / "out.csv"
    res = cli("aggregate", str(src), "--method", "majority_vote", "--out", str(out))
    assert res.code == 0, res.err
    assert out.read_text().splitlines()[0].replace('"', "") == "task,label,confidence"
    rows = read_out(out)
    assert [r["task"] for r in rows] == ["t1", "t2", "t3", "t4"]
    assert [r["label"] for r in rows] == ["cat", "dog", "cat", "dog"]
    assert float(rows[0]["confidence"]) == pytest.approx(2 / 3, abs=1e-6)
    assert float(rows[1]["confidence"]) == 1.0
    assert "majority_vote.v1" in res.out and "wrote" in res.out


def test_json_summary_and_gold_accuracy_without_clamping(cli: Run, tmp_path: Path) -> None:
    src = SMALL / "rte" / "answers.csv"
    gold = SMALL / "rte" / "gold.csv"
    out = tmp_path / "out.csv"
    res = cli(
        "aggregate",
        str(src),
        "--method",
        "dawid_skene",
        "--gold",
        str(gold),
        "--out",
        str(out),
        "--json",
    )
    assert res.code == 0, res.err
    summary = json.loads(res.out)
    assert summary["method"] == "dawid_skene.v1"
    assert summary["params"]["aggregator"] == "dawid_skene.v1"
    assert summary["iterations"] >= 2 and summary["converged"] is True
    assert 0 < summary["seconds"] < 5
    assert summary["n_tasks"] == 800 and summary["n_answers"] == 8000
    assert summary["gold"]["tasks_scored"] == 800 and summary["gold"]["clamped"] is False
    assert 0.9 < summary["gold"]["accuracy"] < 0.95  # DS on rte: ~92.7 %, not a trivial 100 %
    assert summary["accuracy"] == summary["gold"]["accuracy"]
    assert len(read_out(out)) == 800

    clamped = cli(
        "aggregate",
        str(src),
        "-m",
        "dawid_skene",
        "--gold",
        str(gold),
        "--clamp-gold",
        "-o",
        str(out),
        "--json",
    )
    assert json.loads(clamped.out)["gold"]["accuracy"] == 1.0


def test_default_method_is_auto(cli: Run, tmp_path: Path) -> None:
    res = cli(
        "aggregate", str(write(tmp_path, ANSWERS)), "--out", str(tmp_path / "o.csv"), "--json"
    )
    assert res.code == 0, res.err
    assert json.loads(res.out)["method"] == "auto.v3"


def test_repeated_answers_keep_the_last(cli: Run, tmp_path: Path) -> None:
    # w3 first says dog then corrects to cat on t1: the last answer counts
    text = "worker,task,label\nw1,t1,cat\nw2,t1,dog\nw3,t1,dog\nw3,t1,cat\nw1,t2,cat\nw2,t2,cat\n"
    out = tmp_path / "o.csv"
    res = cli(
        "aggregate", str(write(tmp_path, text)), "-m", "majority_vote", "-o", str(out), "--json"
    )
    summary = json.loads(res.out)
    assert summary["duplicates_dropped"] == 1 and summary["n_answers_used"] == 5
    assert read_out(out)[0]["label"] == "cat"
    assert float(read_out(out)[0]["confidence"]) == pytest.approx(2 / 3, abs=1e-6)


def test_row_order_does_not_change_the_output(cli: Run, tmp_path: Path) -> None:
    lines = (SMALL / "temp" / "answers.csv").read_text().splitlines()
    header, body = lines[0], lines[1:]
    shuffled = write(tmp_path, "\n".join([header, *reversed(body)]) + "\n", "shuffled.csv")
    for method in ("majority_vote", "dawid_skene", "auto"):
        a, b = tmp_path / f"a_{method}.csv", tmp_path / f"b_{method}.csv"
        assert (
            cli("aggregate", str(SMALL / "temp" / "answers.csv"), "-m", method, "-o", str(a)).code
            == 0
        )
        assert cli("aggregate", str(shuffled), "-m", method, "-o", str(b)).code == 0
        assert [r["label"] for r in read_out(a)] == [r["label"] for r in read_out(b)], method


def test_single_answer_task_warns_but_works(cli: Run, tmp_path: Path) -> None:
    text = ANSWERS + "w1,t5,cat\n"
    out = tmp_path / "o.csv"
    res = cli("aggregate", str(write(tmp_path, text)), "-m", "dawid_skene", "-o", str(out))
    assert res.code == 0
    assert "warning: 1 of 5 task(s) have a single answer (e.g. 't5')" in res.err
    assert read_out(out)[-1]["label"] == "cat"


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        ("worker,item,label\nw1,t1,a\n", (), "missing column(s) ['task']"),
        ("", (), "file is empty; expected a header worker,task,label"),
        ("worker,task,label\n", (), "file has a header but no rows"),
        (
            ANSWERS,
            ("--labels", "cat,bird"),
            "line 4, field 'label': label 'dog' is not in the label set ['cat', 'bird']",
        ),
        (ANSWERS, ("--method", "nope"), "unknown aggregator 'nope'; known: auto.v1"),
        (ANSWERS, ("--param", "bogus=1"), "auto.v3: unknown parameter 'bogus'; expected any of"),
        (ANSWERS, ("--param", "max_iter"), "expected NAME=VALUE"),
    ],
)
def test_bad_input_is_one_line(
    cli: Run, tmp_path: Path, text: str, args: tuple[str, ...], message: str
) -> None:
    res = cli("aggregate", str(write(tmp_path, text)), "-o", str(tmp_path / "o.csv"), *args)
    assert res.code == 2
    assert message in res.err
    assert res.err.startswith("error: ") and "Traceback" not in res.err
    assert not (tmp_path / "o.csv").exists()


def test_gold_label_outside_answers_labels(cli: Run, tmp_path: Path) -> None:
    gold = write(tmp_path, "task,label\nt1,cat\nt2,fish\n", "gold.csv")
    res = cli(
        "aggregate",
        str(write(tmp_path, ANSWERS)),
        "--gold",
        str(gold),
        "-o",
        str(tmp_path / "o.csv"),
    )
    assert res.code == 2 and "gold label 'fish' of task 't2' is not in the label set" in res.err


def test_missing_out_and_missing_file(cli: Run, tmp_path: Path) -> None:
    res = cli("aggregate", str(write(tmp_path, ANSWERS)))
    assert res.code == 2 and "--out OUT.csv is required" in res.err
    res = cli("aggregate", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o.csv"))
    assert res.code == 2 and "file not found" in res.err


def test_project_mode_without_workspace_is_one_line(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABELLOOP_DATABASE_URL", raising=False)
    res = cli("aggregate", "--method", "dawid_skene")
    assert res.code == 2
    assert res.err.startswith("error: ") and "workspace" in res.err
    assert res.err.count("\n") == 1


def test_help_states_the_duplicate_rule(cli: Run) -> None:
    res = cli("aggregate", "--help")
    assert res.code == 0
    assert "LAST answer" in res.out and "--clamp-gold" in res.out


def test_subprocess_error_has_no_traceback(tmp_path: Path) -> None:
    bad = write(tmp_path, "worker,task\nw1,t1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "labelloop", "aggregate", str(bad), "-o", str(tmp_path / "o.csv")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "missing column(s) ['label']" in proc.stderr


def test_labels_to_stdout_with_out_dash(cli: Run, tmp_path: Path) -> None:
    src = write(tmp_path, ANSWERS)
    res = cli("aggregate", str(src), "--method", "majority_vote", "--out", "-")
    assert res.code == 0, res.err
    rows = list(csv.DictReader(res.out.splitlines()))
    assert [(r["task"], r["label"]) for r in rows] == [
        ("t1", "cat"),
        ("t2", "dog"),
        ("t3", "cat"),
        ("t4", "dog"),
    ]
    assert float(rows[0]["confidence"]) == pytest.approx(2 / 3, abs=1e-6)
    assert "majority_vote.v1" in res.err and "wrote labels to stdout" in res.err
    assert not (tmp_path / "-").exists()
    res = cli("aggregate", str(src), "--method", "majority_vote", "-o", "-", "--json")
    assert res.out.startswith("task,label,confidence\n")
    assert json.loads(res.err)["out"] is None


def test_json_without_out_carries_the_labels(cli: Run, tmp_path: Path) -> None:
    src = write(tmp_path, ANSWERS)
    res = cli("aggregate", str(src), "--method", "majority_vote", "--json")
    assert res.code == 0, res.err
    summary = json.loads(res.out)
    assert summary["labels"] == ["cat", "dog"] and summary["out"] is None
    assert [r["label"] for r in summary["results"]] == ["cat", "dog", "cat", "dog"]
    assert summary["results"][1] == {"task": "t2", "label": "dog", "confidence": 1.0}


def test_jsonl_answers_and_gold_give_the_same_labels_as_csv(cli: Run, tmp_path: Path) -> None:
    rows = [line.split(",") for line in ANSWERS.strip().splitlines()[1:]]
    jsonl = write(
        tmp_path,
        "".join(json.dumps({"worker": w, "task": k, "label": x}) + "\n" for w, k, x in rows),
        "answers.jsonl",
    )
    gold = write(tmp_path, '{"task": "t1", "label": "cat"}\n', "gold.jsonl")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert (
        cli("aggregate", str(write(tmp_path, ANSWERS)), "-m", "dawid_skene", "-o", str(a)).code == 0
    )
    res = cli("aggregate", str(jsonl), "-m", "dawid_skene", "--gold", str(gold), "-o", str(b))
    assert res.code == 0, res.err
    assert read_out(a) == read_out(b)
