"""Shared machinery of the aggregators: the base class, gold handling, sparse scatter helpers.

Everything here works on the sparse answer arrays of :class:`~labelloop.core.answers.Answers`
(``item``, ``labeler``, ``label``; one entry per answer). Sums over answers are done with
``np.bincount`` on flat indices (``item * K + class`` and the like), never with a dense
items x labelers matrix and never with a Python loop over answers or items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from labelloop.core.answers import ABSTAIN, Answers, FloatArray, IntArray
from labelloop.errors import InvalidInput

GoldLike = npt.ArrayLike | Mapping[int, int] | None
"""Known labels: an int array of shape (n_items,) with ``ABSTAIN`` (-1) for unknown, or a
mapping ``item code -> class code``."""

TINY = 1e-300


def gold_array(gold: GoldLike, n_items: int, n_classes: int) -> IntArray:
    """Normalize known labels to an int array of shape (n_items,), ``-1`` for unknown.

    Raises ``ValueError`` naming the first out-of-range item or class code.
    """
    out = np.full(n_items, ABSTAIN, dtype=np.int64)
    if gold is None:
        return out
    if isinstance(gold, Mapping):
        if gold:
            keys = np.fromiter((int(k) for k in gold), dtype=np.int64, count=len(gold))
            vals = np.fromiter((int(v) for v in gold.values()), dtype=np.int64, count=len(gold))
            bad = (keys < 0) | (keys >= n_items)
            if bad.any():
                raise InvalidInput(f"gold item code {int(keys[bad][0])} is outside [0, {n_items})")
            out[keys] = vals
    else:
        arr = np.asarray(gold, dtype=np.int64)
        if arr.shape != (n_items,):
            raise InvalidInput(f"gold must have shape ({n_items},), got {arr.shape}")
        out[:] = arr
    bad_label = (out < ABSTAIN) | (out >= n_classes)
    if bad_label.any():
        raise InvalidInput(
            f"gold class code {int(out[bad_label][0])} is outside [0, {n_classes}) "
            "(use -1 for unknown)"
        )
    return out


def argmax_tiebreak(
    probas: FloatArray, secondary: FloatArray | None = None, *, rtol: float = 1e-9
) -> IntArray:
    """Row-wise argmax with a stated tie-break.

    Classes within ``rtol`` of the row maximum are tied; among them the one with the
    largest ``secondary`` score wins, and if that ties too, the lowest class code.

    Parameters
    ----------
    probas : array of float, shape (n_items, n_classes)
    secondary : array of float, shape (n_items, n_classes), optional
        Tie-break scores (e.g. skill-weighted votes).

    Returns
    -------
    labels : array of int, shape (n_items,)
        ``ABSTAIN`` for rows that are all zero.

    Examples
    --------
    >>> import numpy as np
    >>> argmax_tiebreak(np.array([[0.5, 0.5], [0.2, 0.8]])).tolist()
    [0, 1]
    >>> argmax_tiebreak(np.array([[0.5, 0.5]]), np.array([[1.0, 2.0]])).tolist()
    [1]
    """
    n, k = probas.shape
    if n == 0 or k == 0:
        return np.full(n, ABSTAIN, dtype=np.int64)
    top = probas.max(axis=1, keepdims=True)
    is_top = probas >= top - rtol * np.abs(top)
    if secondary is None:
        labels: IntArray = np.argmax(is_top, axis=1).astype(np.int64)
    else:
        masked = np.where(is_top, secondary, -np.inf)
        best = masked.max(axis=1, keepdims=True)
        pick = is_top & (masked >= best - rtol * np.abs(best))
        labels = np.argmax(pick, axis=1).astype(np.int64)
    labels[top[:, 0] <= 0] = ABSTAIN
    return labels


def clamp(probas: FloatArray, gold: IntArray, known: npt.NDArray[np.bool_]) -> FloatArray:
    """Overwrite rows of clamped items with one-hot gold (in place); returns ``probas``."""
    if known.any():
        rows = np.flatnonzero(known)
        probas[rows] = 0.0
        probas[rows, gold[rows]] = 1.0
    return probas


def normalize_log(log_post: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Softmax of each row and its log-normalizer (both from log-scores of shape (n, K))."""
    top = log_post.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    post = np.exp(log_post - top)
    total = post.sum(axis=1, keepdims=True)
    post /= total
    return post, (np.log(total) + top)[:, 0]


def item_scatter(answers: Answers, values: FloatArray) -> FloatArray:
    """Sum per-answer rows into items: shape (n_answers, K) -> (n_items, K)."""
    k = values.shape[1]
    out = np.empty((answers.n_items, k), dtype=np.float64)
    for c in range(k):  # loop over classes only
        out[:, c] = np.bincount(answers.item, weights=values[:, c], minlength=answers.n_items)
    return out


def labeler_mean(answers: Answers, values: FloatArray, *, empty: float = np.nan) -> FloatArray:
    """Mean of a per-answer value for each labeler, shape (n_labelers,)."""
    total = np.bincount(answers.labeler, weights=values, minlength=answers.n_labelers)
    count = np.bincount(answers.labeler, minlength=answers.n_labelers).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    mean[count == 0] = empty
    return mean


@dataclass(frozen=True)
class FitInput:
    """Validated inputs of one fit: answers without abstains, gold codes and mask."""

    answers: Answers
    gold: IntArray
    known: npt.NDArray[np.bool_]

    @property
    def n_classes(self) -> int:
        return self.answers.n_classes


def prepare(answers: Answers, gold: GoldLike) -> FitInput:
    """Drop abstains, normalize gold; raises ``ValueError`` when there are no classes."""
    if not isinstance(answers, Answers):
        raise TypeError(f"answers must be labelloop.core.Answers, got {type(answers).__name__}")
    if answers.n_classes < 1:
        raise InvalidInput("answers must have at least one class (n_classes >= 1)")
    a = answers.without_abstains()
    g = gold_array(gold, a.n_items, a.n_classes)
    return FitInput(a, g, g != ABSTAIN)


class Aggregator:
    """Base of truth-inference estimators (scikit-learn style).

    Subclasses store their parameters in ``__init__`` and implement :meth:`fit`, which sets

    - ``labels_`` : int array, shape (n_items,) -- inferred class per item (``ABSTAIN`` for an
      item with neither answers nor gold);
    - ``probas_`` : float array, shape (n_items, n_classes) -- posterior over classes;
    - ``skills_`` : float array, shape (n_labelers,) -- estimated accuracy of each labeler
      (NaN for a labeler without answers where the method has no prior);
    - ``n_iter_``, ``converged_`` and ``log_likelihood_`` (``None`` when the method has no
      likelihood).
    """

    name: ClassVar[str] = "aggregator.v0"
    _param_names: ClassVar[tuple[str, ...]] = ()

    labels_: IntArray
    probas_: FloatArray
    skills_: FloatArray
    n_iter_: int
    converged_: bool
    log_likelihood_: float | None

    def params(self) -> dict[str, Any]:
        """Registry name and constructor parameters (for provenance)."""
        out: dict[str, Any] = {"aggregator": self.name}
        for p in self._param_names:
            value = getattr(self, p)
            if isinstance(value, np.ndarray):
                value = value.tolist()
            out[p] = value
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self._param_names)
        return f"{type(self).__name__}({args})"

    def fit(self, answers: Answers, gold: GoldLike = None) -> Self:
        """Fit to ``answers``; ``gold`` clamps known items (see :func:`gold_array`)."""
        raise NotImplementedError

    def fit_predict(self, answers: Answers, gold: GoldLike = None) -> IntArray:
        """``fit`` then return ``labels_``."""
        return self.fit(answers, gold).labels_

    def fit_predict_proba(self, answers: Answers, gold: GoldLike = None) -> FloatArray:
        """``fit`` then return ``probas_``."""
        return self.fit(answers, gold).probas_

    def _finish(
        self,
        fi: FitInput,
        probas: FloatArray,
        secondary: FloatArray | None = None,
        *,
        n_iter: int,
        converged: bool,
        log_likelihood: float | None,
    ) -> None:
        answered = np.bincount(fi.answers.item, minlength=fi.answers.n_items) > 0
        labels = argmax_tiebreak(probas, secondary)
        labels[~(answered | fi.known)] = ABSTAIN
        self.labels_ = labels
        self.probas_ = probas
        self.n_iter_ = n_iter
        self.converged_ = converged
        self.log_likelihood_ = log_likelihood
