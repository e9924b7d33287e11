"""Labeler reliability from evidence independent of the labeler's own vote.

An aggregator's own skill estimate grades a labeler against a posterior that includes the
labeler's vote: on an item where it is the only voter the posterior *is* its vote, so a
model labeler that votes on every item (alone on most) is credited with agreeing with
itself. Here each answer ``(i, w, y)`` is credited only with evidence that does not come
from ``w``:

- the item's gold label, when it has one (credit 1 if ``y`` equals it, else 0);
- otherwise, when other labelers answered the item too, the probability of ``y`` under the
  **leave-self-out posterior**: with a fitted confusion model (``probas[i] ∝ p * prod_v
  pi[v, :, y_v]``) it is ``probas[i] / pi[w, :, y]`` renormalized; without one it is the
  other labelers' vote shares;
- an item where ``w`` is the only voter and there is no gold gives no credit and is not
  counted.

A labeler with at least ``min_gold`` gold items is scored on gold alone: gold is exact,
while the leave-self-out posterior of weak or one-sided co-voters (rules that only ever
vote one class) is not calibrated enough to add to it (measured in the demo project: a
model at 0.95 on gold came out at 0.83 when its items with only rules beside it were added).

``skill`` is the mean credit over counted items, ``evidence`` the number of counted items,
and ``[low, high]`` a Jeffreys interval (Beta(credit + 1/2, evidence - credit + 1/2)
quantiles), wide when there is little evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta

from labelloop.core.aggregate._base import GoldLike, gold_array, normalize_log
from labelloop.core.answers import ABSTAIN, Answers, FloatArray, IntArray


@dataclass(frozen=True)
class Reliability:
    """Per-labeler reliability, arrays of shape (n_labelers,); NaN without evidence."""

    skill: FloatArray
    evidence: IntArray
    low: FloatArray
    high: FloatArray
    gold_evidence: IntArray
    """How many of the counted items had gold."""


def score_reliability(
    answers: Answers,
    probas: FloatArray,
    *,
    confusions: FloatArray | None = None,
    gold: GoldLike = None,
    level: float = 0.95,
    min_gold: int = 20,
) -> Reliability:
    """Each labeler's accuracy estimated without its own vote (see module notes).

    Parameters
    ----------
    answers : Answers
        Abstains are ignored.
    probas : array of float, shape (n_items, n_classes)
        Posteriors of a fitted aggregator.
    confusions : array of float, shape (n_labelers, n_classes, n_classes), optional
        The aggregator's ``confusions_`` (``[w, k, y]``), when ``probas`` is a product of
        them (Dawid-Skene family); otherwise others' vote shares are used.
    gold : array or mapping, optional
        Known labels (see :func:`~labelloop.core.aggregate._base.gold_array`).
    level : float
        Coverage of the interval.
    min_gold : int
        Gold items from which a labeler is scored on gold alone.

    Examples
    --------
    >>> import numpy as np
    >>> from labelloop.core.answers import Answers
    >>> a = Answers.from_codes([0, 0, 1, 1, 2], [0, 1, 0, 1, 0], [1, 1, 0, 1, 1])
    >>> r = score_reliability(a, np.array([[0.0, 1.0], [0.5, 0.5], [0.0, 1.0]]))
    >>> r.evidence.tolist(), r.skill.tolist()  # item 2 (labeler 0 alone) is not counted
    ([2, 2], [0.5, 0.5])
    """
    a = answers.without_abstains()
    g = gold_array(gold, a.n_items, a.n_classes)
    per_item = np.bincount(a.item, minlength=a.n_items)
    item_gold = g[a.item]
    has_gold = item_gold != ABSTAIN
    others = per_item[a.item] >= 2
    n_gold = np.bincount(a.labeler[has_gold], minlength=a.n_labelers)
    gold_only = (n_gold >= min_gold)[a.labeler]
    use = has_gold | (others & ~gold_only)
    credit = np.zeros(len(a))
    credit[has_gold] = a.label[has_gold] == item_gold[has_gold]
    rows = np.flatnonzero(use & ~has_gold)
    if rows.size:
        i, w, y = a.item[rows], a.labeler[rows], a.label[rows]
        if confusions is not None:
            log_q = np.log(np.maximum(probas[i], 1e-300)) - np.log(
                np.maximum(confusions[w, :, y], 1e-300)
            )
            q, _ = normalize_log(log_q)
            credit[rows] = q[np.arange(rows.size), y]
        else:
            counts = a.label_counts()
            credit[rows] = (counts[i, y] - 1.0) / (per_item[i] - 1.0)
    n = np.bincount(a.labeler[use], minlength=a.n_labelers)
    s = np.bincount(a.labeler[use], weights=credit[use], minlength=a.n_labelers)
    with np.errstate(invalid="ignore", divide="ignore"):
        skill = np.where(n > 0, s / np.maximum(n, 1), np.nan)
    tail = (1.0 - level) / 2.0
    low = np.where(n > 0, beta.ppf(tail, s + 0.5, n - s + 0.5), np.nan)
    high = np.where(n > 0, beta.ppf(1.0 - tail, s + 0.5, n - s + 0.5), np.nan)
    return Reliability(
        skill=np.asarray(skill, dtype=np.float64),
        evidence=n.astype(np.int64),
        low=np.asarray(low, dtype=np.float64),
        high=np.asarray(high, dtype=np.float64),
        gold_evidence=n_gold.astype(np.int64),
    )
