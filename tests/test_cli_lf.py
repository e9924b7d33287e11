"""`labelloop lf apply|report` on the bundled YouTube spam demo data with the example LFs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "src" / "labelloop" / "data" / "demo"
EXAMPLE_LFS = ROOT / "src" / "labelloop" / "data" / "demo" / "youtube_lfs.py"


def test_lf_apply_and_report_on_demo(cli, workspace: Path) -> None:
    for name in ("youtube_items.csv", "youtube_gold.csv", "spam_schema.yaml"):
        shutil.copy(DEMO / name, workspace / name)
    assert cli("schema", "apply", "spam_schema.yaml").code == 0
    r = cli("import", "items", "youtube_items.csv", "--id-field", "comment_id")
    assert r.code == 0, r.err
    assert cli("import", "gold", "youtube_gold.csv").code == 0

    r = cli("lf", "apply", str(EXAMPLE_LFS), "--jobs", "2", "--json")
    assert r.code == 0, r.err
    first = json.loads(r.out)
    assert first["items"] >= 1956  # the comments (+ schema worked examples with a text)
    assert first["events_added"] > 1000 and first["n_failures"] == 0
    assert {lf["name"] for lf in first["lfs"]} >= {"check_out", "has_link", "short_comment"}

    again = json.loads(cli("lf", "apply", str(EXAMPLE_LFS), "--json").out)
    assert again["events_added"] == 0

    r = cli("lf", "report", "--json")
    assert r.code == 0, r.err
    rep = json.loads(r.out)
    assert rep["gold_items"] >= 1956
    stats = {s["name"]: s for s in rep["lfs"]}
    assert stats["check_out"]["polarity"] == ["spam"]
    assert stats["check_out"]["gold_accuracy"] > 0.95
    assert 0 < stats["check_out"]["estimated_accuracy"] <= 1
    lm = rep["label_model"]
    assert lm["gold_clamped"] is True  # the demo has gold: semi-supervised, 2-fold
    assert lm["gold_accuracy"] > 0.85 and lm["votes_only_gold_accuracy"] > 0.8
    assert lm["gold_accuracy_covered"] > 0.95 and rep["majority_vote_gold_accuracy"] > 0.95
    assert rep["end_model"]["gold_accuracy"] > 0.8

    text = cli("lf", "report", "--no-end-model")
    assert text.code == 0 and "check_out" in text.out and "label model" in text.out


def test_lf_errors_are_one_line(cli, workspace: Path) -> None:
    bad = workspace / "bare.py"
    bad.write_text(
        "from labelloop.labelers.rules import labeling_function\n\n"
        "@labeling_function\ndef a(text):\n    return 'ham'\n"
    )
    r = cli("lf", "apply", str(bad))
    assert r.code == 2
    assert r.err.startswith("error: ") and "parentheses" in r.err
    assert len(r.err.strip().splitlines()) == 1
    r = cli("lf", "report")
    assert r.code == 2 and r.err.startswith("error: ")
