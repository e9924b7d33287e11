"""People at work: calibration gate, leases with overlap, claims and leases excluding each
other, submissions (idempotency, undo, skip), and the expert tier."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from labelloop.errors import Conflict, InvalidInput, NotFound
from labelloop.service.adjudicate.adjudicate import adjudicate, consensus_labels
from labelloop.service.annotate.batches import export_batch
from labelloop.service.annotate.submit import Submission, submit
from labelloop.service.annotate.work import (
    add_person,
    decide,
    next_task,
    people_status,
    set_policy,
)
from labelloop.service.audit.events import export_events
from tests.service.work_helpers import calibrate, example_text, make_project, work

ITEMS = {f"t{i}": f"item text {i}" for i in range(12)}


def stage_of(store, person):
    return {p["labeler_id"]: p["stage"] for p in people_status(store, None)}[person]


def project_events(store, kind, tmp_path=None):
    """The project's events of one type, as the events file has them (payload decoded)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.jsonl"
        export_events(store, None, path)
        lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()[1:]]
    for line in lines:
        for name in ("payload", "label"):
            if isinstance(line.get(name), str):
                line[name] = json.loads(line[name])
    return [e for e in lines if e["type"] == kind]


def test_a_new_person_calibrates_first_and_reaches_production_only_above_the_bound(store, tmp_path):
    truth = make_project(store, tmp_path, items=ITEMS, examples=22)
    set_policy(store, None, gold_rate=0.0, early_gold_rate=0.0)
    good, bad = add_person(store, None, "ann"), add_person(store, None, "bob")
    examples = {example_text(i) for i in range(22)}

    # bob answers every calibration item wrong: he never sees a production item
    seen = work(store, bad, lambda text: "no" if truth[text] == "yes" else "yes")
    assert {text for _, text, _ in seen} == examples
    assert stage_of(store, bad) == "calibration"
    assert next_task(store, None, bad) is None

    # ann answers right: 20 items give a lower bound of 0.83 >= 0.7, then production
    assert calibrate(store, good, truth) == 20
    status = [e for e in project_events(store, "labeler_status")]
    assert len(status) == 1
    assert status[0]["payload"]["status"] == "production"
    assert status[0]["payload"]["evidence"]["lower_bound"] >= 0.7
    task = next_task(store, None, good)
    assert task is not None and task.data["text"] in ITEMS.values()
    # assignment ids are random tokens, never the item key or anything derived from it
    assert task.assignment not in ITEMS and len(task.assignment) >= 20
    assert set(task.data) == {"text"}


def test_overlap_k_nobody_twice_and_an_expired_lease_returns_the_item(store, tmp_path):
    truth = make_project(store, tmp_path, items=dict(list(ITEMS.items())[:2]))
    set_policy(store, None, gold_rate=0.0, early_gold_rate=0.0, overlap=2, max_overlap=2)
    people = [add_person(store, None, name) for name in ("a", "b", "c")]
    for p in people:
        calibrate(store, p, truth)
    held = [next_task(store, None, p) for p in people]
    # two items, overlap 2: a and b get item 0 (first in order); c gets item 1
    texts = [t.data["text"] for t in held if t is not None]
    assert texts == ["item text 0", "item text 0", "item text 1"]
    assert next_task(store, None, people[0]).assignment == held[0].assignment  # one lease each
    # a's lease expires: item 0 returns (to a too, with a new id), and another lease
    # (b's) on the same item is still held
    later = datetime.now(UTC) + timedelta(hours=1)
    again = next_task(store, None, people[0], now=later)
    assert again is not None and again.data["text"] == "item text 0"
    assert again.assignment != held[0].assignment
    with pytest.raises(NotFound):  # the old lease id was replaced by the new lease
        submit(store, None, Submission(people[0], held[0].assignment, "x", label="yes"))
    # each person answers what they hold; nobody gets an item twice
    for p, task in ((people[0], again), (people[1], held[1]), (people[2], held[2])):
        submit(store, None, Submission(p, task.assignment, "w1", label="yes"))
    for p in people:
        nxt = next_task(store, None, p)
        if nxt is not None:
            assert nxt.data["text"] == "item text 1" and p != people[2]


def test_claimed_batch_items_and_leases_exclude_each_other(store, tmp_path):
    from labelloop.service.sample.sampling import sample

    truth = make_project(store, tmp_path, items=ITEMS)
    set_policy(store, None, gold_rate=0.0, early_gold_rate=0.0, overlap=1, max_overlap=1)
    batch = sample(store, None, "random", 6, random_state=1)
    keys = [i.key for i in batch.items]
    person = add_person(store, None, "ann")
    calibrate(store, person, truth)
    first = next_task(store, None, person)
    assert first.data["text"] == ITEMS[keys[0]]  # batches in rank order come first
    report = export_batch(store, None, batch.batch_id, tmp_path / "claim.jsonl", claim=True)
    claimed = [json.loads(x)["task"] for x in (tmp_path / "claim.jsonl").read_text().splitlines()]
    assert report.claimed == 5 and keys[0] not in claimed  # the leased item is not handed out
    submit(store, None, Submission(person, first.assignment, "a", label="yes"))
    served = [text for _, text, _ in work(store, person, lambda t: "no")]
    claimed_texts = {ITEMS[k] for k in claimed}
    assert served and not claimed_texts & set(served)  # pool items only, never claimed ones


def test_submissions_are_idempotent_per_person_undo_corrects_and_skips_are_recorded(
    store, tmp_path
):
    truth = make_project(store, tmp_path, items=ITEMS)
    set_policy(store, None, gold_rate=0.0, early_gold_rate=0.0, undo_seconds=60)
    ann, bob = add_person(store, None, "ann"), add_person(store, None, "bob")
    calibrate(store, ann, truth)
    calibrate(store, bob, truth)
    task = next_task(store, None, ann)
    with pytest.raises(InvalidInput, match="not in schema"):
        submit(store, None, Submission(ann, task.assignment, "k1", label="maybe"))
    with pytest.raises(NotFound):  # bob cannot answer ann's task
        submit(store, None, Submission(bob, task.assignment, "k1", label="yes"))
    first = submit(
        store, None, Submission(ann, task.assignment, "k1", label="yes", time_spent_ms=3400)
    )
    again = submit(
        store, None, Submission(ann, task.assignment, "k1", label="yes", time_spent_ms=3400)
    )
    assert again.replayed and again.event_id == first.event_id
    with pytest.raises(InvalidInput, match="another submission"):
        submit(store, None, Submission(ann, task.assignment, "k1", label="no"))
    # undo within the window: a correction of the answer
    fixed = submit(store, None, Submission(ann, task.assignment, "k2", label="no"))
    assert fixed.type == "correction"
    late = datetime.now(UTC) + timedelta(minutes=5)
    with pytest.raises(Conflict, match="within 60 s"):
        submit(store, None, Submission(ann, task.assignment, "k3", label="yes"), now=late)
    # bob's key "k1" is his own: no clash with ann's
    other = next_task(store, None, bob)
    skipped = submit(
        store,
        None,
        Submission(bob, other.assignment, "k1", skip="bad_item", comment="garbled text"),
    )
    assert skipped.type == "flag"
    answers = project_events(store, "answer")
    mine = [e for e in answers if e["seq"] == first.seq]
    assert mine[0]["time_spent_ms"] == 3400
    flags = [e for e in project_events(store, "flag") if e["payload"].get("reason") == "bad_item"]
    assert flags[0]["payload"]["comment"] == "garbled text"
    assert [e["corrects"] for e in project_events(store, "correction")] == [mine[0]["hash"]]


def split_item(store, tmp_path, *, max_overlap):
    """Three calibrated people; a and b answer "hard one" yes / no and "easy one" yes
    (overlap 2)."""
    truth = make_project(store, tmp_path, items={"t0": "hard one", "t1": "easy one"})
    set_policy(store, None, gold_rate=0.0, early_gold_rate=0.0, overlap=2, max_overlap=max_overlap)
    people = [add_person(store, None, n) for n in ("a", "b", "c")]
    for p in people:
        calibrate(store, p, truth)
    answer = {people[0]: "yes", people[1]: "no"}
    for p in people[:2]:
        work(store, p, lambda text, p=p: answer[p] if text == "hard one" else "yes", prefix=f"w{p}")
    return people


def test_adaptive_overlap_sends_disagreement_to_the_expert_whose_word_aggregate_keeps(
    store, tmp_path
):
    people = split_item(store, tmp_path, max_overlap=2)
    # both items had their 2 answers: the easy one is done, the split one goes to the expert
    assert next_task(store, None, people[2]) is None
    expert = add_person(store, None, "eve", kind="expert")
    task = next_task(store, None, expert)
    assert task is not None and task.data["text"] == "hard one"
    decided = submit(store, None, Submission(expert, task.assignment, "e1", label="no"))
    assert decided.type == "adjudication"
    assert next_task(store, None, expert) is None
    adjudicate(store, None, method="majority_vote")
    consensus = consensus_labels(store, None)
    assert consensus["t0"] == "no"  # the expert's decision, not the majority's "yes"
    assert consensus["t1"] == "yes"


def test_an_unsure_item_gets_one_more_person_and_a_reviewer_decision_stands(store, tmp_path):
    people = split_item(store, tmp_path, max_overlap=3)
    third = next_task(store, None, people[2])  # split 1:1 after k=2: one more person
    assert third is not None and third.data["text"] == "hard one"
    with pytest.raises(InvalidInput, match="not in schema"):
        decide(store, None, people[2], "t1", "perhaps")
    with pytest.raises(NotFound):
        decide(store, None, people[2], "t9", "no")
    decide(store, None, people[2], "t1", "no", note="reads as a no")
    adjudicate(store, None, method="majority_vote")
    assert consensus_labels(store, None)["t1"] == "no"  # the reviewer's, not the crowd's
