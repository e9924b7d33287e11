"""Project drift audit: a labeler whose accuracy drops gets one alert event with evidence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labelloop.errors import NotFound
from labelloop.service.audit.drift import drift_project
from labelloop.service.project.status import verify_chain
from labelloop.service.source.imports import import_answers, import_gold


def _write_crowd(folder) -> None:
    """400 items answered in order by 7 labelers; ``w0`` falls from 0.95 to 0.5 at item 200."""
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 2, 400)
    lines = ["worker,task,label"]
    for i, t in enumerate(truth):
        accs = [("w0", 0.95 if i < 200 else 0.5)] + [(f"w{j}", 0.85) for j in range(1, 7)]
        for w, acc in accs:
            label = t if rng.random() < acc else 1 - t
            lines.append(f"{w},t{i},{'ab'[label]}")
    (folder / "answers.csv").write_text("\n".join(lines) + "\n")
    gold = ["task,label"] + [f"t{i},{'ab'[t]}" for i, t in enumerate(truth) if i % 10 == 0]
    (folder / "gold.csv").write_text("\n".join(gold) + "\n")


def test_drift_alert_is_recorded_once_with_its_evidence(store, workspace):
    _write_crowd(workspace)
    import_answers(store, None, workspace / "answers.csv")
    import_gold(store, None, workspace / "gold.csv")

    report = drift_project(store, None)
    assert (report.answers, report.gold_items, report.labelers_tested) == (2800, 40, 7)
    assert [a["labeler"] for a in report.alerts] == ["human:w0"]
    alert = report.alerts[0]
    assert 200 < alert["alarm_answer"] <= 400 and alert["statistic"] >= alert["threshold"]
    assert alert["window_accuracy"] < alert["baseline_accuracy"] - 0.2
    assert "human:w0: accuracy dropped" in alert["summary"]
    assert report.events_added == 1

    again = drift_project(store, None)
    assert again.alerts == report.alerts and again.events_added == 0  # no duplicate alert
    assert drift_project(store, None, record=False).events_added == 0
    assert verify_chain(store, None).ok


def test_drift_unknown_project_is_not_found(store):
    with pytest.raises(NotFound):
        drift_project(store, "nope")


def test_cli_audit_drift_json(cli, workspace):
    _write_crowd(workspace)
    assert cli("import", "answers", "answers.csv").code == 0
    result = cli("audit", "drift", "--json", "--dry-run")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert [a["labeler"] for a in report["alerts"]] == ["human:w0"]
    assert report["events_added"] == 0
    text = cli("audit", "drift", "--dry-run")
    assert "ALERT human:w0: accuracy dropped" in text.out
