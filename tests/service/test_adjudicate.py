"""Project-mode truth inference: adjudication events with provenance, current labels follow."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from labelloop.errors import InvalidInput, NotFound
from labelloop.service.adjudicate.adjudicate import adjudicate
from labelloop.service.project.status import project_status, verify_chain
from labelloop.service.source.imports import import_answers, import_gold
from labelloop.store import tables as t
from tests import realdata


@pytest.fixture
def rte(store):
    folder = realdata.crowd("rte")
    import_answers(store, None, folder / "answers.csv")
    import_gold(store, None, folder / "gold.csv")
    return store


def test_adjudication_events_carry_method_and_state_follows(rte):
    report = adjudicate(rte, None, method="dawid_skene")
    assert report.method == "dawid_skene.v1"
    assert (report.items, report.answers, report.events_added) == (800, 8000, 800)
    assert report.gold_accuracy is not None and report.gold_accuracy > 0.9
    assert len(report.labelers) == 164 and all(x.kind == "human" for x in report.labelers)
    with rte.read() as conn:
        event = conn.execute(
            select(t.events).where(t.events.c.type == "adjudication").limit(1)
        ).one()
        state = conn.execute(
            select(t.item_state).where(t.item_state.c.item_id == event.item_id)
        ).one()
    payload = json.loads(event.payload)
    assert (
        payload["method"] == "dawid_skene.v1"
        and payload["params"]["aggregator"] == "dawid_skene.v1"
    )
    assert event.source == "aggregate" and 0.5 <= payload["confidence"] <= 1.0
    assert state.label == event.label and state.event_id == event.id
    assert project_status(rte, None)["stages"]["adjudicated"] == 800

    # Same method on unchanged answers: nothing new to record.
    assert adjudicate(rte, None, method="dawid_skene").events_added == 0
    # Another method: only items whose label or confidence moved get a new event.
    mv = adjudicate(rte, None, method="majority_vote")
    assert 0 < mv.events_added <= 800
    assert verify_chain(rte, None).ok


def test_clamped_gold_is_respected(rte):
    report = adjudicate(rte, None, method="dawid_skene", clamp_gold=True)
    assert report.gold_accuracy == 1.0


def test_cli_project_mode(rte, cli):
    result = cli("aggregate", "--method", "majority_vote", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["events_added"] == 800 and summary["method"] == "majority_vote.v1"


def test_unknown_method_and_empty_project(store):
    with pytest.raises(NotFound, match="known"):
        adjudicate(store, None, method="nope")
    with pytest.raises(InvalidInput, match="no answers"):
        adjudicate(store, None)


def test_cli_project_mode_shows_reliability_per_source(rte, cli):
    result = cli("aggregate", "--method", "auto")
    assert result.code == 0, result.err
    assert "reliability per source kind" in result.out and "human" in result.out
    assert "800 adjudication events recorded" in result.out
    bad = cli("aggregate", "--out", "x.csv")
    assert bad.code == 2 and "--out is for file mode" in bad.err


def test_agreement_with_result_is_precision_for_one_class_rules(rte):
    report = adjudicate(rte, None, method="auto")
    assert report.kinds[0].kind == "human" and report.kinds[0].answers == 8000
    for labeler in report.labelers:
        assert 0.0 <= labeler.agreement <= 1.0


def test_answers_outside_the_current_schema_are_left_out_and_reported(store, cli, tmp_path):
    answers = tmp_path / "answers.csv"
    answers.write_text("worker,task,label\nw1,t1,a\nw2,t1,a\nw1,t2,b\nw2,t2,c\n")
    assert cli("import", "answers", str(answers)).code == 0
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        'name: x\nversion: "2"\ntask: single_label\nlabels:\n'
        "  - name: a\n    description: A\n  - name: b\n    description: B\n"
    )
    assert cli("schema", "apply", str(schema)).code == 0
    report = adjudicate(store, None, method="majority_vote")
    assert (report.answers, report.skipped_answers) == (3, 1)
    result = cli("aggregate", "--method", "majority_vote")
    assert (
        result.code == 0
        and "1 answers carry labels that are not in the current schema" in result.out
    )


def test_reliability_has_evidence_and_interval_and_never_self_grades(store, tmp_path):
    # labeler "solo" answers items 0-39 alone (always "a") and items 40-49 with two others
    # who say "b"; it must not be credited for agreeing with itself on its sole votes
    rows = ["worker,task,label"]
    rows += [f"solo,t{i},a" for i in range(50)]
    rows += [f"{w},t{i},b" for i in range(40, 50) for w in ("p1", "p2")]
    rows += [f"{w},t{i},{lab}" for i in range(50, 60) for w, lab in (("p1", "a"), ("p2", "a"))]
    path = tmp_path / "answers.csv"
    path.write_text("\n".join(rows) + "\n")
    import_answers(store, None, path)
    report = adjudicate(store, None, method="dawid_skene")
    solo = next(x for x in report.labelers if x.name == "solo")
    assert solo.evidence == 10 and solo.gold_evidence == 0
    assert solo.skill is not None and solo.skill < 0.5
    assert solo.skill_low is not None and solo.skill_high is not None
    assert solo.skill_low <= solo.skill <= solo.skill_high
    assert solo.fitted_skill is not None


def test_auto_reports_what_it_chose_and_why(rte, cli):
    report = adjudicate(rte, None, method="auto")
    sel = report.selection
    assert sel is not None and sel["criterion"] == "heldout_likelihood"
    assert abs(sum(sel["weights"].values()) - 1.0) < 1e-3 and sel["heldout_answers"] > 0
    assert adjudicate(rte, None, method="dawid_skene").selection is None
    out = cli("aggregate").out
    assert "chosen by heldout likelihood:" in out
