"""A model labeler for label sets: one-vs-rest scikit-learn classifiers over the label set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np

from labelloop.core.answers import FloatArray
from labelloop.core.label_sets import BoolArray
from labelloop.errors import InvalidInput
from labelloop.labelers._base import extract_texts, not_trained, params_repr, training_version
from labelloop.labelers.sklearn import DEFAULT_C


def default_set_estimator() -> Any:
    """TF-IDF (word 1-2 grams, sublinear tf) + one logistic regression per label (C=10)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1),
        OneVsRestClassifier(LogisticRegression(C=DEFAULT_C, max_iter=2000)),
    )


class SetSklearnLabeler:
    """A model labeler for label sets, trained on multi-hot rows over ``classes``.

    ``estimator`` (default :func:`default_set_estimator`) is fitted on texts and a
    (n, n_classes) 0/1 matrix and must return per-label probabilities of shape
    (n, n_classes) from ``predict_proba`` (``OneVsRestClassifier`` does). A label present in
    every or no training row gets a constant probability (1 or 0).
    """

    kind: ClassVar[str] = "model"

    def __init__(
        self,
        classes: Sequence[str],
        estimator: Any = None,
        *,
        text_field: str = "text",
        name: str = "tfidf-ovr-logreg",
    ) -> None:
        self.classes_ = tuple(classes)
        self.estimator = estimator
        self.text_field = text_field
        self.name = name
        self.version = ""
        self.n_train_ = 0
        self.model_: Any = None
        self.constant_: dict[int, float] = {}

    def unfitted(self) -> Self:
        """A new, untrained labeler with the same classes, estimator, text field and name."""
        return type(self)(self.classes_, self.estimator, text_field=self.text_field, name=self.name)

    def _make(self) -> Any:
        if self.estimator is None:
            return default_set_estimator()
        from sklearn.base import clone

        return clone(self.estimator)

    def fit(self, texts: Sequence[str] | Sequence[Mapping[str, Any]], present: BoolArray) -> Self:
        """Train on texts (or item dicts) and their multi-hot rows (n, n_classes)."""
        xs = extract_texts(texts, self.text_field)
        y = np.asarray(present, dtype=bool)
        if y.shape != (len(xs), len(self.classes_)):
            raise InvalidInput(
                f"expected labels of shape ({len(xs)}, {len(self.classes_)}), got {y.shape}"
            )
        if len(xs) < 2:
            raise InvalidInput(f"need at least 2 labeled texts to train; got {len(xs)}")
        share = y.mean(axis=0)
        constant = np.flatnonzero((share == 0) | (share == 1)).tolist()
        self.constant_ = {int(k): float(share[k]) for k in constant}
        varying = [k for k in range(len(self.classes_)) if k not in self.constant_]
        model = None
        if varying:
            model = self._make()
            try:
                model.fit(xs, y[:, varying].astype(np.int64))
            except Exception as exc:  # the user's estimator: report it in one line
                said = " ".join(str(exc).split())[:200]
                raise InvalidInput(
                    f"estimator {type(model).__name__} failed to fit {len(xs)} texts on "
                    f"{len(varying)} labels: {type(exc).__name__}: {said}"
                ) from exc
        self.model_ = model
        self.varying_ = varying
        self.n_train_ = len(xs)
        rows = ["|".join(c for c, on in zip(self.classes_, row, strict=True) if on) for row in y]
        self.version = training_version(
            params_repr(model if model is not None else self._make()), xs, rows
        )
        return self

    def predict_proba(self, texts: Sequence[str] | Sequence[Mapping[str, Any]]) -> FloatArray:
        """P(label present), shape (n, n_classes), columns in ``classes_`` order."""
        if not self.n_train_:
            raise not_trained(self.name)
        xs = extract_texts(texts, self.text_field)
        out = np.zeros((len(xs), len(self.classes_)), dtype=np.float64)
        for k, value in self.constant_.items():
            out[:, k] = value
        if xs and self.model_ is not None:
            p = np.asarray(self.model_.predict_proba(xs), dtype=np.float64)
            if p.ndim == 1 or (len(self.varying_) == 1 and p.shape[1] == 2):
                p = p.reshape(len(xs), -1)[:, -1:]
            out[:, self.varying_] = p
        return out
