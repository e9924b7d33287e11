"""CLI: telemetry import (one-line errors naming the line), train, sample, route (human and JSON)."""

from __future__ import annotations

import csv
import json
import random

from tests import realdata


def write_telemetry(path, n, bad_line=None):
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(1, n + 1):
            rec = {
                "input": f"message {i}",
                "prediction": "spam",
                "confidence": 0.9,
                "model": "m",
                "model_version": "1",
                "timestamp": "2026-11-20T00:00:00Z",
                "request_id": i,
            }
            if i == bad_line:
                rec["confidence"] = 1.5
            fh.write(json.dumps(rec) + "\n")
    return path


def test_telemetry_import_reports_and_rejects_with_the_line(cli, workspace):
    path = write_telemetry(workspace / "t.jsonl", 20)
    result = cli("telemetry", "import", str(path))
    assert result.code == 0, result.err
    assert "20 records; 20 model answers added" in result.out and "models: m@1" in result.out
    again = cli("telemetry", "import", str(path), "--json")
    assert json.loads(again.out)["added"] == 0
    bad = write_telemetry(workspace / "bad.jsonl", 20, bad_line=17)
    result = cli("telemetry", "import", str(bad))
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "line 17, field 'confidence'" in result.err and "expected a probability" in result.err
    skipped = cli("telemetry", "import", str(bad), "--skip-invalid", "--json")
    assert json.loads(skipped.out)["rejected"] == 1


def test_train_sample_route_on_real_data(cli, workspace):
    with open(realdata.dataset("al", "sms_spam") / "data.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    order = list(range(len(rows)))
    random.Random(1).shuffle(order)
    chosen = order[:1500]
    items = workspace / "items.jsonl"
    gold = workspace / "gold.csv"
    with open(items, "w", encoding="utf-8") as fh:
        for i in chosen:
            fh.write(json.dumps({"id": f"m{i}", "text": rows[i]["text"]}) + "\n")
    with open(gold, "w", encoding="utf-8") as fh:
        fh.write("task,label\n")
        for i in chosen[:700]:
            fh.write(f"m{i},{'spam' if rows[i]['label'] == '1' else 'ham'}\n")
    assert cli("import", "items", str(items)).code == 0
    assert cli("import", "gold", str(gold)).code == 0

    result = cli("train")
    assert result.code == 0, result.err
    assert "on 700 labeled items (700 gold, 0 consensus)" in result.out
    assert "out-of-fold accuracy (5 folds)" in result.out and ".labelloop/models/" in result.out

    result = cli("sample", "--strategy", "entropy", "--budget", "25", "--json")
    assert result.code == 0, result.err
    sampled = json.loads(result.out)
    assert sampled["selected"] == 25 and sampled["available"] == 800
    assert all(i["reason"].startswith("entropy") for i in sampled["items"])
    text = cli("sample", "--strategy", "margin", "--budget", "5")
    assert text.code == 0 and "5 items by margin" in text.out and "25 queued" in text.out
    default = json.loads(cli("sample", "--budget", "5", "--json").out)
    assert (default["strategy"], default["selected"]) == ("hybrid.v1", 5)
    assert default["method"].startswith("hybrid"), default["method"]

    result = cli("route", "--audit-fraction", "0.1", "--json")
    assert result.code == 0, result.err
    numbers = json.loads(result.out)
    assert numbers["routed"] == numbers["auto_accepted"] + numbers["to_humans"] > 0
    result = cli("route", "--audit-fraction", "0.1", "--target-precision", "0.97")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[1].startswith("threshold: confidence >= ")
    assert "the lowest at which the model's labels on gold reach the target" in lines[1]
    assert "of those gold items labeled right by the model (95% interval" in lines[2]
    assert "items: those with a model prediction and no gold, no person's answer" in lines[3]
    assert "auto-accepted: confidence at or above the threshold" in lines[4]
    assert "of them audited: sent to people as well, blind" in lines[5]
    assert "sent to humans: below the threshold or without a confidence" in lines[6]
    assert "(auto-accepted and not audited: items no person has to label)" in lines[7]
    result = cli("route", "--json", "--target-precision", "0.9")
    report = json.loads(result.out)
    assert report["routed"] == 0  # everything was routed or queued before
    bad = cli("route", "--target-precision", "1.5")
    assert bad.code == 2 and "target precision 1.5 is not in (0, 1)" in bad.err
    unknown = cli("sample", "--strategy", "nope", "--budget", "3")
    assert unknown.code == 2 and "unknown sampling strategy 'nope'" in unknown.err
