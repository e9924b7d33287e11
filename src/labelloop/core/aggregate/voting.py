"""Vote-counting aggregators: MajorityVote, WeightedMajorityVote, Wawa, ZeroBasedSkill.

Tie-break (all four)
--------------------
When two or more classes have the same (weighted) vote on an item, the label goes to the
class with **more votes over the whole answer set** (higher prevalence), and among classes
with equal prevalence to the **lower class code**. This is the Bayes decision for tied votes
under the symmetric model majority vote assumes (equal likelihood, so the class prior
decides), it does not depend on the order of rows or on how items and labelers are named,
and ``probas_`` keeps the tie visible (tied classes get equal probability).
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt

from labelloop.core.aggregate._base import (
    Aggregator,
    FitInput,
    GoldLike,
    argmax_tiebreak,
    clamp,
    labeler_mean,
    prepare,
    prevalence_order,
)
from labelloop.core.answers import Answers, FloatArray, IntArray


def _vote_probas(a: Answers, weights: FloatArray | None) -> FloatArray:
    """Vote shares per item, shape (n_items, n_classes).

    Items whose weighted votes sum to zero fall back to unweighted shares; items without
    votes get the overall vote shares.
    """
    counts = a.label_counts()
    prior = counts.sum(axis=0)
    prior = prior / prior.sum() if prior.sum() > 0 else np.full(a.n_classes, 1.0 / a.n_classes)
    if weights is not None:
        weighted = a.label_counts(weights)
        ok = weighted.sum(axis=1) > 0
        counts[ok] = weighted[ok]
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        probas: FloatArray = counts / total
    probas[total[:, 0] <= 0] = prior
    return probas


def _agreement(fi: FitInput, labels: IntArray) -> FloatArray:
    """Share of each labeler's answers equal to ``labels`` (NaN without answers)."""
    a = fi.answers
    return labeler_mean(a, (labels[a.item] == a.label).astype(np.float64))


class _VoteBase(Aggregator):
    def _vote(self, fi: FitInput, weights: FloatArray | None, order: IntArray) -> FloatArray:
        probas = _vote_probas(fi.answers, weights)
        return clamp(probas, fi.gold, fi.known)


class MajorityVote(_VoteBase):
    """Each item gets the class most of its answers name.

    Ties go to the more prevalent class overall, then the lower code (see module notes).
    ``skills_`` is each labeler's agreement with the result: the mean of ``probas_[item,
    label]`` over their answers (a tie counts as a partial agreement).

    Examples
    --------
    >>> from labelloop.core.answers import Answers
    >>> a = Answers.from_codes([0, 0, 0, 1, 1], [0, 1, 2, 0, 1], [1, 1, 0, 0, 1])
    >>> MajorityVote().fit(a).labels_.tolist()
    [1, 1]
    >>> MajorityVote().fit(a).probas_[1].tolist()
    [0.5, 0.5]
    """

    name: ClassVar[str] = "majority_vote.v1"

    def fit(self, answers: Answers, gold: GoldLike = None) -> Self:
        fi = prepare(answers, gold)
        order = prevalence_order(fi.answers)
        probas = self._vote(fi, None, order)
        self._finish(fi, probas, order, n_iter=1, converged=True, log_likelihood=None)
        a = fi.answers
        self.skills_ = labeler_mean(a, probas[a.item, a.label])
        return self


class WeightedMajorityVote(_VoteBase):
    """Votes weighted per labeler.

    Parameters
    ----------
    weights : array of float, shape (n_labelers,), optional
        Fixed non-negative weights. When omitted they are estimated in one pass: each
        labeler's accuracy ``p`` against the majority vote (with a Beta(1, 1) prior, and
        gold items counted at their gold label), turned into the one-coin log-odds weight
        ``max(0, log((K - 1) p / (1 - p)))`` -- the optimal weight when each labeler is right
        with probability ``p`` and otherwise picks a wrong class uniformly.

    Examples
    --------
    >>> import numpy as np
    >>> from labelloop.core.answers import Answers
    >>> a = Answers.from_codes([0, 0, 0], [0, 1, 2], [1, 0, 0])
    >>> WeightedMajorityVote(weights=np.array([3.0, 1.0, 1.0])).fit(a).labels_.tolist()
    [1]
    """

    name: ClassVar[str] = "weighted_majority_vote.v1"
    _param_names: ClassVar[tuple[str, ...]] = ("weights",)

    def __init__(self, weights: npt.ArrayLike | None = None) -> None:
        self.weights = weights

    def fit(self, answers: Answers, gold: GoldLike = None) -> Self:
        fi = prepare(answers, gold)
        a = fi.answers
        order = prevalence_order(a)
        if self.weights is not None:
            w = np.asarray(self.weights, dtype=np.float64)
            if w.shape != (a.n_labelers,) or (w < 0).any() or not np.isfinite(w).all():
                raise ValueError(
                    f"weights must be finite, non-negative, shape ({a.n_labelers},); got shape {w.shape}"
                )
            skills = np.full(a.n_labelers, np.nan)
        else:
            mv = self._vote(fi, None, order)
            labels = argmax_tiebreak(mv, order)
            hits = np.bincount(
                a.labeler,
                weights=(labels[a.item] == a.label).astype(np.float64),
                minlength=a.n_labelers,
            )
            n = np.bincount(a.labeler, minlength=a.n_labelers)
            skills = (hits + 1.0) / (n + 2.0)
            k = max(a.n_classes, 2)
            w = np.maximum(0.0, np.log((k - 1) * skills / (1.0 - skills)))
        probas = self._vote(fi, w, order)
        self._finish(fi, probas, order, n_iter=1, converged=True, log_likelihood=None)
        self.skills_ = skills
        self.weights_ = w
        return self


class Wawa(_VoteBase):
    """Worker Agreement With Aggregate: majority vote re-weighted by agreement with it.

    Each labeler's weight (and ``skills_``) is the share of their answers that equal the
    majority-vote label; the result is the weighted vote. Same tie-break as
    :class:`MajorityVote`.

    Examples
    --------
    >>> from labelloop.core.answers import Answers
    >>> a = Answers.from_codes([0, 0, 0, 1, 1], [0, 1, 2, 0, 2], [1, 1, 0, 1, 0])
    >>> Wawa().fit(a).labels_.tolist()
    [1, 1]
    """

    name: ClassVar[str] = "wawa.v1"

    def fit(self, answers: Answers, gold: GoldLike = None) -> Self:
        fi = prepare(answers, gold)
        order = prevalence_order(fi.answers)
        mv = self._vote(fi, None, order)
        skills = _agreement(fi, argmax_tiebreak(mv, order))
        probas = self._vote(fi, np.nan_to_num(skills), order)
        self._finish(fi, probas, order, n_iter=2, converged=True, log_likelihood=None)
        self.skills_ = skills
        return self


class ZeroBasedSkill(_VoteBase):
    """Weighted vote with skills moved toward agreement-with-result step by step.

    Skills start at ``1 / K`` (plus a small ``eps``); each step takes the weighted vote and
    moves every skill a fraction ``lr`` of the way toward that labeler's agreement with it;
    ``lr`` starts at ``lr_init`` and is multiplied by ``lr_reduce_factor`` every
    ``lr_steps_to_reduce`` steps. Stops after ``max_iter`` steps or when no skill moves by
    more than ``tol``.

    Examples
    --------
    >>> from labelloop.core.answers import Answers
    >>> a = Answers.from_codes([0, 0, 0, 1, 1], [0, 1, 2, 0, 2], [1, 1, 0, 1, 0])
    >>> ZeroBasedSkill().fit(a).labels_.tolist()
    [1, 1]
    """

    name: ClassVar[str] = "zero_based_skill.v1"
    _param_names: ClassVar[tuple[str, ...]] = (
        "max_iter",
        "lr_init",
        "lr_steps_to_reduce",
        "lr_reduce_factor",
        "eps",
        "tol",
    )

    def __init__(
        self,
        max_iter: int = 100,
        lr_init: float = 1.0,
        lr_steps_to_reduce: int = 20,
        lr_reduce_factor: float = 0.5,
        eps: float = 1e-5,
        tol: float = 1e-9,
    ) -> None:
        self.max_iter = max_iter
        self.lr_init = lr_init
        self.lr_steps_to_reduce = lr_steps_to_reduce
        self.lr_reduce_factor = lr_reduce_factor
        self.eps = eps
        self.tol = tol

    def fit(self, answers: Answers, gold: GoldLike = None) -> Self:
        fi = prepare(answers, gold)
        a = fi.answers
        order = prevalence_order(a)
        skills = np.full(a.n_labelers, 1.0 / a.n_classes + self.eps)
        lr = self.lr_init
        converged = False
        it = 0
        for it in range(1, self.max_iter + 1):
            if it % self.lr_steps_to_reduce == 0:
                lr *= self.lr_reduce_factor
            probas = self._vote(fi, skills, order)
            agree = _agreement(fi, argmax_tiebreak(probas, order))
            agree = np.where(np.isnan(agree), skills, agree)
            new = skills + lr * (agree - skills)
            delta = float(np.max(np.abs(new - skills))) if new.size else 0.0
            skills = new
            if delta <= self.tol:
                converged = True
                break
        probas = self._vote(fi, skills, order)
        self._finish(fi, probas, order, n_iter=it, converged=converged, log_likelihood=None)
        self.skills_ = skills
        return self
