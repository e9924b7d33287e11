"""Sampling service: batches under a budget exclude labeled, auto-accepted, queued and in-flight
items; each item is stored with its score and reason; cold start without a model."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from labelloop.errors import InvalidInput, NotFound
from labelloop.service.sample.sampling import sample
from labelloop.service.source.imports import import_answers, import_gold, import_items
from labelloop.service.source.telemetry import ingest_telemetry
from labelloop.store import tables as t

WORDS = ["win", "prize", "free", "call", "lunch", "later", "meet", "home"]


def make_items(tmp_path, n=60):
    path = tmp_path / "items.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(
                json.dumps({"id": f"m{i}", "text": f"{WORDS[i % 8]} {WORDS[(i * 3) % 8]} {i}"})
            )
            fh.write("\n")
    return path


def telemetry(n=60):
    """A production model scoring every item; item i has spam probability i/n."""
    return [
        {
            "input": {"text": f"{WORDS[i % 8]} {WORDS[(i * 3) % 8]} {i}"},
            "prediction": "spam" if i / n >= 0.5 else "ham",
            "probabilities": {"spam": round(i / n, 4), "ham": round(1 - i / n, 4)},
            "model": "prod",
            "model_version": "1",
            "timestamp": "2026-11-20T00:00:00Z",
        }
        for i in range(n)
    ]


def batch_rows(store, batch_id):
    with store.read() as conn:
        return conn.execute(
            select(
                t.items.c.key, t.batch_items.c.score, t.batch_items.c.reason, t.batch_items.c.status
            )
            .join(t.items, t.items.c.id == t.batch_items.c.item_id)
            .where(t.batch_items.c.batch_id == batch_id)
            .order_by(t.batch_items.c.rank)
        ).all()


def test_uncertainty_batch_excludes_labeled_and_queued_items(store, tmp_path):
    import_items(store, None, make_items(tmp_path))
    ingest_telemetry(store, None, telemetry())
    gold = tmp_path / "gold.csv"
    gold.write_text("task,label\nm30,spam\n")  # the most uncertain item is gold: excluded
    import_gold(store, None, gold)
    answers = tmp_path / "answers.csv"
    answers.write_text("worker,task,label\nw1,m29,ham\n")  # a human answered: excluded
    import_answers(store, None, answers)

    first = sample(store, None, "margin", 4)
    assert first.model == "prod@1" and first.method.startswith("margin")
    assert first.excluded == {"labeled": 2, "auto_accepted": 0, "queued": 0}
    keys = [i.key for i in first.items]
    # margins |p_spam - p_ham|: m31 2/60 (m29, m30 excluded), m28 = m32 4/60, m27 = m33 6/60
    assert keys[0] == "m31" and set(keys[1:3]) == {"m28", "m32"} and keys[3] in {"m27", "m33"}
    rows = batch_rows(store, first.batch_id)
    assert [r.key for r in rows] == keys
    assert all(r.status == "queued" and r.reason for r in rows)
    assert rows[0].score == pytest.approx(first.items[0].score, abs=1e-6)

    second = sample(store, None, "margin", 4)  # queued items are not chosen again
    assert not set(i.key for i in second.items) & set(keys)
    assert second.excluded["queued"] == 4
    with store.write() as conn:  # in flight still excluded; done releases the item
        conn.execute(
            update(t.batch_items)
            .where(t.batch_items.c.batch_id == first.batch_id)
            .values(status="in_flight")
        )
        conn.execute(
            update(t.batch_items)
            .where(t.batch_items.c.batch_id == second.batch_id)
            .values(status="done")
        )
    third = sample(store, None, "margin", 4)
    assert not set(i.key for i in third.items) & set(keys)
    assert set(i.key for i in third.items) == set(i.key for i in second.items)


def test_budget_larger_than_the_pool_and_cold_start(store, tmp_path):
    import_items(store, None, make_items(tmp_path, 10))
    cold = sample(store, None, "entropy", 4, random_state=3)
    assert cold.model is None and "cold start" in cold.method and cold.selected == 4
    again = sample(store, None, "random", 100)
    assert again.selected == 6 and again.available == 6
    empty = sample(store, None, "random", 5)
    assert empty.selected == 0 and empty.batch_id is None


def test_bad_arguments(store, tmp_path):
    import_items(store, None, make_items(tmp_path, 5))
    with pytest.raises(NotFound, match="unknown sampling strategy 'entropi'"):
        sample(store, None, "entropi", 3)
    with pytest.raises(InvalidInput, match="budget"):
        sample(store, None, "random", 0)
    with pytest.raises(NotFound, match="no model labeler 'nope'"):
        ingest_telemetry(store, None, telemetry(5))
        sample(store, None, "entropy", 3, model="nope")


def test_committee_of_model_labelers_and_diversity_on_tfidf_vectors(store, tmp_path):
    import_items(store, None, make_items(tmp_path))
    ingest_telemetry(store, None, telemetry())
    second = telemetry()
    for i, rec in enumerate(second):  # a second model that disagrees on the first 10 items
        rec["model"] = "shadow"
        if i < 10:
            rec["probabilities"] = {"spam": 0.95, "ham": 0.05}
            rec["prediction"] = "spam"
    ingest_telemetry(store, None, second)
    committee = sample(store, None, "committee", 5)
    assert "committee" in committee.method or "vote" in committee.method
    assert {i.key for i in committee.items} <= {f"m{i}" for i in range(10)}
    diverse = sample(store, None, "diversity", 5, random_state=0)
    assert diverse.selected == 5 and "k-center" in diverse.items[0].reason
    assert not {i.key for i in diverse.items} & {i.key for i in committee.items}
    with pytest.raises(InvalidInput, match="unknown embeddings"):
        sample(store, None, "diversity", 5, embeddings="bert")


def test_committee_includes_labeling_functions_and_skips_their_abstains(store, tmp_path):
    from labelloop.service.annotate.lf import apply_lf_module

    import_items(store, None, make_items(tmp_path))
    records = telemetry()
    for rec in records:  # one production model, sure that everything is ham
        rec["prediction"], rec["probabilities"] = "ham", {"spam": 0.02, "ham": 0.98}
    ingest_telemetry(store, None, records)
    lfs = tmp_path / "lfs.py"
    lfs.write_text(
        "from labelloop.labelers.rules import ABSTAIN, labeling_function\n\n"
        "@labeling_function()\n"
        "def prize(text):\n"
        "    return 'spam' if text.startswith('prize') else ABSTAIN\n\n"
        "@labeling_function()\n"
        "def meet(text):\n"
        "    return 'ham' if text.startswith('meet') else ABSTAIN\n"
    )
    applied = apply_lf_module(store, None, lfs, n_jobs=1)
    assert applied.n_failures == 0 and applied.events_added == 15

    batch = sample(store, None, "committee", 10)
    # only where the 'prize' rule votes spam against the model is there disagreement:
    # items 1, 9, 17, ... (text starts with WORDS[i % 8] == 'prize'); 'meet' agrees with it
    prize_items = {f"m{i}" for i in range(60) if i % 8 == 1}
    keys = [i.key for i in batch.items]
    assert set(keys[: len(prize_items)]) == prize_items
    assert all(i.reason.startswith("vote entropy 0.693") for i in batch.items[:8])
    assert all(i.reason.startswith("vote entropy 0 ") for i in batch.items[8:])
    with store.read() as conn:
        params = json.loads(
            conn.execute(
                select(t.batches.c.params).where(t.batches.c.id == batch.batch_id)
            ).scalar_one()
        )
    assert sorted(params["committee"]) == sorted(
        ["model:prod@1", *(f"rule:{lf.name}@{lf.version}" for lf in applied.lfs)]
    )


def test_an_llms_self_consistency_votes_weigh_in_the_committee(store, tmp_path):
    from labelloop.service.project.schemas import current_schema
    from labelloop.store import repo

    import_items(store, None, make_items(tmp_path, 4))
    records = telemetry(4)
    for rec in records:  # the model: sure that everything is ham
        rec["prediction"], rec["probabilities"] = "ham", {"spam": 0.01, "ham": 0.99}
    ingest_telemetry(store, None, records)
    with store.write() as conn:  # an LLM asked 5 times per item: its vote shares differ
        project = repo.get_project(conn, None, lock=True)
        version_id = current_schema(conn, project)[0]
        llm = repo.ensure_labelers(conn, project, {("llm", "sim", "1")})[("llm", "sim", "1")]
        ids = repo.find_item_ids(conn, project, [f"m{i}" for i in range(4)])
        shares = {"m0": (5, 0), "m1": (4, 1), "m2": (3, 2), "m3": (0, 5)}  # (ham, spam)
        repo.append_events(
            conn,
            project.name,
            [
                repo.EventDraft(
                    type="answer",
                    item_id=ids[key],
                    labeler_id=llm,
                    label="ham" if ham >= spam else "spam",
                    schema_version_id=version_id,
                    source="model",
                    payload={"llm": True, "votes": {"ham": ham, "spam": spam}},
                )
                for key, (ham, spam) in shares.items()
            ],
        )
    batch = sample(store, None, "committee", 4, options={"method": "kl"})
    # disagreement with the sure model grows with the LLM's spam share
    assert [i.key for i in batch.items] == ["m3", "m2", "m1", "m0"]
    assert batch.items[0].score > batch.items[1].score > batch.items[2].score > 0


def test_a_consensus_of_machines_alone_leaves_items_in_the_pool(store, tmp_path):
    from labelloop.service.adjudicate.adjudicate import adjudicate
    from labelloop.service.annotate.lf import apply_lf_module

    import_items(store, None, make_items(tmp_path, 16))
    ingest_telemetry(store, None, telemetry(16))
    lfs = tmp_path / "lfs.py"
    lfs.write_text(
        "from labelloop.labelers.rules import labeling_function\n\n"
        "@labeling_function()\n"
        "def everything_ham(text):\n"
        "    return 'ham'\n"
    )
    apply_lf_module(store, None, lfs, n_jobs=1)
    answers = tmp_path / "answers.csv"
    answers.write_text("worker,task,label\nw1,m3,spam\n")
    import_answers(store, None, answers)
    result = adjudicate(store, None, method="majority_vote")
    assert result.items == 16  # every item has a consensus now, 15 of them from machines only

    batch = sample(store, None, "margin", 100)
    assert batch.excluded["labeled"] == 1  # only the item a person answered
    assert batch.selected == 15 and "m3" not in {i.key for i in batch.items}


def test_concurrent_samples_never_queue_an_item_twice(store, tmp_path):
    import threading

    import_items(store, None, make_items(tmp_path))
    ingest_telemetry(store, None, telemetry())
    reports = []
    threads = [
        threading.Thread(target=lambda: reports.append(sample(store, None, "entropy", 20)))
        for _ in range(2)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    keys = [i.key for r in reports for i in r.items]
    assert len(keys) == 40 and len(set(keys)) == 40
