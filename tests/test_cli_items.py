"""Find and fix things: `items list`, `items show`, `correct`, and `status` stage counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import labelloop

DEMO = Path(labelloop.__file__).parent / "data" / "demo"

ITEMS = [
    {"id": "a", "text": "check out my channel"},
    {"id": "b", "text": "great song"},
    {"id": "c", "text": "love it"},
    {"id": "d", "text": "subscribe please"},
    {"id": "e", "text": "who is here in 2015"},
    {"text": "an item without an id"},
]


def _ok(res):
    assert res.code == 0, res.err
    return res


@pytest.fixture
def project(workspace, cli):
    """Items in every state: a, b adjudicated; c gold; d or e in flight and the other
    queued; the id-less item unlabeled; f answered only; 4 calibration gold examples."""
    _ok(cli("schema", "apply", str(DEMO / "spam_schema.yaml")))
    (workspace / "items.jsonl").write_text("".join(json.dumps(x) + "\n" for x in ITEMS))
    _ok(cli("import", "items", "items.jsonl"))
    (workspace / "answers.csv").write_text(
        "worker,task,label\nw1,a,spam\nw2,a,spam\nw1,b,ham\nw2,b,spam\n"
    )
    _ok(cli("import", "answers", "answers.csv"))
    (workspace / "gold.csv").write_text("task,label\nc,ham\n")
    _ok(cli("import", "gold", "gold.csv"))
    _ok(cli("aggregate", "--method", "majority_vote"))
    _ok(cli("sample", "--strategy", "random", "--budget", "1"))
    _ok(cli("batch", "export", "1", "b1.jsonl", "--claim"))
    _ok(cli("sample", "--strategy", "random", "--budget", "1"))
    (workspace / "more.csv").write_text("worker,task,label\nw1,f,ham\n")
    _ok(cli("import", "answers", "more.csv"))
    return workspace


def _items(cli, *args):
    return json.loads(_ok(cli("items", "list", "--json", *args)).out)


def test_list_shows_every_state_and_current_label(project, cli):
    listed = _items(cli, "--limit", "0")
    assert listed["total"] == 11
    by_key = {x["key"]: x for x in listed["items"]}
    states = {k: v["state"] for k, v in by_key.items()}
    assert states["c"] == "gold" and states["f"] == "answered"
    assert states["a"] == states["b"] == "adjudicated"
    # the random picks: one of d, e and the id-less item in flight, one queued
    rest = [v for k, v in states.items() if k in ("d", "e") or by_key[k]["data"] == ITEMS[-1]]
    assert sorted(rest) == ["in_flight", "queued", "unlabeled"]
    hashed = [v for k, v in states.items() if k.startswith("sha256:")]
    assert len(hashed) == 5 and hashed.count("gold") == 4
    assert (by_key["a"]["label"], by_key["a"]["label_source"], by_key["a"]["answers"]) == (
        "spam",
        "adjudication",
        2,
    )
    assert (by_key["c"]["label"], by_key["c"]["label_source"]) == ("ham", "gold")
    assert by_key["f"]["label"] is None and by_key["f"]["data"] == {}

    gold = _items(cli, "--state", "gold", "--limit", "2")
    assert gold["total"] == 5 and len(gold["items"]) == 2
    assert all(x["state"] == "gold" for x in gold["items"])
    text = _ok(cli("items", "list", "--state", "unlabeled")).out
    assert "unlabeled" in text
    assert text.rstrip().endswith("1 unlabeled items")
    result = cli("items", "list", "--state", "labeled")
    assert result.code == 2 and "expected one of ['gold', 'corrected'" in result.err


def test_show_lists_events_with_labelers_and_accepts_a_hash_prefix(project, cli):
    shown = json.loads(_ok(cli("items", "show", "a", "--json")).out)
    assert (shown["state"], shown["label"], shown["data"]["text"]) == (
        "adjudicated",
        "spam",
        "check out my channel",
    )
    kinds = [(e["type"], e["labeler"] and e["labeler"]["name"]) for e in shown["events"]]
    assert kinds == [("answer", "w1"), ("answer", "w2"), ("adjudication", None)]
    assert shown["events"][2]["payload"]["method"].startswith("majority_vote")
    assert shown["events"][0]["schema_version"] == "1.0" and len(shown["events"][0]["hash"]) == 64
    example = _items(cli, "--state", "gold")["items"][0]
    assert example["key"].startswith("sha256:")  # a worked example: keyed by content hash
    shown = json.loads(_ok(cli("items", "show", example["key"][:15], "--json")).out)
    assert shown["key"] == example["key"] and [e["type"] for e in shown["events"]] == ["gold"]
    assert shown["meta"]["calibration"] is True
    queued = _items(cli, "--state", "queued")["items"][0]["key"]
    text = _ok(cli("items", "show", queued)).out
    assert "state: queued" in text and "batch 2 (sample): rank 1, queued" in text
    result = cli("items", "show", "zz")
    assert result.code == 2 and "has no item 'zz'" in result.err


def test_correct_records_a_person_s_correction_with_its_reason(project, cli, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "alice")
    result = _ok(cli("correct", "a", "ham", "--reason", "a fan, not an ad"))
    assert "a: ham by human alice (was spam (adjudication)); correction recorded" in result.out
    shown = json.loads(_ok(cli("items", "show", "a", "--json")).out)
    assert (shown["state"], shown["label"], shown["label_source"]) == (
        "corrected",
        "ham",
        "correction",
    )
    last = shown["events"][-1]
    assert last["type"] == "correction" and last["source"] == "cli"
    assert last["labeler"] == {"kind": "human", "name": "alice", "version": "1"}
    assert last["payload"]["reason"] == "a fan, not an ad"
    assert last["payload"]["previous_label"] == "spam"
    assert last["corrects_event"] == shown["events"][-2]["seq"]
    assert last["payload"]["corrects"]["hash"] == shown["events"][-2]["hash"]

    # the model labeler trains on the corrected label
    from labelloop.service.project.workspace import open_workspace
    from labelloop.store import repo
    from labelloop.store.answers import current_labels

    with open_workspace(project) as ws, ws.store.read() as conn:
        project_row = repo.get_project(conn, None)
        labels, _ = current_labels(conn, project_row)
        a_id = repo.find_item_ids(conn, project_row, ["a"])["a"]
    assert labels[a_id] == "ham"

    again = json.loads(
        _ok(cli("correct", "a", "ham", "--reason", "a fan, not an ad", "--json")).out
    )
    assert again["recorded"] is False and again["previous_source"] == "correction"
    assert len(json.loads(cli("items", "show", "a", "--json").out)["events"]) == 4

    expert = _ok(
        cli("correct", "c", "spam", "--reason", "r", "--labeler", "bo", "--kind", "expert")
    )
    assert "spam by expert bo (was ham (gold))" in expert.out
    # gold still wins; the correction is on record
    c = json.loads(cli("items", "show", "c", "--json").out)
    assert (c["label"], c["events"][-1]["labeler"]["kind"]) == ("ham", "expert")
    assert _ok(cli("verify")).code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("a", "hamm", "--reason", "x"), "label 'hamm' is not in schema"),
        (("a", "ham", "--reason", " "), "--reason is empty"),
        (("zz", "ham", "--reason", "x"), "has no item 'zz'"),
        (("a", "ham", "--reason", "x", "--kind", "model"), "expected one of ['human', 'expert']"),
    ],
)
def test_bad_corrections_write_nothing(project, cli, args, message):
    before = json.loads(cli("status", "--json").out)["events"]
    result = cli("correct", *args, "--labeler", "alice")
    assert result.code == 2 and message in result.err and result.err.count("\n") == 1
    assert json.loads(cli("status", "--json").out)["events"] == before


def test_status_does_not_count_gold_items_as_unlabeled(project, cli):
    stages = json.loads(_ok(cli("status", "--json")).out)["stages"]
    # 11 items: a, b, f answered; c and the 4 worked examples gold; d, e, the id-less one not
    assert stages["unlabeled"] == 3 and stages["answered"] == 3 and stages["gold"] == 5


def test_status_counts_current_labels_as_items_list_shows_them(project, cli):
    current = json.loads(_ok(cli("status", "--json")).out)["current_labels"]
    shown = json.loads(_ok(cli("items", "list", "--json")).out)["items"]
    labels = [x["label"] for x in shown if x["label"] is not None]
    assert current["items"] == len(labels) > 0
    assert current["by_label"] == {v: labels.count(v) for v in set(labels)}
    assert sorted((x["label"], x["items"]) for x in current["values"]) == sorted(
        (v, labels.count(v)) for v in set(labels)
    )
    text = _ok(cli("status")).out
    assert f"current labels ({len(labels)} items)" in text


def test_correct_needs_a_schema(workspace, cli):
    (workspace / "items.jsonl").write_text(json.dumps(ITEMS[0]) + "\n")
    _ok(cli("import", "items", "items.jsonl"))
    result = cli("correct", "a", "ham", "--reason", "r", "--labeler", "alice")
    assert result.code == 2 and "has no schema yet" in result.err
    assert "(`labelloop correct`)" in result.err
    result = cli("agreement")
    assert result.code == 2 and "(agreement on the project's answers)" in result.err
