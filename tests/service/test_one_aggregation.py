"""One aggregation over every kind of labeler: humans, labeling functions, a model and an LLM.

Real items and gold: the bundled YouTube spam demo (UCI YouTube Spam Collection, CC BY 4.0).
The human annotators are simulated from gold with stated accuracies and a fixed seed; the
labeling functions are the example LF module (src/labelloop/data/demo/youtube_lfs.py) applied
through the LF service; the model is the TF-IDF + logistic regression
SklearnLabeler, cross-fitted on the humans' majority labels (never on gold); the LLM is the
real LLM labeler and service talking to a loopback server scripted to be right 80% of the
time. Then the default aggregator runs once over all of their answers.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

import labelloop
from labelloop.labelers.sklearn import SklearnLabeler
from labelloop.service.adjudicate.adjudicate import adjudicate
from labelloop.service.annotate.lf import apply_lf_module
from labelloop.service.annotate.llm import llm_label
from labelloop.service.project.schemas import apply_schema_file, current_schema
from labelloop.service.source.imports import import_answers, import_gold, import_items
from labelloop.store import repo
from labelloop.store import tables as t
from tests.labelers.llm_server import LLMServer, Reply, ok

DEMO = Path(labelloop.__file__).parent / "data" / "demo"
N_ITEMS = 600
SEED = 20240607
HUMANS = {"ann-careful": 0.92, "ann-typical": 0.80, "ann-noisy": 0.65}
HUMAN_COVERAGE = 0.7
LLM_ACCURACY = 0.8

LF_MODULE = (
    Path(__file__).resolve().parents[2] / "src" / "labelloop" / "data" / "demo" / "youtube_lfs.py"
)


def _flip(label: str) -> str:
    return "ham" if label == "spam" else "spam"


def _llm_answer(text: str, gold: dict[str, str]) -> str:
    """Right with probability LLM_ACCURACY, decided by the text's hash (order independent)."""
    draw = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 16**8
    truth = gold[text]
    return truth if draw < LLM_ACCURACY else _flip(truth)


@pytest.fixture
def demo(store, workspace) -> Iterator[dict]:
    rng = random.Random(SEED)
    gold = {r["task"]: r["label"] for r in csv.DictReader((DEMO / "youtube_gold.csv").open())}
    with (DEMO / "youtube_items.csv").open(encoding="utf-8") as fh:
        unique = {r["comment_id"]: r for r in csv.DictReader(fh) if r["comment_id"] in gold}
    rows = list(unique.values())
    rows = rng.sample(rows, N_ITEMS)
    items = workspace / "items.csv"
    with items.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with (workspace / "gold.csv").open("w", encoding="utf-8", newline="") as fh:
        fh.write(
            "task,label\n" + "".join(f"{r['comment_id']},{gold[r['comment_id']]}\n" for r in rows)
        )
    apply_schema_file(store, None, DEMO / "spam_schema.yaml")
    import_items(store, None, items, id_field="comment_id")
    import_gold(store, None, workspace / "gold.csv")
    yield {"rows": rows, "gold": {r["comment_id"]: gold[r["comment_id"]] for r in rows}}


def _add_humans(store, workspace, rows, gold) -> None:
    rng = random.Random(SEED + 1)
    path = workspace / "human_answers.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("worker,task,label\n")
        for worker, accuracy in HUMANS.items():
            for r in rows:
                if rng.random() < HUMAN_COVERAGE:
                    truth = gold[r["comment_id"]]
                    label = truth if rng.random() < accuracy else _flip(truth)
                    fh.write(f"{worker},{r['comment_id']},{label}\n")
    import_answers(store, None, path, labeler_kind="human")


def _write_answers(store, kind, name, version, source, answers, payload=None) -> None:
    """Answer events of one non-human labeler: answers = {item key: label}."""
    with store.write() as conn:
        project = repo.get_project(conn, None, lock=True)
        version_id, _ = current_schema(conn, project)
        labeler_id = repo.ensure_labelers(conn, project, {(kind, name, version)})[
            (kind, name, version)
        ]
        ids = repo.find_item_ids(conn, project, list(answers))
        drafts = [
            repo.EventDraft(
                type="answer",
                item_id=ids[key],
                labeler_id=labeler_id,
                label=label,
                schema_version_id=version_id,
                source=source,
                idempotency_key=f"{source}:{labeler_id}:{ids[key]}",
                payload=payload(key) if payload else None,
            )
            for key, label in answers.items()
        ]
        repo.append_events(conn, project.name, drafts)


def _add_model(store, workspace, rows) -> None:
    """TF-IDF + LR cross-fitted on the humans' majority labels (two folds, two versions)."""
    votes: dict[str, Counter] = defaultdict(Counter)
    with (workspace / "human_answers.csv").open() as fh:
        for r in csv.DictReader(fh):
            votes[r["task"]][r["label"]] += 1
    consensus = {}
    for key, c in votes.items():
        top = c.most_common()
        if len(top) == 1 or top[0][1] > top[1][1]:
            consensus[key] = top[0][0]
    folds = [rows[::2], rows[1::2]]
    for k, fold in enumerate(folds):
        train = [r for r in folds[1 - k] if r["comment_id"] in consensus]
        model = SklearnLabeler().fit(
            [r["text"] for r in train], [consensus[r["comment_id"]] for r in train]
        )
        proba = model.predict_proba([r["text"] for r in fold])
        answers, confidence = {}, {}
        for r, p in zip(fold, proba, strict=True):
            answers[r["comment_id"]] = model.classes_[int(p.argmax())]
            confidence[r["comment_id"]] = round(float(p.max()), 6)
        _write_answers(
            store,
            "model",
            model.name,
            model.version,
            "model",
            answers,
            payload=lambda key, c=confidence, m=model: {
                "confidence": c[key],
                "model": m.provenance(),
            },
        )


def _item_text(request: dict) -> str:
    item = [m["content"] for m in request["messages"] if m["content"].startswith("Item:")][-1]
    return json.loads(item.split("\n", 1)[1])["text"]


def test_humans_rules_model_and_llm_in_one_aggregation(demo, store, workspace):
    rows, gold = demo["rows"], demo["gold"]
    _add_humans(store, workspace, rows, gold)
    lfs = apply_lf_module(store, None, LF_MODULE, n_jobs=1)
    assert lfs.n_failures == 0
    _add_model(store, workspace, rows)

    by_text = {r["text"]: gold[r["comment_id"]] for r in rows}

    def responder(request: dict) -> Reply:
        return ok(_llm_answer(_item_text(request), by_text))

    with LLMServer(responder) as server:
        run = llm_label(store, None, base_url=server.url, model="sim-llm-80", max_concurrency=4)
    assert (run.asked, run.labeled, run.failed) == (N_ITEMS, N_ITEMS, 0)

    report = adjudicate(store, None, method="auto")
    assert report.method.startswith("auto")
    skills = {(x.kind, x.name): x for x in report.labelers}

    # Every kind of source is in the one fit, each with an estimated reliability.
    kinds = Counter(x.kind for x in report.labelers)
    voting_lfs = sum(1 for x in lfs.lfs if x.votes)
    assert kinds == {"human": 3, "rule": voting_lfs, "model": 2, "llm": 1} and voting_lfs >= 5
    assert all(x.skill is not None and 0.0 <= x.skill <= 1.0 for x in report.labelers)

    # Measured accuracy of each labeler on the items it answered (from the same answers).
    accuracy = _accuracy_by_labeler(store)

    # Humans: ordered as simulated, and each estimate near its measured accuracy.
    human = {name: skills[("human", name)].skill for name in HUMANS}
    assert human["ann-careful"] > human["ann-typical"] > human["ann-noisy"]
    for name in HUMANS:
        measured = accuracy[("human", name)]
        assert abs(human[name] - measured) < 0.07, (name, human[name], measured)
    # The LLM: near its scripted accuracy.
    llm = skills[("llm", "sim-llm-80")].skill
    assert abs(llm - accuracy[("llm", "sim-llm-80")]) < 0.07 and abs(llm - LLM_ACCURACY) < 0.1

    # The model (two cross-fitted versions): answer-weighted estimate near its accuracy.
    # (Rules vote one class only; their skill is the prior-weighted diagonal of a confusion
    # with an unseen row, not their precision, so no closeness is asserted for them.)
    per_kind: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for x in report.labelers:
        per_kind[x.kind].append((x.answers, x.skill))
    kind_skill = {k: sum(n * s for n, s in v) / sum(n for n, _ in v) for k, v in per_kind.items()}
    assert abs(kind_skill["model"] - accuracy[("model", "tfidf-logreg")]) < 0.07

    # Combining beats the best source that answers most items (on the items it answered).
    broad = [accuracy[("human", name)] for name in HUMANS]
    broad += [accuracy[("llm", "sim-llm-80")], accuracy[("model", "tfidf-logreg")]]
    assert report.gold_items >= N_ITEMS  # (+ worked examples some LFs voted on)
    assert report.gold_accuracy is not None and report.gold_accuracy >= max(broad)


def _accuracy_by_labeler(store) -> dict[tuple[str, str], float]:
    """Share of each labeler's answers (kind, name; model versions pooled) equal to gold."""
    ev, it, lb = t.events, t.items, t.labelers
    with store.read() as conn:
        gold = {
            key: json.loads(label)
            for key, label in conn.execute(
                select(it.c.key, t.gold.c.label).join(it, it.c.id == t.gold.c.item_id)
            )
        }
        answers = conn.execute(
            select(lb.c.kind, lb.c.name, it.c.key, ev.c.label)
            .join(it, it.c.id == ev.c.item_id)
            .join(lb, lb.c.id == ev.c.labeler_id)
            .where(ev.c.type == "answer")
        ).all()
    per: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for kind, name, key, label in answers:
        per[(kind, name)].append(json.loads(label) == gold[key])
    return {who: sum(v) / len(v) for who, v in per.items()}
