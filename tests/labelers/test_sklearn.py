"""labelers.sklearn: a trained model labeler on real data; versions follow the training data."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline

from labelloop.errors import Conflict, InvalidInput
from labelloop.labelers import SklearnLabeler
from tests import realdata


@pytest.fixture(scope="module")
def sms() -> tuple[list[str], list[str]]:
    path = realdata.dataset("al", "sms_spam") / "data.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names = {"0": "ham", "1": "spam"}
    return [r["text"] for r in rows], [names[r["label"]] for r in rows]


def _split(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return order[: int(0.7 * n)], order[int(0.7 * n) :]


def test_default_labeler_beats_90_percent_on_held_out_sms(
    sms: tuple[list[str], list[str]],
) -> None:
    texts, labels = sms
    train, test = _split(len(texts))
    labeler = SklearnLabeler().fit([texts[i] for i in train], [labels[i] for i in train])
    assert labeler.classes_ == ("ham", "spam") and labeler.kind == "model"
    p = labeler.predict_proba([texts[i] for i in test])
    assert p.shape == (len(test), 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    predicted = np.array(labeler.classes_)[p.argmax(axis=1)]
    accuracy = (predicted == np.array([labels[i] for i in test])).mean()
    majority = np.mean([labels[i] == "ham" for i in test])
    assert accuracy > 0.9 and accuracy > majority + 0.08, accuracy
    assert labeler.predict([texts[test[0]]]) == [predicted[0]]


def test_version_follows_training_data_and_params(sms: tuple[list[str], list[str]]) -> None:
    texts, labels = sms[0][:300], sms[1][:300]
    v1 = SklearnLabeler().fit(texts, labels).version
    assert len(v1) == 16
    # same data (in another order, or as item dicts) and params -> same version
    order = np.random.default_rng(1).permutation(300)
    shuffled = SklearnLabeler().fit([texts[i] for i in order], [labels[i] for i in order])
    assert shuffled.version == v1
    as_items = SklearnLabeler().fit([{"text": t, "id": i} for i, t in enumerate(texts)], labels)
    assert as_items.version == v1
    # one label changed, one item more, other hyper-parameters -> a new version each
    flipped = list(labels)
    flipped[0] = "spam" if flipped[0] == "ham" else "ham"
    assert SklearnLabeler().fit(texts, flipped).version != v1
    more = SklearnLabeler().fit([*texts, sms[0][300]], [*labels, sms[1][300]])
    assert more.version != v1
    other = make_pipeline(CountVectorizer(), LogisticRegression(C=0.5))
    assert SklearnLabeler(other).fit(texts, labels).version != v1


def test_wraps_any_estimator_without_changing_it(sms: tuple[list[str], list[str]]) -> None:
    texts, labels = sms[0][:500], sms[1][:500]
    estimator = make_pipeline(CountVectorizer(), MultinomialNB())
    labeler = SklearnLabeler(estimator, name="nb").fit(texts, labels)
    assert not hasattr(estimator[-1], "classes_")  # the given estimator was cloned
    assert labeler.predict_proba(texts[:3]).shape == (3, 2)
    prov = labeler.provenance()
    assert prov["name"] == "nb" and prov["version"] == labeler.version and prov["n_train"] == 500
    assert "MultinomialNB" in prov["estimator"]


def test_columns_follow_classes_order() -> None:
    texts = ["good", "great", "bad", "awful", "meh", "so so"]
    labels = ["pos", "pos", "neg", "neg", "mid", "mid"]
    labeler = SklearnLabeler().fit(texts, labels)
    assert labeler.classes_ == ("mid", "neg", "pos")
    p = labeler.predict_proba(["great", "awful", "meh"])
    assert p.argmax(axis=1).tolist() == [2, 1, 0]
    assert labeler.predict_proba([]).shape == (0, 3)


def test_bad_input_is_one_clear_error() -> None:
    labeler = SklearnLabeler()
    with pytest.raises(Conflict, match="not trained"):
        labeler.predict_proba(["x"])
    with pytest.raises(InvalidInput, match="at least 2 distinct labels"):
        labeler.fit(["a", "b"], ["spam", "spam"])
    with pytest.raises(InvalidInput, match="2 texts but 1 labels"):
        labeler.fit(["a", "b"], ["spam"])
    with pytest.raises(InvalidInput, match="no field 'text'"):
        labeler.fit([{"body": "a"}, {"body": "b"}], ["x", "y"])
    with pytest.raises(InvalidInput, match="labels must be strings"):
        labeler.fit(["a", "b"], [0, 1])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="predict_proba"):
        SklearnLabeler(object()).fit(["a", "b"], ["x", "y"])
