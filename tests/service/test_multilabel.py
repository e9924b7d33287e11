"""Multi-label end to end on real items (AG News articles joined in ones and twos): answers as
lists, agreement with MASI, per-label truth inference, one-vs-rest training, sampling and
routing, the current label shown as a list."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from labelloop.core.aggregate.multilabel import make_set_aggregator
from labelloop.core.label_sets import SetAnswers
from labelloop.errors import InvalidInput
from labelloop.service.adjudicate.adjudicate import adjudicate
from labelloop.service.adjudicate.agreement import agreement_project
from labelloop.service.annotate.train import train_model
from labelloop.service.sample.routing import route
from labelloop.service.sample.sampling import sample
from labelloop.service.source.imports import import_answers, import_gold, import_items
from tests import realdata

TOPICS = ("World", "Sports", "Business", "Sci/Tech")
SCHEMA = """\
name: news
version: "1"
task: multi_label
min_labels: 1
inputs:
  - name: text
    type: text
labels:
""" + "".join(f"  - name: {t}\n    description: The article is about {t}.\n" for t in TOPICS)


def _items(rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """Texts and true sets of 120 items joining one or two of the 160 articles."""
    path = realdata.dataset("al", "ag_news_test") / "data.csv"
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    order = rng.permutation(len(rows))
    texts, truth = [], np.zeros((120, len(TOPICS)), dtype=bool)
    for i in range(120):
        parts = [rows[order[i]]]
        if i % 2:  # every second item joins a second article
            parts.append(rows[order[159 - i]])
        texts.append(" ".join(p["text"] for p in parts))
        for p in parts:
            truth[i, int(p["label"])] = True
    return texts, truth


@pytest.fixture
def news(store, cli, tmp_path):
    """Schema, 120 items, gold on 40, answers of 6 simulated annotators on every item
    (each misses a true label with rate m_j and adds a wrong one with rate a_j)."""
    rng = np.random.default_rng(7)
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    assert cli("schema", "apply", str(tmp_path / "schema.yaml")).code == 0
    texts, truth = _items(rng)
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(json.dumps({"id": f"n{i}", "text": t}) + "\n" for i, t in enumerate(texts))
    )
    import_items(store, None, items)
    names = np.asarray(TOPICS)
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        "".join(
            json.dumps({"task": f"n{i}", "label": names[truth[i]].tolist()}) + "\n"
            for i in range(40)
        )
    )
    import_gold(store, None, gold)
    miss = np.array([0.05, 0.1, 0.15, 0.3, 0.45, 0.5])
    add = np.array([0.02, 0.05, 0.1, 0.2, 0.3, 0.35])
    lines, item, worker, present = [], [], [], []
    for i in range(40, 120):
        for j in rng.choice(6, size=4, replace=False):
            u = rng.random(len(TOPICS))
            row = np.where(truth[i], u >= miss[j], u < add[j])
            if not row.any():  # min_labels 1: an empty answer keeps the likeliest wrong guess
                row[int(np.argmin(u))] = True
            lines.append(
                json.dumps({"worker": f"w{j}", "task": f"n{i}", "label": names[row].tolist()})
            )
            item.append(i - 40)
            worker.append(int(j))
            present.append(row)
    answers = tmp_path / "answers.jsonl"
    answers.write_text("\n".join(lines) + "\n")
    assert import_answers(store, None, answers).added == len(lines)
    simulated = SetAnswers(np.array(item), np.array(worker), np.array(present), 80, 6)
    return truth, simulated


def test_multi_label_loop_on_real_items(store, cli, news):
    truth, simulated = news
    report = adjudicate(store, None)
    assert report.method == "multi_label_pooled_ds.v1" and report.items == 80
    assert json.loads(cli("status", "--json").out)["schema"]["task"] == "multi_label"
    shown = json.loads(cli("items", "list", "--json", "--limit", "200").out)["items"]
    labels = {x["key"]: x["label"] for x in shown}
    assert all(isinstance(v, list) for v in labels.values())
    current = json.loads(cli("status", "--json").out)["current_labels"]
    labeled = [v for v in labels.values() if v is not None]
    assert current["items"] == len(labeled) >= 80
    assert all(isinstance(x["label"], list) for x in current["values"])  # sets stay lists
    assert current["by_label"] == {t: n for t in TOPICS if (n := sum(t in v for v in labeled))}
    first = current["values"][0]
    assert first["items"] == max(labeled.count(v) for v in labeled)
    got = np.array([[t in labels[f"n{i}"] for t in TOPICS] for i in range(40, 120)])
    ours = (got == truth[40:]).mean()
    mv = (make_set_aggregator("multi_label_mv.v1").fit(simulated).labels_ == truth[40:]).mean()
    assert ours >= mv and ours > 0.9, (ours, mv)
    detail = cli("items", "show", "n41")
    assert f"label: {json.dumps(sorted(labels['n41'], key=list(TOPICS).index))}" in detail.out

    summary, gap, _ = agreement_project(store, None, n_boot=50, min_pair_items=5)
    assert gap is None and summary["krippendorff_alpha"]["distance"] == "masi"
    assert 0.2 < summary["krippendorff_alpha"]["value"] < 1.0
    assert [x["label"] for x in summary["per_label"]] == list(TOPICS)
    assert all(x["fleiss_kappa"]["value"] > 0 for x in summary["per_label"])

    trained = train_model(store, None, folds=3)
    assert trained.classes == list(TOPICS) and trained.n_train == 120
    assert trained.n_train_gold == 40 and trained.oof_accuracy is not None

    picked = sample(store, None, strategy="entropy", budget=5)
    assert picked.method == "entropy.v1" and picked.selected <= 5
    with pytest.raises(InvalidInput, match="class distribution"):
        sample(store, None, strategy="class_balanced", budget=5)

    routed = route(store, None, target_precision=0.5, audit_fraction=0.0)
    assert routed.n_gold == 40


def test_multi_label_aggregate_cli_names_the_registry(store, cli, news):
    result = cli("aggregate", "--method", "dawid_skene")
    assert result.code != 0 and "multi_label_ds.v1" in result.err
    result = cli("aggregate", "--method", "multi_label_ds", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["method"] == "multi_label_ds.v1"
    result = cli("agreement", "--report")
    assert result.code != 0 and "--report" in result.err
