"""store.answers and store.status: a project's answers, gold, labels, labelers and counts as
core records, on the selected backend."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.core.answers import ABSTAIN, LabelSpace
from labelloop.service.adjudicate.adjudicate import adjudicate
from labelloop.service.source.imports import import_answers, import_gold, import_items
from labelloop.service.source.items import correct_item
from labelloop.store import repo
from labelloop.store.answers import (
    consensus_labels,
    current_labels,
    gold_codes,
    item_contents,
    list_labelers,
    project_answers,
    project_gold,
)
from labelloop.store.status import KindCounts, status_counts

SPACE = LabelSpace(("a", "b"))


@pytest.fixture
def project(store, tmp_path):
    """Items i1..i3 (i3 without text), answers by alice/bob/carol (carol's "c" is outside
    SPACE; alice answers i1 twice), an answer for the unknown id i4 (a stub item), gold on
    i2 and on i4 ("c")."""
    items = tmp_path / "items.jsonl"
    items.write_text('{"id":"i1","text":"x"}\n{"id":"i2","text":"y"}\n{"id":"i3","n":1}\n')
    import_items(store, None, items)
    answers = tmp_path / "answers.csv"
    answers.write_text(
        "worker,task,label\n"
        "alice,i1,a\nbob,i1,b\nalice,i2,b\ncarol,i2,c\nbob,i2,b\nalice,i1,b\nbob,i4,a\n"
    )
    import_answers(store, None, answers)
    gold = tmp_path / "gold.csv"
    gold.write_text("task,label\ni2,b\ni4,c\n")
    import_gold(store, None, gold)
    return store


def _ids(conn, keys):
    found = repo.find_item_ids(conn, repo.get_project(conn, None), keys)
    return [found[k] for k in keys]


def test_project_answers_are_coded_in_event_order(project):
    with project.read() as conn:
        p = repo.get_project(conn, None)
        got = project_answers(conn, p, SPACE)
        i1, i2, i4 = _ids(conn, ["i1", "i2", "i4"])
        people = {x.name: x.id for x in list_labelers(conn, p)}
    assert (got.read, got.skipped) == (7, 1)  # carol's "c" is not a label of SPACE
    assert got.item_ids.tolist() == sorted([i1, i2, i4])
    assert got.labeler_ids.tolist() == sorted([people["alice"], people["bob"]])
    a = got.answers
    assert (a.n_items, a.n_labelers, a.n_classes, len(a)) == (3, 2, 2, 6)
    rows = [
        (int(got.item_ids[i]), int(got.labeler_ids[j]), SPACE.labels[y])
        for i, j, y in zip(a.item, a.labeler, a.label, strict=True)
    ]
    alice, bob = people["alice"], people["bob"]
    assert rows == [
        (i1, alice, "a"),
        (i1, bob, "b"),
        (i2, alice, "b"),
        (i2, bob, "b"),
        (i1, alice, "b"),
        (i4, bob, "a"),
    ]
    last = a.deduplicate(keep="last")  # the stated rule: a labeler's last answer counts
    assert len(last) == 5


def test_project_answers_code_by_the_given_items_and_labelers(project):
    with project.read() as conn:
        p = repo.get_project(conn, None)
        i1, i2, i3 = _ids(conn, ["i1", "i2", "i3"])
        bob = next(x.id for x in list_labelers(conn, p) if x.name == "bob")
        got = project_answers(conn, p, SPACE, item_ids=[i3, i2, i1], labeler_ids=[bob])
    assert got.item_ids.tolist() == [i3, i2, i1] and got.labeler_ids.tolist() == [bob]
    a = got.answers
    assert (a.n_items, a.n_labelers) == (3, 1)
    # bob's answer on the stub i4 is not among the given items: left out
    assert a.item.tolist() == [2, 1] and a.labeler.tolist() == [0, 0]
    assert SPACE.decode(a.label.tolist()) == ["b", "b"]


def test_gold_as_codes_aligned_with_items(project):
    with project.read() as conn:
        p = repo.get_project(conn, None)
        i1, i2, i4 = _ids(conn, ["i1", "i2", "i4"])
        assert project_gold(conn, p) == {i2: "b", i4: "c"}
        codes = gold_codes(conn, p, SPACE, np.array([i4, i2, i1]))
    # i4's gold "c" is not a label of SPACE; i1 has none
    assert codes.tolist() == [ABSTAIN, SPACE.code("b"), ABSTAIN]


def test_consensus_and_current_labels(project):
    adjudicate(project, None, method="majority_vote")
    correct_item(project, None, "i1", "a", reason="checked", labeler="dora")
    with project.read() as conn:
        p = repo.get_project(conn, None)
        i1, i2, i4 = _ids(conn, ["i1", "i2", "i4"])
        consensus = consensus_labels(conn, p)
        labels, gold_ids = current_labels(conn, p)
    assert {x.key for x in consensus.values()} == {"i1", "i2", "i4"}
    # the project's (open) schema holds "c": i2 is b, b, c; on i1 alice's last answer
    # and bob's agree
    assert (consensus[i2].label, consensus[i2].confidence) == ("b", 0.666667)
    assert (consensus[i1].label, consensus[i1].confidence) == ("b", 1.0)
    # gold over a person's correction over consensus; gold outside the schema still counts
    assert labels == {i1: "a", i2: "b", i4: "c"}
    assert gold_ids == {i2, i4}


def test_labelers_and_item_contents(project):
    with project.read() as conn:
        p = repo.get_project(conn, None)
        labelers = list_labelers(conn, p)
        humans = list_labelers(conn, p, kind="human")
        assert list_labelers(conn, p, kind="rule") == []
        items = item_contents(conn, p)
        bob = next(x.id for x in labelers if x.name == "bob")
        unanswered = item_contents(conn, p, unanswered_by=bob)
    assert [x.name for x in labelers] == ["alice", "bob", "carol"] == [x.name for x in humans]
    assert labelers[0].identity == ("human", "alice", labelers[0].version)
    assert [(x.key, x.data) for x in items] == [
        ("i1", {"text": "x"}),
        ("i2", {"text": "y"}),
        ("i3", {"n": 1}),
        ("i4", {}),  # a stub: known only from an answer
    ]
    assert [x.key for x in unanswered] == ["i3"]


def test_status_counts(project, tmp_path):
    adjudicate(project, None, method="majority_vote")
    with project.read() as conn:
        counts = status_counts(conn, repo.get_project(conn, None))
    assert (counts.items, counts.labeled, counts.answered, counts.adjudicated) == (4, 3, 3, 3)
    assert (counts.gold, counts.calibration_gold, counts.schema_versions) == (2, 0, 1)
    assert counts.by_kind == {"human": KindCounts(labelers=3, answers=7)}
    assert counts.batch_items == {"queued": 0, "in_flight": 0, "done": 0}
