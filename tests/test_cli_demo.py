"""`labelloop demo`: the main job runs the whole loop on the bundled YouTube spam data."""

from __future__ import annotations

import json
import re

import pytest


@pytest.mark.sqlite_only
def test_demo_runs_the_loop_and_scores_on_hidden_truth(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("LABELLOOP_DATABASE_URL", raising=False)
    target = tmp_path / "demo"
    res = cli("demo", "--dir", str(target))
    assert res.code == 0, res.err
    out = res.out
    assert "978 gold added" in out
    oof = float(re.search(r"out-of-fold accuracy ([\d.]+)%", out).group(1))
    assert oof > 90
    batch = [json.loads(line) for line in (target / "batch_1.jsonl").read_text().splitlines()]
    assert len(batch) == 40 and {r["status"] for r in batch} == {"in_flight"}
    assert all(r["data"]["text"] and r["reason"].startswith("top-two gap") for r in batch)
    routed = re.search(
        r"routing: ([\d,]+) model labels auto-accepted \(gold precision ([\d.]+)%", out
    )
    assert routed and int(routed.group(1).replace(",", "")) > 500
    assert float(routed.group(2)) >= 98
    hidden = float(re.search(r"whose truth was hidden: ([\d.]+)% correct", out).group(1))
    assert hidden > 90
    assert "40 in flight" in out and re.search(r"ok: [\d,]+ events of project 'youtube-spam'", out)
    # no self-grading: the model votes on every item (alone on most); its skill comes from
    # gold and others' votes, and its interval covers its accuracy on gold (out-of-fold)
    monkeypatch.chdir(target)
    report = cli("aggregate", "--json")
    assert report.code == 0, report.err
    model = next(x for x in json.loads(report.out)["labelers"] if x["kind"] == "model")
    assert model["skill"] < 0.99 and model["evidence"] >= 900
    assert model["skill_low"] <= oof / 100 <= model["skill_high"], (model, oof)
    again = cli("demo", "--dir", str(target))
    assert again.code != 0 and "already holds a workspace" in again.err
