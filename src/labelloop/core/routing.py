"""Confidence routing: auto-accept confident model labels, audit a few, send the rest to humans.

The threshold is chosen on gold: among gold items that have a model prediction, accepting
every prediction whose confidence is at least ``t`` gives a precision (share of accepted
predictions equal to gold) with an exact **Clopper–Pearson** interval. The chosen threshold is
the *lowest* ``t`` (most items accepted) whose whole interval lies at or above the target
precision, i.e. whose lower bound clears the target. Requiring the lower bound rather than
the point estimate is deliberate: with the point estimate the true precision of the accepted
labels is below target about half the time at the boundary; with the lower bound it is below
target only with probability about ``(1 - confidence_level) / 2`` per threshold examined
(the nested sets make the examined bounds strongly correlated, so the selection effect is
small; the audit fraction then keeps measuring the precision of what was accepted).

A consequence is an honest abstention: with few gold items no threshold can be shown to
reach the target (at a 98 % target and 95 % intervals, even 182 correct out of 182 is not
enough), and the policy accepts nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import beta

from labelloop.errors import InvalidInput

__all__ = [
    "AUDIT",
    "AUTO",
    "HUMAN",
    "RoutingDecisions",
    "RoutingPolicy",
    "RoutingThreshold",
    "choose_threshold",
    "clopper_pearson",
    "min_gold_for",
    "route_items",
]

HUMAN = 0
"""Decision code: the item goes to the human queue (with the model suggestion attached)."""
AUTO = 1
"""Decision code: the model label is auto-accepted."""
AUDIT = 2
"""Decision code: the model label is auto-accepted and the item is also sent to humans."""


@dataclass(frozen=True)
class RoutingPolicy:
    """A project's routing policy: the gold precision auto-accepted labels must reach, the
    share of them also sent to humans (a blind audit), and whether annotators see the model
    suggestion on routed items. The defaults apply to a project that never set one."""

    target_precision: float = 0.98
    audit_fraction: float = 0.05
    show_suggestion: bool = False


@dataclass(frozen=True)
class RoutingThreshold:
    """The threshold chosen on gold and the evidence for it.

    ``threshold`` is ``None`` when the policy abstains (accepts nothing); ``precision``,
    ``ci_low``, ``ci_high``, ``n_gold_above`` and ``coverage`` then describe the best
    candidate examined (the one with the highest lower bound), or are ``None`` without gold.
    """

    threshold: float | None
    """Accept a model label when its confidence is >= this value."""
    precision: float | None
    """Share of gold items at or above the threshold whose model label equals gold."""
    ci_low: float | None
    ci_high: float | None
    n_gold_above: int
    """Gold items at or above the threshold (the interval's sample size)."""
    n_correct_above: int
    coverage: float | None
    """Share of the gold items (with a prediction) at or above the threshold."""
    n_gold: int
    target: float
    confidence_level: float
    min_gold: int
    """Fewest gold items (all correct) that could show the target; fewer means abstain."""
    method: str = "clopper_pearson"
    reason: str = ""

    @property
    def abstained(self) -> bool:
        return self.threshold is None


@dataclass(frozen=True)
class RoutingDecisions:
    """Per-item routing decisions (``HUMAN``, ``AUTO`` or ``AUDIT``) and their counts."""

    decision: NDArray[np.int8]
    """shape (n_items,)"""
    n_auto: int
    """Auto-accepted, audited ones included."""
    n_audit: int
    n_human: int

    @property
    def human_labels_saved(self) -> int:
        """Items no human has to label: auto-accepted and not audited."""
        return self.n_auto - self.n_audit


def clopper_pearson(
    k: ArrayLike, n: ArrayLike, confidence_level: float = 0.95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Exact two-sided binomial interval for ``k`` successes out of ``n``.

    Parameters
    ----------
    k, n : array_like of int, same shape
        Successes and trials (``0 <= k <= n``, ``n >= 1``).
    confidence_level : float
        Two-sided coverage, e.g. 0.95.

    Returns
    -------
    low, high : ndarray of float, the shape of ``k``

    Examples
    --------
    >>> low, high = clopper_pearson([9], [10])
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.555, 0.9975)
    """
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    alpha = 1.0 - confidence_level
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k_arr > 0, beta.ppf(alpha / 2, k_arr, n_arr - k_arr + 1), 0.0)
        high = np.where(k_arr < n_arr, beta.ppf(1 - alpha / 2, k_arr + 1, n_arr - k_arr), 1.0)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def min_gold_for(target: float, confidence_level: float = 0.95) -> int:
    """Fewest gold items, all predicted correctly, whose interval can clear ``target``.

    The lower Clopper–Pearson bound of ``n`` out of ``n`` is ``(alpha / 2) ** (1 / n)``.

    Examples
    --------
    >>> min_gold_for(0.98)
    183
    >>> min_gold_for(0.9)
    36
    """
    _check_levels(target, confidence_level)
    alpha = 1.0 - confidence_level
    n = math.ceil(math.log(alpha / 2) / math.log(target))
    while n > 1 and (alpha / 2) ** (1 / (n - 1)) >= target:  # guard float rounding
        n -= 1
    while (alpha / 2) ** (1 / n) < target:
        n += 1
    return n


def _check_levels(target: float, confidence_level: float) -> None:
    if not 0.0 < target < 1.0:
        raise InvalidInput(f"target precision {target!r} is not in (0, 1); expected e.g. 0.98")
    if not 0.0 < confidence_level < 1.0:
        raise InvalidInput(
            f"confidence level {confidence_level!r} is not in (0, 1); expected e.g. 0.95"
        )


def choose_threshold(
    confidence: ArrayLike,
    correct: ArrayLike,
    *,
    target: float = 0.98,
    confidence_level: float = 0.95,
) -> RoutingThreshold:
    """Lowest confidence threshold whose auto-accepted gold precision provably meets ``target``.

    Parameters
    ----------
    confidence : array_like of float, shape (n_gold,)
        Model confidence (probability of its predicted label) on gold items. Use out-of-sample
        predictions (items the model was not trained on, or cross-fitted), else the precision
        is optimistic.
    correct : array_like of bool, shape (n_gold,)
        Whether the model's label equals the gold label.
    target : float
        Precision the auto-accepted labels must reach (default 0.98).
    confidence_level : float
        Coverage of the two-sided Clopper–Pearson interval (default 0.95).

    Returns
    -------
    RoutingThreshold
        ``threshold=None`` (abstain) when no threshold's lower bound reaches the target.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> conf = rng.uniform(0.5, 1.0, 2000)
    >>> correct = rng.uniform(size=2000) < conf ** 0.2   # confident predictions are right
    >>> chosen = choose_threshold(conf, correct, target=0.9)
    >>> chosen.ci_low >= 0.9, chosen.n_gold_above > 100
    (True, True)
    >>> choose_threshold(conf[:20], correct[:20]).threshold is None   # too little gold
    True
    """
    _check_levels(target, confidence_level)
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    ok = np.asarray(correct, dtype=bool).ravel()
    if conf.shape != ok.shape:
        raise InvalidInput(
            f"confidence has {conf.size} values and correct {ok.size}; expected one per gold item"
        )
    if conf.size and (not np.isfinite(conf).all() or conf.min() < 0 or conf.max() > 1):
        raise InvalidInput("confidence values must be finite numbers in [0, 1]")
    need = min_gold_for(target, confidence_level)
    n_gold = int(conf.size)

    def record(
        threshold: float | None,
        k: int,
        n: int,
        low: float | None,
        high: float | None,
        reason: str,
    ) -> RoutingThreshold:
        return RoutingThreshold(
            threshold=threshold,
            precision=None if n == 0 else k / n,
            ci_low=low,
            ci_high=high,
            n_gold_above=n,
            n_correct_above=k,
            coverage=None if n_gold == 0 else n / n_gold,
            n_gold=n_gold,
            target=target,
            confidence_level=confidence_level,
            min_gold=need,
            reason=reason,
        )

    if n_gold == 0:
        return record(None, 0, 0, None, None, "no gold item has a model prediction")
    order = np.argsort(-conf, kind="stable")
    sorted_conf = conf[order]
    n_at = np.arange(1, n_gold + 1)
    k_at = np.cumsum(ok[order])
    # thresholds = distinct confidences: keep the last position of each tie run
    last = np.r_[sorted_conf[1:] != sorted_conf[:-1], True]
    cand_conf, cand_n, cand_k = sorted_conf[last], n_at[last], k_at[last]
    low, high = clopper_pearson(cand_k, cand_n, confidence_level)
    passing = np.flatnonzero(low >= target)
    if passing.size:
        i = int(passing[-1])  # lowest passing threshold = most items accepted
        return record(
            float(cand_conf[i]),
            int(cand_k[i]),
            int(cand_n[i]),
            float(low[i]),
            float(high[i]),
            f"lowest threshold whose {confidence_level:.0%} Clopper-Pearson lower bound "
            f"reaches {target:.2%}",
        )
    i = int(np.argmax(low))
    if n_gold < need:
        reason = (
            f"too little gold: {n_gold} gold item(s) with a model prediction; at least {need} "
            f"(all predicted correctly) are needed to show precision >= {target:.2%}"
        )
    else:
        reason = (
            f"no threshold reaches {target:.2%}: the best lower bound is {float(low[i]):.2%} "
            f"({int(cand_k[i])}/{int(cand_n[i])} correct)"
        )
    return record(None, int(cand_k[i]), int(cand_n[i]), float(low[i]), float(high[i]), reason)


def route_items(
    confidence: ArrayLike,
    threshold: float | None,
    *,
    audit_fraction: float = 0.05,
    random_state: int | np.random.Generator | None = None,
) -> RoutingDecisions:
    """Route items: auto-accept at or above ``threshold``, audit a random share, rest to humans.

    Parameters
    ----------
    confidence : array_like of float, shape (n_items,)
        Model confidence per item; NaN means no prediction (the item goes to humans).
    threshold : float or None
        From :func:`choose_threshold`; ``None`` accepts nothing.
    audit_fraction : float
        Share of auto-accepted items also sent to humans, ``ceil(fraction * n_auto)`` items
        drawn uniformly without replacement.
    random_state : int, Generator or None
        Seed of the audit draw.

    Returns
    -------
    RoutingDecisions
        ``decision`` of shape (n_items,) with codes ``HUMAN``, ``AUTO``, ``AUDIT``.

    Examples
    --------
    >>> out = route_items([0.99, 0.995, 0.6, float("nan")], 0.99, audit_fraction=0.5,
    ...                   random_state=0)
    >>> out.n_auto, out.n_audit, out.n_human, out.human_labels_saved
    (2, 1, 2, 1)
    """
    if not 0.0 <= audit_fraction <= 1.0:
        raise InvalidInput(
            f"audit fraction {audit_fraction!r} is not in [0, 1]; expected e.g. 0.05"
        )
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    decision = np.full(conf.size, HUMAN, dtype=np.int8)
    if threshold is not None:
        with np.errstate(invalid="ignore"):
            accepted = np.flatnonzero(conf >= threshold)
        decision[accepted] = AUTO
        n_audit = min(accepted.size, math.ceil(audit_fraction * accepted.size - 1e-9))
        if n_audit:
            rng = np.random.default_rng(random_state)
            decision[rng.choice(accepted, size=n_audit, replace=False)] = AUDIT
    n_auto = int(np.count_nonzero(decision != HUMAN))
    n_audit_total = int(np.count_nonzero(decision == AUDIT))
    return RoutingDecisions(decision, n_auto, n_audit_total, int(conf.size) - n_auto)
