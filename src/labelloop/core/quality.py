"""Quality control of people at work: the calibration gate, live monitoring, gold mixing and
adaptive overlap, as pure decisions over counts and small arrays.

- :func:`calibration_verdict`: after a calibration round, production access when the
  Clopper–Pearson lower bound of the person's accuracy clears the project threshold.
- :func:`monitor_verdict`: in production, pooled evidence (gold answers graded against gold,
  and answers graded against the consensus of *other* people) below the threshold flags a
  person; still below after ``suspend_after`` more graded answers (or when the
  Clopper–Pearson upper bound is below it) suspends them.
- :func:`gold_rate`: the chance that the next task is gold (higher for the first tasks).
- :func:`item_posterior` and :func:`overlap_verdict`: one item's posterior from its answers
  and cached labeler confusion matrices, in time proportional to its answers, and whether
  the item is done, needs another answer, or goes to the expert queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from labelloop.core.answers import Answers, FloatArray
from labelloop.core.routing import clopper_pearson

Verdict = Literal["ok", "flag", "suspend"]
OverlapVerdict = Literal["done", "more", "expert"]


@dataclass(frozen=True)
class Evidence:
    """Graded answers of one person: on gold and against other people's consensus."""

    gold_correct: int
    gold_total: int
    consensus_agree: int
    consensus_total: int

    @property
    def correct(self) -> int:
        return self.gold_correct + self.consensus_agree

    @property
    def total(self) -> int:
        return self.gold_total + self.consensus_total

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.total if self.total else None

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "gold_correct": self.gold_correct,
            "gold_total": self.gold_total,
            "gold_accuracy": None
            if not self.gold_total
            else round(self.gold_correct / self.gold_total, 4),
            "consensus_agree": self.consensus_agree,
            "consensus_total": self.consensus_total,
            "consensus_agreement": None
            if not self.consensus_total
            else round(self.consensus_agree / self.consensus_total, 4),
        }


def calibration_verdict(
    correct: int, answered: int, *, threshold: float, min_items: int, confidence: float = 0.95
) -> tuple[bool, float]:
    """(passed, lower bound): passed once ``answered >= min_items`` and the two-sided
    Clopper–Pearson lower bound of ``correct / answered`` is at least ``threshold``.

    Examples
    --------
    >>> calibration_verdict(20, 20, threshold=0.8, min_items=20)[0]
    True
    >>> calibration_verdict(17, 20, threshold=0.8, min_items=20)[0]
    False
    """
    if answered <= 0:
        return False, 0.0
    low, _ = clopper_pearson([correct], [answered], confidence)
    bound = float(low[0])
    return answered >= min_items and bound >= threshold, bound


def monitor_verdict(
    evidence: Evidence,
    *,
    threshold: float,
    min_evidence: int,
    flagged_at: int | None,
    suspend_after: int,
    confidence: float = 0.95,
) -> Verdict:
    """What to do about a person in production given their graded answers.

    ``flag`` when at least ``min_evidence`` answers are graded and the accuracy is below
    ``threshold``; ``suspend`` when the Clopper–Pearson upper bound is below it, or when the
    person was flagged at ``flagged_at`` graded answers and is still below after
    ``suspend_after`` more. ``ok`` otherwise (a flagged person back above is cleared).

    Examples
    --------
    >>> monitor_verdict(Evidence(5, 10, 0, 0), threshold=0.7, min_evidence=10,
    ...                 flagged_at=None, suspend_after=10)
    'flag'
    >>> monitor_verdict(Evidence(9, 20, 0, 0), threshold=0.7, min_evidence=10,
    ...                 flagged_at=10, suspend_after=10)
    'suspend'
    """
    n = evidence.total
    if n < min_evidence or evidence.accuracy is None or evidence.accuracy >= threshold:
        return "ok"
    _, high = clopper_pearson([evidence.correct], [n], confidence)
    if float(high[0]) < threshold:
        return "suspend"
    if flagged_at is not None and n - flagged_at >= suspend_after:
        return "suspend"
    return "flag"


def gold_rate(tasks_done: int, *, rate: float, early_rate: float, early_tasks: int) -> float:
    """Chance that a person's next production task is gold: ``early_rate`` for their first
    ``early_tasks`` tasks, then ``rate``.

    Examples
    --------
    >>> gold_rate(3, rate=0.1, early_rate=0.3, early_tasks=20), gold_rate(20, rate=0.1,
    ...     early_rate=0.3, early_tasks=20)
    (0.3, 0.1)
    """
    return early_rate if tasks_done < early_tasks else rate


def item_posterior(labels: Sequence[int], confusions: FloatArray, prior: FloatArray) -> FloatArray:
    """Posterior over classes of one item from its answers.

    Parameters
    ----------
    labels : sequence of int, length m
        The class code of each answer.
    confusions : array of float, shape (m, n_classes, n_classes)
        ``confusions[j, k, y]`` = P(answer ``y`` | true class ``k``) of answer ``j``'s labeler.
    prior : array of float, shape (n_classes,)

    Returns
    -------
    array of float, shape (n_classes,), summing to 1. O(m * n_classes).

    Examples
    --------
    >>> pi = np.array([[[0.9, 0.1], [0.1, 0.9]]] * 2)
    >>> item_posterior([1, 1], pi, np.array([0.5, 0.5])).round(3).tolist()
    [0.012, 0.988]
    """
    log_p = np.log(np.clip(np.asarray(prior, dtype=np.float64), 1e-12, None))
    pi = np.asarray(confusions, dtype=np.float64)
    codes = np.asarray(labels, dtype=np.int64)
    if len(codes):
        log_p = log_p + np.log(np.clip(pi[np.arange(len(codes)), :, codes], 1e-12, None)).sum(
            axis=0
        )
    log_p -= log_p.max()
    p = np.exp(log_p)
    return np.asarray(p / p.sum(), dtype=np.float64)


def one_coin_confusion(accuracy: float, n_classes: int) -> FloatArray:
    """A confusion matrix for a labeler known only by its accuracy (errors spread evenly).

    Examples
    --------
    >>> one_coin_confusion(0.8, 2).round(3).tolist()
    [[0.8, 0.2], [0.2, 0.8]]
    """
    off = (1.0 - accuracy) / max(n_classes - 1, 1)
    pi = np.full((n_classes, n_classes), off)
    np.fill_diagonal(pi, accuracy)
    return pi


def overlap_verdict(
    posterior: FloatArray, n_answers: int, *, k: int, max_answers: int, confidence: float
) -> OverlapVerdict:
    """After an item's answer: ``more`` below ``k`` answers; then ``done`` when the top
    class's posterior reaches ``confidence``; else ``more`` below ``max_answers``; else
    ``expert``.

    Examples
    --------
    >>> overlap_verdict(np.array([0.5, 0.5]), 3, k=3, max_answers=5, confidence=0.9)
    'more'
    >>> overlap_verdict(np.array([0.05, 0.95]), 3, k=3, max_answers=5, confidence=0.9)
    'done'
    >>> overlap_verdict(np.array([0.5, 0.5]), 5, k=3, max_answers=5, confidence=0.9)
    'expert'
    """
    if n_answers < k:
        return "more"
    if float(np.max(posterior)) >= confidence:
        return "done"
    return "more" if n_answers < max_answers else "expert"


def fit_reliabilities(answers: Answers, *, method: str = "auto") -> tuple[FloatArray, FloatArray]:
    """Confusion matrices of the labelers and the class prior, from the aggregator ``method``
    fitted on ``answers`` (a labeler's last answer on an item counting).

    Returns
    -------
    confusions : array of float, shape (n_labelers, n_classes, n_classes)
        From the fit where it has them, else one-coin matrices from its skills
        (a labeler without a finite skill gets chance accuracy).
    prior : array of float, shape (n_classes,)
    """
    from labelloop.core.aggregate import make_aggregator

    k = answers.n_classes
    model = make_aggregator(method).fit(answers.deduplicate(keep="last"))
    pi = getattr(model, "confusions_", None)
    if pi is None:
        skills = np.asarray(getattr(model, "skills_", np.full(answers.n_labelers, np.nan)))
        pi = np.stack(
            [one_coin_confusion(float(s) if np.isfinite(s) else 1.0 / k, k) for s in skills]
        )
    prior = getattr(model, "priors_", None)
    if prior is None:
        prior = np.bincount(np.asarray(model.labels_).clip(0), minlength=k) + 1.0
    prior = np.asarray(prior, dtype=np.float64)
    return np.asarray(pi, dtype=np.float64), prior / prior.sum()
