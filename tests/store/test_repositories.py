"""Store repositories for items, batches, predictions and routing policies: core records in,
core records out, on the selected backend (SQLite or PostgreSQL)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from labelloop.core.identity import is_stub, item_content_hash
from labelloop.core.routing import RoutingPolicy
from labelloop.errors import InvalidInput, NotFound
from labelloop.store import repo
from labelloop.store.batches import (
    BatchEntry,
    batch_item_ids,
    batch_items,
    batch_summaries,
    create_batch,
    excluded_items,
    set_batch_item_status,
)
from labelloop.store.items import (
    NewItem,
    content_items,
    ensure_items,
    fill_stub_items,
    insert_items,
    insert_items_returning_ids,
    item_row_for,
    stub_item,
)
from labelloop.store.listing import get_item
from labelloop.store.predictions import (
    labeler_identities,
    load_predictions,
    machine_answers,
    resolve_model,
)
from labelloop.store.routing import read_routing_policy, write_routing_policy


def item(key: str, data: dict[str, Any], media: str | None = None) -> NewItem:
    return NewItem(key, key, item_content_hash(data, media), data, {"from": "test"}, media, "t")


def schema_version(conn, project) -> int:
    version_id, _ = repo.add_schema_version(
        conn,
        project,
        version="open-1",
        content_hash="c" * 64,
        is_open=True,
        body={"name": "open", "version": "open-1", "labels": ["ham", "spam"]},
        source=None,
    )
    return version_id


# ---------------------------------------------------------------- items


def test_items_are_stored_as_given_and_their_ids_come_back_by_key(store):
    with store.write() as conn:
        project = repo.get_project(conn, "test")
        ids = insert_items_returning_ids(
            conn, project, [item("a", {"text": "hi"}), item("b", {"text": "ho"})]
        )
        assert set(ids) == {"a", "b"} and ids["a"] != ids["b"]
        assert repo.find_item_ids(conn, project, ["a", "b"]) == ids
        detail = get_item(conn, project, "b")
    assert detail.item.data == {"text": "ho"}
    assert detail.meta == {"from": "test"}
    assert detail.content_hash == item_content_hash({"text": "ho"})


def test_item_row_for_keys_by_content_and_keeps_undeclared_fields_as_metadata():
    row = item_row_for({"text": "hi", "label": "x"}, source="s", declared=frozenset({"text"}))
    digest = item_content_hash({"text": "hi"})
    assert row.key == f"sha256:{digest}" and row.external_id is None
    assert (row.content_hash, row.data, row.meta) == (
        digest,
        {"text": "hi"},
        {"undeclared": {"label": "x"}},
    )


def test_ensure_items_creates_stubs_only_for_unknown_keys(store):
    with store.write() as conn:
        project = repo.get_project(conn, "test")
        insert_items(conn, project, [item("known", {"text": "hi"})])
        ids, created = ensure_items(conn, project, ["known", "new", "sha256:" + "ab" * 32], "t")
        assert created == 2 and len(set(ids.values())) == 3
        again, created_again = ensure_items(conn, project, ["new", "known"], "t")
        assert created_again == 0 and again == {k: ids[k] for k in ("new", "known")}
        hashes = repo.find_item_hashes(conn, project, list(ids))
        stub_detail = get_item(conn, project, "sha256:" + "ab" * 32)
    assert [k for k, h in sorted(hashes.items()) if is_stub(k, h)] == ["new", "sha256:" + "ab" * 32]
    assert stub_detail.external_id is None  # a content key is not an external id


def test_content_items_leave_out_stubs_and_keep_media_only_items(store):
    with store.write() as conn:
        project = repo.get_project(conn, "test")
        insert_items(
            conn,
            project,
            [
                item("text", {"text": "hi"}),
                stub_item("stub", "t"),
                item("image", {}, media="cat.png"),  # no fields, only a media reference
            ],
        )
        pool = content_items(conn, project)
        assert pool.keys == ["text", "image"] and pool.data is None
        assert pool.ids.tolist() == [repo.find_item_ids(conn, project, [k])[k] for k in pool.keys]
        fill_stub_items(conn, project, [item("stub", {"text": "filled"})])
        pool = content_items(conn, project, with_data=True)
    assert pool.keys == ["text", "stub", "image"]
    assert pool.data == [{"text": "hi"}, {"text": "filled"}, {}]


# ---------------------------------------------------------------- batches


def items_with_ids(conn, project, n: int) -> list[int]:
    ids = insert_items_returning_ids(
        conn, project, [item(f"i{k}", {"text": str(k)}) for k in range(n)]
    )
    return [ids[f"i{k}"] for k in range(n)]


def test_a_batch_keeps_rank_scores_reasons_and_suggestions(store):
    with store.write() as conn:
        project = repo.get_project(conn, "test")
        ids = items_with_ids(conn, project, 3)
        entries = [
            BatchEntry(ids[2], 0.9, "most uncertain", {"label": "spam"}, show_suggestion=True),
            BatchEntry(ids[0], math.inf, "infinite score"),
            BatchEntry(ids[1], None, "no score", {"label": "ham"}),
        ]
        batch = create_batch(
            conn,
            project,
            kind="sample",
            strategy="margin",
            params={},
            labeler_id=None,
            entries=entries,
        )
        got = batch_items(conn, batch, ("queued",))
        with pytest.raises(InvalidInput, match="batch kind 'other'"):
            create_batch(
                conn, project, kind="other", strategy="x", params={}, labeler_id=None, entries=[]
            )
        assert len(batch_summaries(conn, project)) == 1
    assert [(b.key, b.rank, b.score, b.reason) for b in got] == [
        ("i2", 1, 0.9, "most uncertain"),
        ("i0", 2, None, "infinite score"),
        ("i1", 3, None, "no score"),
    ]
    assert [(b.suggestion, b.show_suggestion) for b in got] == [
        ({"label": "spam"}, True),
        (None, False),
        ({"label": "ham"}, False),
    ]
    assert got[0].data == {"text": "2"} and {b.status for b in got} == {"queued"}


def test_batch_item_status_moves_only_from_the_old_status(store):
    with store.write() as conn:
        project = repo.get_project(conn, "test")
        ids = items_with_ids(conn, project, 4)
        batch = create_batch(
            conn,
            project,
            kind="route",
            strategy="confidence_routing.v1",
            params={"a": 1},
            labeler_id=None,
            entries=[BatchEntry(i, 0.5, "r") for i in ids],
        )
        handed = [b.id for b in batch_items(conn, batch, ("queued",))][:3]
        assert set_batch_item_status(conn, handed, "queued", "in_flight") == 3
        assert set_batch_item_status(conn, handed, "queued", "in_flight") == 0
        assert sorted(batch_item_ids(conn, batch, "in_flight")) == sorted(handed)
        assert set_batch_item_status(conn, handed[:1], "in_flight", "queued") == 1
        (summary,) = batch_summaries(conn, project, batch)
        assert batch_summaries(conn, project, batch + 1) == []
    assert (summary.kind, summary.size) == ("route", 4)
    assert summary.status == {"queued": 2, "in_flight": 2, "done": 0}


def test_excluded_items_name_why_and_ignore_machine_answers(store):
    with store.write() as conn:
        project = repo.get_project(conn, "test", lock=True)
        version = schema_version(conn, project)
        ids = items_with_ids(conn, project, 6)
        labelers = repo.ensure_labelers(
            conn, project, [("human", "ann", "1"), ("model", "clf", "1"), ("rule", "lf", "1")]
        )
        human, model, rule = (labelers[k] for k in sorted(labelers))
        drafts = [
            repo.EventDraft("gold", ids[0], None, "spam", version, "import"),
            repo.EventDraft("answer", ids[1], human, "ham", version, "import"),
            repo.EventDraft("answer", ids[2], model, "ham", version, "model"),
            repo.EventDraft("answer", ids[3], model, "ham", version, "model_auto"),
            repo.EventDraft("answer", ids[4], rule, "spam", version, "rule"),
        ]
        repo.append_events(conn, project.name, drafts)
        create_batch(
            conn,
            project,
            kind="sample",
            strategy="random",
            params={},
            labeler_id=None,
            entries=[BatchEntry(ids[5], None, "random")],
        )
        excluded = excluded_items(conn, project)
    assert excluded == {"labeled": {ids[0], ids[1]}, "auto_accepted": {ids[3]}, "queued": {ids[5]}}


# ---------------------------------------------------------------- predictions


def test_predictions_are_the_model_labelers_latest_answers(store):
    with store.write() as conn:
        project = repo.get_project(conn, "test", lock=True)
        version = schema_version(conn, project)
        with pytest.raises(NotFound, match="no model predictions yet"):
            resolve_model(conn, project, None)
        ids = items_with_ids(conn, project, 3)
        labelers = repo.ensure_labelers(
            conn, project, [("model", "clf", "1"), ("model", "clf", "2"), ("llm", "gpt", "1")]
        )
        old, new, llm = (
            labelers[("model", "clf", "1")],
            labelers[("model", "clf", "2")],
            labelers[("llm", "gpt", "1")],
        )

        def answer(i: int, who: int, label: Any, source: str = "model", **payload: Any):
            return repo.EventDraft("answer", ids[i], who, label, version, source, payload=payload)

        repo.append_events(
            conn,
            project.name,
            [
                answer(0, old, "ham", confidence=0.6),
                answer(0, new, "ham", confidence=0.7, probabilities={"ham": 0.7, "spam": 0.3}),
                answer(0, new, "spam", confidence=0.8),  # later: replaces the first
                answer(1, new, "spam", confidence=0.9, probabilities={"ham": 0.1, "spam": 0.9}),
                answer(2, new, "ham", "model_auto", confidence=0.99),  # a routing copy
                answer(2, llm, "spam", "model", votes={"spam": 2, "ham": 1}),
            ],
        )
        ref = resolve_model(conn, project, None)
        assert (ref.id, str(ref)) == (new, "clf@2")
        assert resolve_model(conn, project, "clf@1").id == old
        assert resolve_model(conn, project, "clf").id == new
        with pytest.raises(NotFound, match=r"known: \['clf@1', 'clf@2'\]"):
            resolve_model(conn, project, "other")
        preds = load_predictions(conn, project, ref)
        names = labeler_identities(conn, project, ("model", "llm"))
        votes = list(machine_answers(conn, project, [new, llm]))
    assert preds.label == {ids[0]: "spam", ids[1]: "spam"}
    assert preds.confidence == {ids[0]: 0.8, ids[1]: 0.9}
    assert preds.probabilities == {ids[1]: {"ham": 0.1, "spam": 0.9}}
    assert names == {
        old: ("model", "clf", "1"),
        new: ("model", "clf", "2"),
        llm: ("llm", "gpt", "1"),
    }
    assert [(v.labeler_id, v.item_id, v.label) for v in votes] == [
        (new, ids[0], "ham"),
        (new, ids[0], "spam"),
        (new, ids[1], "spam"),
        (llm, ids[2], "spam"),
    ]
    assert votes[-1].payload["votes"] == {"spam": 2, "ham": 1}


# ---------------------------------------------------------------- routing policy


def test_a_routing_policy_is_none_until_written_then_the_latest(store):
    with store.write() as conn:
        project = repo.get_project(conn, "test")
        assert read_routing_policy(conn, project) is None
        write_routing_policy(conn, project, RoutingPolicy(0.9, 0.1, True))
        write_routing_policy(conn, project, RoutingPolicy(0.95, 0.0, False))
        assert read_routing_policy(conn, project) == RoutingPolicy(0.95, 0.0, False)
