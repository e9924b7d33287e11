"""Truth inference for multi-label answers: which labels each item has.

Each label is a binary question (present / absent) answered by every answer on the item: a
set that gives the label says *present*, one that leaves it out says *absent*. The
estimators here run a registered single-label aggregator on those binary answers:

- ``multi_label_mv.v1``: majority vote per label (a tie is *absent*); the baseline.
- ``multi_label_ds.v1``: Dawid–Skene per label: each labeler has a 2x2 confusion (miss
  rate, false-add rate) of its own for every label.
- ``multi_label_pooled_ds.v1``: Dawid–Skene with one 2x2 confusion per labeler shared by all
  labels (fitted on the stacked (item, label) units): labelers who miss or add labels at a
  steady rate are estimated from all their answers at once, not from a label's few.

``benchmarks/multilabel.py`` compares them on AG News sets with simulated annotators.

Examples
--------
>>> from labelloop.core.label_sets import SetAnswers
>>> a = SetAnswers.from_sets(
...     [0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2], [[0, 1], [0], [0, 1], [1], [1], []], n_classes=2
... )
>>> make_set_aggregator("multi_label_mv.v1").fit(a).labels_.astype(int).tolist()
[[1, 1], [0, 1]]
>>> sorted(SET_AGGREGATORS)
['multi_label_ds.v1', 'multi_label_mv.v1', 'multi_label_pooled_ds.v1']
"""

from __future__ import annotations

from typing import Any, ClassVar, Self, cast

import numpy as np
import numpy.typing as npt

from labelloop import registry
from labelloop.core.aggregate._base import Aggregator
from labelloop.core.aggregate.dawid_skene import DawidSkene
from labelloop.core.aggregate.voting import MajorityVote
from labelloop.core.answers import ABSTAIN, FloatArray, IntArray
from labelloop.core.label_sets import BoolArray, SetAnswers
from labelloop.errors import InvalidInput


class SetAggregator:
    """Base of multi-label truth inference (scikit-learn style).

    ``fit(answers, gold)`` sets

    - ``labels_`` : bool array, shape (n_items, n_classes) -- the inferred set per item;
    - ``probas_`` : float array, shape (n_items, n_classes) -- P(label present);
    - ``answered_`` : bool array, shape (n_items,) -- items with answers or gold;
    - ``skills_`` : float array, shape (n_labelers,) -- estimated share of a labeler's
      present/absent decisions that are right (NaN without answers);
    - ``confusions_`` : float array, shape (n_labelers, 2, 2), or None -- the present/absent
      confusion of each labeler when one is shared by all labels (pooled);
    - ``n_iter_`` and ``converged_``.

    ``gold`` is an int array of shape (n_items, n_classes): 1 present, 0 absent, -1 unknown
    (a known item has no -1); known items are clamped.
    """

    name: ClassVar[str] = "set_aggregator.v0"
    base: ClassVar[type[Aggregator]] = MajorityVote
    pooled: ClassVar[bool] = False

    labels_: BoolArray
    probas_: FloatArray
    answered_: npt.NDArray[np.bool_]
    skills_: FloatArray
    confusions_: FloatArray | None
    n_iter_: int
    converged_: bool

    def __init__(self, **base_params: Any) -> None:
        self.base_params = base_params

    def params(self) -> dict[str, Any]:
        """Registry name and parameters (for provenance)."""
        return {"aggregator": self.name, **self.base_params}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.base_params.items())
        return f"{type(self).__name__}({args})"

    def fit(self, answers: SetAnswers, gold: npt.ArrayLike | None = None) -> Self:
        """Fit to ``answers``; ``gold`` (shape (n_items, n_classes), -1 unknown) clamps."""
        if not isinstance(answers, SetAnswers):
            raise TypeError(f"answers must be SetAnswers, got {type(answers).__name__}")
        n, k = answers.n_items, answers.n_classes
        if k < 1:
            raise InvalidInput("answers must have at least one label (n_classes >= 1)")
        known = _gold(gold, n, k)
        probas = np.zeros((n, k), dtype=np.float64)
        answered = np.bincount(answers.item, minlength=n) > 0
        if self.pooled:
            model = self.base(**self.base_params).fit(answers.stacked(), known.ravel())
            probas[:] = model.probas_[:, 1].reshape(n, k)
            skills = np.asarray(model.skills_, dtype=np.float64)
            confusions = getattr(model, "confusions_", None)
            n_iter, converged = int(model.n_iter_), bool(model.converged_)
        else:
            per_label_skill = np.full((k, answers.n_labelers), np.nan)
            confusions = None
            n_iter, converged = 0, True
            for c in range(k):  # one binary fit per label
                model = self.base(**self.base_params).fit(answers.per_label(c), known[:, c])
                probas[:, c] = model.probas_[:, 1]
                per_label_skill[c] = model.skills_
                n_iter = max(n_iter, int(model.n_iter_))
                converged = converged and bool(model.converged_)
            with np.errstate(invalid="ignore"):
                counts = np.isfinite(per_label_skill).sum(axis=0)
                skills = np.where(
                    counts > 0, np.nansum(per_label_skill, axis=0) / np.maximum(counts, 1), np.nan
                )
        has_gold = (known != ABSTAIN).all(axis=1)
        probas[has_gold] = known[has_gold]
        self.answered_ = answered | has_gold
        probas[~self.answered_] = 0.0
        self.probas_ = probas
        self.labels_ = probas > 0.5
        self.skills_ = skills
        self.confusions_ = confusions
        self.n_iter_ = n_iter
        self.converged_ = converged
        return self

    def stacked_probas(self) -> FloatArray:
        """Posterior of the stacked binary units, shape (n_items * n_classes, 2):
        ``[P(absent), P(present)]`` for unit ``item * n_classes + label``."""
        p = self.probas_.ravel()
        return np.stack([1.0 - p, p], axis=1)


def _gold(gold: npt.ArrayLike | None, n: int, k: int) -> IntArray:
    out = np.full((n, k), ABSTAIN, dtype=np.int64)
    if gold is None:
        return out
    arr = np.asarray(gold, dtype=np.int64)
    if arr.shape != (n, k):
        raise InvalidInput(f"gold must have shape ({n}, {k}), got {arr.shape}")
    if ((arr < ABSTAIN) | (arr > 1)).any():
        raise InvalidInput("gold entries must be 1 (present), 0 (absent) or -1 (unknown)")
    partial = (arr == ABSTAIN).any(axis=1) & (arr != ABSTAIN).any(axis=1)
    if partial.any():
        raise InvalidInput(
            f"gold row {int(np.flatnonzero(partial)[0])} is partly unknown; "
            "expected a whole set or all -1"
        )
    out[:] = arr
    return out


class PerLabelMajorityVote(SetAggregator):
    """Majority vote on each label's present/absent answers (a tie is absent)."""

    name: ClassVar[str] = "multi_label_mv.v1"
    base: ClassVar[type[Aggregator]] = MajorityVote


class PerLabelDawidSkene(SetAggregator):
    """Dawid–Skene on each label's present/absent answers, a confusion per labeler and label."""

    name: ClassVar[str] = "multi_label_ds.v1"
    base: ClassVar[type[Aggregator]] = DawidSkene


class PooledDawidSkene(SetAggregator):
    """Dawid–Skene on all labels' present/absent answers, one confusion per labeler."""

    name: ClassVar[str] = "multi_label_pooled_ds.v1"
    base: ClassVar[type[Aggregator]] = DawidSkene
    pooled: ClassVar[bool] = True


SET_AGGREGATORS = registry.set_aggregators
"""Registry of multi-label aggregators: versioned name -> estimator class (see
:mod:`labelloop.registry`)."""


def make_set_aggregator(name: str, **params: Any) -> SetAggregator:
    """Build a registered multi-label aggregator by (versioned or bare) name.

    Raises :class:`labelloop.errors.NotFound` listing the known names.
    """
    return cast(SetAggregator, SET_AGGREGATORS.make(name, **params))
