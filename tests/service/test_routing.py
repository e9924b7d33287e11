"""Routing on real data with gold (SMS spam): the measured precision of auto-accepted labels
meets the target within its interval; human labels saved; reruns route nothing new."""

from __future__ import annotations

import csv
import json
import random

import pytest
from sqlalchemy import select

from labelloop.errors import InvalidInput, NotFound
from labelloop.service.annotate.train import train_model
from labelloop.service.sample.routing import get_routing_policy, route, set_routing_policy
from labelloop.service.source.imports import import_gold, import_items
from labelloop.store import tables as t
from tests import realdata


@pytest.fixture
def sms(tmp_path):
    """SMS spam: 4,000 messages as items, 1,500 of them with gold; the rest's truth held out."""
    with open(realdata.dataset("al", "sms_spam") / "data.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    chosen = order[:4000]
    items = tmp_path / "items.jsonl"
    gold = tmp_path / "gold.csv"
    truth = {}
    with open(items, "w", encoding="utf-8") as fh:
        for i in chosen:
            fh.write(json.dumps({"id": f"m{i}", "text": rows[i]["text"]}) + "\n")
            truth[f"m{i}"] = "spam" if rows[i]["label"] == "1" else "ham"
    with open(gold, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["task", "label"])
        for i in chosen[:1500]:
            w.writerow([f"m{i}", truth[f"m{i}"]])
    held = {k: v for k, v in truth.items() if k not in {f"m{i}" for i in chosen[:1500]}}
    return items, gold, held


def test_route_on_real_gold_meets_the_target_and_saves_human_labels(store, sms, tmp_path):
    items, gold, held = sms
    import_items(store, None, items)
    import_gold(store, None, gold)
    trained = train_model(store, None, models_dir=tmp_path / "models")
    assert trained.n_train == 1500 and trained.n_predicted == 4000
    assert (tmp_path / "models" / f"{trained.version}.joblib").is_file()
    assert trained.oof_accuracy > 0.95

    report = route(store, None, target_precision=0.98, audit_fraction=0.05, random_state=1)
    assert not report.abstained
    assert report.ci_low >= 0.98 and report.precision >= report.ci_low
    assert report.routed == 2500 and report.n_gold == 1500
    assert report.auto_accepted + report.to_humans == report.routed
    assert report.audited == -(-report.auto_accepted * 5 // 100)
    assert report.human_labels_saved == report.auto_accepted - report.audited > 1500

    with store.read() as conn:
        auto = conn.execute(
            select(t.items.c.key, t.events.c.label, t.events.c.payload)
            .join(t.items, t.items.c.id == t.events.c.item_id)
            .where(t.events.c.source == "model_auto")
        ).all()
        batches = {
            r.kind: r.id for r in conn.execute(select(t.batches.c.kind, t.batches.c.id)).all()
        }
        queued = conn.execute(
            select(t.batch_items.c.batch_id, t.batch_items.c.show_suggestion)
        ).all()
    assert len(auto) == report.auto_accepted
    payload = json.loads(auto[0].payload)
    assert payload["threshold"] == report.threshold and payload["confidence"] >= report.threshold
    # measured precision of the auto-accepted labels against the held-out truth
    correct = sum(held[key] == json.loads(label) for key, label, _ in auto)
    measured = correct / len(auto)
    assert measured >= 0.98 or report.ci_low <= measured <= report.ci_high
    assert report.ci_low - 0.01 <= measured
    assert set(batches) == {"route", "audit"}
    assert sum(1 for b, _ in queued if b == batches["audit"]) == report.audited
    assert not any(show for _, show in queued)  # suggestions hidden by default

    again = route(store, None, target_precision=0.98)
    assert again.routed == 0 and again.events_added == 0


def test_too_little_gold_abstains_and_sends_everything_to_humans(store, sms):
    items, gold, _ = sms
    import_items(store, None, items)
    small = gold.with_name("small.csv")
    small.write_text("\n".join(gold.read_text().splitlines()[:101]) + "\n")
    import_gold(store, None, small)
    train_model(store, None)
    report = route(store, None)
    assert report.abstained and report.threshold is None
    assert "too little gold" in report.reason
    assert report.auto_accepted == 0 and report.to_humans == report.routed == 3900
    assert report.human_labels_saved == 0


def test_policy_is_stored_per_project_and_validated(store):
    assert get_routing_policy(store, None).target_precision == 0.98
    policy = set_routing_policy(store, None, target_precision=0.95, show_suggestion=True)
    assert (policy.target_precision, policy.audit_fraction, policy.show_suggestion) == (
        0.95,
        0.05,
        True,
    )
    assert get_routing_policy(store, None) == policy
    with pytest.raises(InvalidInput, match="audit fraction"):
        set_routing_policy(store, None, audit_fraction=2)
    with pytest.raises(NotFound, match="no model predictions"):
        route(store, None)
