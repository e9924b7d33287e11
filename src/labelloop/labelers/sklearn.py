"""A labeler wrapping any scikit-learn estimator with ``predict_proba``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np

from labelloop.core.answers import FloatArray
from labelloop.errors import InvalidInput
from labelloop.labelers._base import (
    check_labels,
    extract_texts,
    not_trained,
    params_repr,
    reorder_columns,
    training_version,
)

DEFAULT_C = 10.0


def default_text_estimator() -> Any:
    """TF-IDF (word 1-2 grams, sublinear tf) + logistic regression (C=10, lbfgs)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1),
        LogisticRegression(C=DEFAULT_C, max_iter=2000),
    )


class SklearnLabeler:
    """A model labeler: any estimator with ``predict_proba``, trained on consensus labels.

    ``fit`` clones the estimator, so the one passed in is never changed. After ``fit``:
    ``classes_`` (sorted label strings), ``version`` (content hash of the estimator's
    parameters and the sorted (text hash, label) training pairs: the same data and
    parameters give the same version, any change gives a new one).
    """

    kind: ClassVar[str] = "model"

    def __init__(
        self, estimator: Any = None, *, text_field: str = "text", name: str = "tfidf-logreg"
    ) -> None:
        self.estimator = estimator
        self.text_field = text_field
        self.name = name
        self.classes_: tuple[str, ...] = ()
        self.version: str = ""
        self.n_train_: int = 0
        self.model_: Any = None

    def _default_estimator(self) -> Any:
        return default_text_estimator()

    def _features(self, xs: list[str]) -> Any:
        """What the estimator sees for these texts (subclasses transform them)."""
        return xs

    def _params(self, model: Any) -> str:
        """The parameters that, with the training data, make the version."""
        return params_repr(model)

    def _make(self) -> Any:
        if self.estimator is None:
            return self._default_estimator()
        from sklearn.base import clone

        if not hasattr(self.estimator, "predict_proba"):
            raise InvalidInput(
                f"estimator {type(self.estimator).__name__} has no predict_proba; "
                "expected a probabilistic classifier (or a Pipeline ending in one)"
            )
        return clone(self.estimator)

    def unfitted(self) -> Self:
        """A new, untrained labeler with the same estimator, text field and name."""
        return type(self)(self.estimator, text_field=self.text_field, name=self.name)

    def fit(
        self, texts: Sequence[str] | Sequence[Mapping[str, Any]], labels: Sequence[str]
    ) -> Self:
        """Train on texts (or item dicts) and their label strings; returns self."""
        xs = extract_texts(texts, self.text_field)
        classes = check_labels(labels, len(xs))
        model = self._make()
        code = {c: i for i, c in enumerate(classes)}
        y = np.fromiter((code[lab] for lab in labels), dtype=np.int64, count=len(xs))
        features = self._features(xs)
        if self.estimator is None:
            model.fit(features, y)
        else:
            try:
                model.fit(features, y)
            except Exception as exc:  # the user's estimator: report it in one line
                said = " ".join(str(exc).split())
                said = said if len(said) <= 200 else said[:197] + "..."
                hint = (
                    "; it receives raw texts: start it with a vectorizer (a Pipeline)"
                    if features is xs
                    else ""
                )
                raise InvalidInput(
                    f"estimator {type(model).__name__} failed to fit on {len(xs)} "
                    f"{'texts' if features is xs else 'feature rows'}: "
                    f"{type(exc).__name__}: {said}{hint}"
                ) from exc
        self.model_ = model
        self.classes_ = classes
        self.n_train_ = len(xs)
        self.version = training_version(self._params(model), xs, list(labels))
        return self

    def predict_proba(self, texts: Sequence[str] | Sequence[Mapping[str, Any]]) -> FloatArray:
        """Class probabilities, shape (n, K), columns in ``classes_`` order."""
        if self.model_ is None:
            raise not_trained(self.name)
        xs = extract_texts(texts, self.text_field)
        if not xs:
            return np.zeros((0, len(self.classes_)), dtype=np.float64)
        raw = np.asarray(self.model_.predict_proba(self._features(xs)), dtype=np.float64)
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
            "estimator": params_repr(self.model_ if self.model_ is not None else self._make()),
        }

    def __repr__(self) -> str:
        state = f"version={self.version!r}" if self.version else "untrained"
        return f"{type(self).__name__}(name={self.name!r}, {state})"
