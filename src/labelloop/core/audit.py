"""Audit kernels: annotator drift (sequential change detection) and label-error scores.

**Drift.** Each answer of a labeler becomes one Bernoulli observation, "the answer matches the
reference", in the order the answers were given. The reference is either a gold label
(``reliability`` 1) or the consensus of the *other* labelers on that item (``reliability`` =
the probability that the consensus is right, e.g. its posterior). Both kinds are tied to the
labeler's accuracy ``a`` through one link: with ``K`` classes and symmetric errors the answer
matches a reference that is right with probability ``c`` with probability

    q(a, c) = c * a + (1 - c) * (1 - a) / (K - 1),

so gold and agreement with consensus feed one test. Per labeler, the accuracy before any
change ``a0`` is the maximum-likelihood estimate on the first ``warmup`` observations; the
test is a one-sided **Bernoulli CUSUM** of the log-likelihood ratio of ``a1 = a0 - shift``
against ``a0``. Its threshold ``h`` is set for a target false-alarm rate by a parametric
bootstrap of the whole procedure: streams with the labeler's own references and a constant
accuracy ``a0`` are simulated, ``a0`` is re-estimated on each one's warm-up and its CUSUM
maximum recorded; ``h`` is the level those maxima exceed with probability ``alpha / m``
(``m`` labelers tested: Bonferroni control of the family-wise false-alarm rate; beyond the
simulated 90 % quantile the tail is extrapolated as exponential). Re-estimating ``a0`` in
the simulation is what keeps the rate honest: a baseline read off 100 answers is often a
few points too high, and a threshold that ignores this alarms on stable labelers.

**Label errors.** :func:`score_label_errors` ranks items whose given label is probably wrong
from out-of-sample class probabilities and, when there are any, the labelers' answers
weighted by their estimated reliability (a CROWDLAB-style ensemble; see the function).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from labelloop.core.answers import Answers
from labelloop.errors import InvalidInput

__all__ = [
    "LABEL_ERROR_METHODS",
    "DriftAlert",
    "find_drift",
    "match_probability",
    "reference_matches",
    "score_label_errors",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_GRID = np.linspace(0.005, 0.995, 199)
_EPS = 1e-6
_LOWER_DROP = 1.645**2 / 2


def match_probability(
    accuracy: float | FloatArray, reliability: FloatArray, n_classes: int
) -> FloatArray:
    """Probability that an answer matches a reference that is right with ``reliability``.

    Parameters
    ----------
    accuracy : float or array broadcastable with ``reliability``
        The labeler's accuracy.
    reliability : (n,) float array
        Probability that each reference label is right (1 for gold).
    n_classes : int
        Number of classes ``K`` (errors are spread evenly over the ``K - 1`` wrong ones).

    Returns
    -------
    (n,) float array, clipped to ``[1e-6, 1 - 1e-6]``.

    Examples
    --------
    >>> float(match_probability(0.9, np.array([1.0]), 2)[0])
    0.9
    >>> round(float(match_probability(0.9, np.array([0.8]), 2)[0]), 2)
    0.74
    """
    a = np.asarray(accuracy, dtype=np.float64)
    c = np.asarray(reliability, dtype=np.float64)
    q = c * a + (1.0 - c) * (1.0 - a) / max(n_classes - 1, 1)
    return np.asarray(np.clip(q, _EPS, 1.0 - _EPS), dtype=np.float64)


def reference_matches(
    answers: Answers, gold: npt.ArrayLike
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], FloatArray]:
    """Check each answer against gold, or else against the other labelers' majority.

    On an item with gold (``gold[item] >= 0``) the reference is the gold label, reliability
    1. Elsewhere it is the majority label of the *other* answers on the item (the first
    class on ties), with reliability ``(votes for it + 1) / (other answers + K)``; an item
    nobody else answered gives no reference.

    Parameters
    ----------
    answers : Answers
        In the order they were made (the order is kept).
    gold : (n_items,) int array
        Gold class per item, ``-1`` where there is none.

    Returns
    -------
    has_reference, matched : (n_answers,) bool arrays
    reliability : (n_answers,) float array (1 where there is no reference).

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 0, 1], [0, 1, 2, 0], [1, 1, 0, 0], n_classes=2)
    >>> has, ok, rel = reference_matches(a, np.array([-1, 0]))
    >>> has.tolist(), ok.tolist(), rel.round(2).tolist()
    ([True, True, True, True], [False, False, False, True], [0.5, 0.5, 0.75, 1.0])
    """
    g = np.asarray(gold)
    if g.shape != (answers.n_items,) or (g.size and not np.issubdtype(g.dtype, np.integer)):
        raise InvalidInput(
            f"gold must be {answers.n_items} integer class codes (-1: none); got shape "
            f"{g.shape}, dtype {g.dtype}"
        )
    k = answers.n_classes
    item, label = answers.item, answers.label
    counts = np.zeros((answers.n_items, k))
    np.add.at(counts, (item, label), 1.0)
    others = counts[item]
    others[np.arange(label.shape[0]), label] -= 1.0
    n_others = others.sum(axis=1)
    is_gold = g[item] >= 0
    reference = np.where(is_gold, g[item], others.argmax(axis=1))
    reliability = np.where(is_gold, 1.0, (others.max(axis=1) + 1.0) / (n_others + k))
    return is_gold | (n_others > 0), label == reference, np.asarray(reliability)


@dataclass(frozen=True)
class DriftAlert:
    """A labeler whose accuracy dropped, with the evidence.

    Positions count this labeler's observations (0-based, in answer order); ``start`` is
    where the CUSUM run that crossed the threshold began and ``end`` where it crossed.
    """

    labeler: int
    start: int
    end: int
    statistic: float
    """CUSUM log-likelihood ratio at ``end``."""
    threshold: float
    """``h``: exceeded by an unchanged labeler with probability ``alpha / m`` (simulated)."""
    p_value: float
    """Probability that an unchanged labeler's statistic gets this high over its stream."""
    baseline_accuracy: float
    """``a0``, estimated on the first ``warmup`` observations."""
    alternative_accuracy: float
    """``a1 = a0 - shift``, the accuracy the test is tuned to detect."""
    window_accuracy: float
    """Maximum-likelihood accuracy over ``start..end``."""
    gold_correct: int
    gold_total: int
    consensus_agree: int
    consensus_total: int
    """Counts over ``start..end`` (gold: reliability 1; consensus: the rest)."""
    n_monitored: int
    """``m``: labelers tested (those with more than ``warmup`` observations)."""
    alpha: float

    def describe(self) -> str:
        """The alert in plain words."""
        return (
            f"accuracy dropped from {self.baseline_accuracy:.2f} (first answers) to about "
            f"{self.window_accuracy:.2f} over answers {self.start + 1}-{self.end + 1}: "
            f"{self.gold_correct}/{self.gold_total} gold correct, "
            f"{self.consensus_agree}/{self.consensus_total} agreeing with consensus; "
            f"Bernoulli CUSUM {self.statistic:.1f} >= {self.threshold:.1f}, p = {self.p_value:.2g} "
            f"(false-alarm probability {self.alpha:g} over all {self.n_monitored} labelers)"
        )


def _log_likelihood(matched: FloatArray, reliability: FloatArray, n_classes: int) -> FloatArray:
    q = match_probability(_GRID[:, None], reliability[None, :], n_classes)
    return np.asarray((matched * np.log(q) + (1.0 - matched) * np.log1p(-q)).sum(axis=1))


def _fit_accuracy(matched: FloatArray, reliability: FloatArray, n_classes: int) -> float:
    """Maximum-likelihood accuracy on a grid (the likelihood is concave in ``a``)."""
    return float(_GRID[int(np.argmax(_log_likelihood(matched, reliability, n_classes)))])


def _lower_accuracy(matched: FloatArray, reliability: FloatArray, n_classes: int) -> float:
    """One-sided 95 % profile-likelihood lower bound of the accuracy (drop of 1.645**2 / 2)."""
    ll = _log_likelihood(matched, reliability, n_classes)
    return float(_GRID[int(np.flatnonzero(ll >= ll.max() - _LOWER_DROP)[0])])


def _cusum(llr: FloatArray) -> FloatArray:
    """CUSUM path(s) along the last axis: the walk minus its running minimum (from 0)."""
    zeros = np.zeros((*llr.shape[:-1], 1))
    walk = np.concatenate([zeros, np.cumsum(llr, axis=-1)], axis=-1)
    return np.asarray(walk - np.minimum.accumulate(walk, axis=-1))


def _llr(x: FloatArray, a0: FloatArray | float, shift: float, c: FloatArray, k: int) -> FloatArray:
    a0 = np.asarray(a0, dtype=np.float64)
    q0 = match_probability(a0, c, k)
    q1 = match_probability(np.maximum(a0 - shift, _EPS), c, k)
    return np.asarray(np.where(x > 0, np.log(q1 / q0), np.log((1.0 - q1) / (1.0 - q0))))


def _null_maxima(
    a0: float,
    c: FloatArray,
    *,
    n_classes: int,
    warmup: int,
    shift: float,
    n_sims: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Maxima of the whole procedure (estimate ``a0`` on the warm-up, then CUSUM) when the
    labeler's accuracy stays ``a0`` throughout: a parametric bootstrap, (n_sims,)."""
    x = (rng.random((n_sims, c.shape[0])) < match_probability(a0, c, n_classes)).astype(float)
    q = match_probability(_GRID[:, None], c[None, :warmup], n_classes)
    ll = x[:, :warmup] @ np.log(q).T + (1.0 - x[:, :warmup]) @ np.log1p(-q).T
    a0s = np.minimum(
        _GRID[np.argmax(ll >= ll.max(axis=1, keepdims=True) - _LOWER_DROP, axis=1)], 0.99
    )
    llr = _llr(x[:, warmup:], a0s[:, None], shift, c[None, warmup:], n_classes)
    return np.asarray(_cusum(llr).max(axis=1))


def _tail(maxima: FloatArray, level: float, observed: float) -> tuple[float, float]:
    """(threshold with null exceedance probability ``level``, p-value of ``observed``).

    Beyond the simulated 90 % quantile the tail is taken as exponential (peaks over
    threshold, the excesses' mean as scale), so small levels need not be simulated.
    """
    u = float(np.quantile(maxima, 0.9))
    scale = max(float(np.mean(maxima[maxima > u] - u)) if np.any(maxima > u) else 0.0, 1e-3)
    if observed > u:
        p = 0.1 * math.exp(-(observed - u) / scale)
    else:
        p = (1.0 + float(np.sum(maxima >= observed))) / (maxima.shape[0] + 1.0)
    if level >= 0.1:
        return float(np.quantile(maxima, 1.0 - level)), p
    return u + scale * math.log(0.1 / level), p


def find_drift(
    labeler: npt.ArrayLike,
    matched: npt.ArrayLike,
    reliability: npt.ArrayLike,
    *,
    n_classes: int,
    warmup: int = 150,
    shift: float = 0.25,
    alpha: float = 0.05,
    n_sims: int = 400,
    random_state: int | np.random.Generator | None = 0,
) -> tuple[DriftAlert, ...]:
    """Find labelers whose accuracy dropped, by a Bernoulli CUSUM per labeler.

    Parameters
    ----------
    labeler : (n,) int array
        Labeler of each observation; observations must be in the order they were made.
    matched : (n,) bool array
        Whether the answer matched its reference (gold or the others' consensus).
    reliability : (n,) float array in (0, 1]
        Probability the reference is right: 1 for gold, the consensus posterior otherwise.
    n_classes : int
        Number of classes (>= 2).
    warmup : int
        Observations per labeler used to estimate its baseline accuracy; labelers with no
        more than this many are not tested.
    shift : float
        Accuracy drop the test is tuned to (``a1 = a0 - shift``).
    alpha : float
        Family-wise false-alarm probability over all tested labelers (Bonferroni).
    n_sims : int
        Simulated null streams per labeler for the threshold.
    random_state : int, Generator or None
        Seed of the simulations.

    Returns
    -------
    tuple of DriftAlert, one per labeler that alarmed (its first crossing), by labeler.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ok = np.r_[rng.random(300) < 0.9, rng.random(300) < 0.5]
    >>> alerts = find_drift(np.zeros(600, int), ok, np.ones(600), n_classes=2)
    >>> [(a.labeler, a.end > 300) for a in alerts]
    [(0, True)]
    """
    lab = np.asarray(labeler)
    ok = np.asarray(matched)
    rel = np.asarray(reliability, dtype=np.float64)
    n = lab.shape[0]
    if lab.ndim != 1 or ok.shape != (n,) or rel.shape != (n,):
        raise InvalidInput(
            f"labeler, matched and reliability must be 1-d arrays of one length; "
            f"got shapes {lab.shape}, {ok.shape}, {rel.shape}"
        )
    if n and not np.issubdtype(lab.dtype, np.integer):
        raise InvalidInput(f"labeler must hold integer ids; got dtype {lab.dtype}")
    if n and (not np.all(np.isfinite(rel)) or rel.min() <= 0.0 or rel.max() > 1.0):
        raise InvalidInput(
            f"reliability must lie in (0, 1]; got values from {rel.min()} to {rel.max()}"
        )
    if n_classes < 2:
        raise InvalidInput(f"n_classes must be at least 2; got {n_classes}")
    if warmup < 1 or not 0.0 < shift < 1.0 or not 0.0 < alpha < 1.0 or n_sims < 20:
        raise InvalidInput(
            f"expected warmup >= 1, 0 < shift < 1, 0 < alpha < 1 and n_sims >= 20; "
            f"got warmup={warmup}, shift={shift}, alpha={alpha}, n_sims={n_sims}"
        )
    rng = np.random.default_rng(random_state)
    okf = ok.astype(np.float64)
    order = np.argsort(lab, kind="stable")
    ids, first, counts = np.unique(lab[order], return_index=True, return_counts=True)
    tested = counts > warmup
    m = int(tested.sum())
    alerts: list[DriftAlert] = []
    for who, lo, cnt in zip(ids[tested], first[tested], counts[tested], strict=True):
        rows = order[lo : lo + cnt]
        x, c = okf[rows], rel[rows]
        a0 = min(_lower_accuracy(x[:warmup], c[:warmup], n_classes), 0.99)
        xs, cs = x[warmup:], c[warmup:]
        stat = _cusum(_llr(xs, a0, shift, cs, n_classes))
        maxima = _null_maxima(
            a0, c, n_classes=n_classes, warmup=warmup, shift=shift, n_sims=n_sims, rng=rng
        )
        h, p_value = _tail(maxima, alpha / m, float(stat.max()))
        over = np.flatnonzero(stat[1:] >= h)
        if over.size == 0:
            continue
        end = int(over[0])  # index into xs
        walk = np.concatenate([[0.0], np.cumsum(_llr(xs, a0, shift, cs, n_classes))])
        start = int(np.argmin(walk[: end + 1]))  # the run began after this prefix
        sl = slice(start, end + 1)
        gold = cs[sl] >= 1.0
        alerts.append(
            DriftAlert(
                labeler=int(who),
                start=warmup + start,
                end=warmup + end,
                statistic=float(stat[end + 1]),
                threshold=h,
                p_value=p_value,
                baseline_accuracy=a0,
                alternative_accuracy=max(a0 - shift, _EPS),
                window_accuracy=_fit_accuracy(xs[sl], cs[sl], n_classes),
                gold_correct=int(xs[sl][gold].sum()),
                gold_total=int(gold.sum()),
                consensus_agree=int(xs[sl][~gold].sum()),
                consensus_total=int((~gold).sum()),
                n_monitored=m,
                alpha=alpha,
            )
        )
    return tuple(alerts)


# --------------------------------------------------------------------------- label errors

LABEL_ERROR_METHODS = ("posterior", "self_confidence")
"""``posterior``: 1 - P(given label is the true class | model, answers) under a Dawid-Skene
model whose item prior is the model's probabilities (the default); ``self_confidence``:
1 - the model's probability of the given label (the plain baseline)."""


def _check_probas(labels: npt.ArrayLike, probas: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
    y = np.asarray(labels)
    p = np.asarray(probas, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2 or y.shape != (p.shape[0],):
        raise InvalidInput(
            f"expected probas of shape (n_items, n_classes >= 2) and labels of shape "
            f"(n_items,); got {p.shape} and {y.shape}"
        )
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise InvalidInput(f"labels must be integer class codes; got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= p.shape[1]):
        raise InvalidInput(
            f"labels must be class codes in [0, {p.shape[1] - 1}]; "
            f"got values from {y.min()} to {y.max()}"
        )
    if p.size and (not np.all(np.isfinite(p)) or p.min() < 0.0):
        raise InvalidInput("probas must be finite and non-negative")
    p = np.clip(p, _EPS, None)
    return y.astype(np.int64), p / p.sum(axis=1, keepdims=True)


def score_label_errors(
    labels: npt.ArrayLike,
    probas: npt.ArrayLike,
    *,
    answers: Answers | None = None,
    method: Literal["posterior", "self_confidence"] = "posterior",
    temperature: float = 1.0,
    smoothing: float = 1.0,
    max_iter: int = 50,
) -> FloatArray:
    """Score how likely each item's given label is wrong (higher = more likely an error).

    ``posterior`` treats the given labels, and each labeler in ``answers``, as noisy
    labelers with their own class-confusion matrices (Dawid-Skene), and the model's
    out-of-sample probabilities (sharpened or flattened by ``1 / temperature``) as each
    item's prior over the true class. EM fits the confusions; the score is
    ``1 - P(true class = given label | model, answers)``. Without ``answers`` the given
    labels are the only labeler, so the score is the model's probability of the given
    label re-weighted by how often that label is given to items of each class across the
    set (a class that is often mislabeled as the given one raises the score). With
    ``answers`` the given labels are *not* counted as evidence (they are usually derived from
    those answers); reliable labelers weigh more than unreliable ones through their fitted
    confusions, which is what the model alone cannot know (CROWDLAB-style, as a posterior).

    Parameters
    ----------
    labels : (n_items,) int array
        Given (current) label of each item.
    probas : (n_items, n_classes) float array
        Out-of-sample class probabilities (rows are renormalized).
    answers : Answers, optional
        Labelers' answers on the same items (``n_items`` and ``n_classes`` must match).
    method : {"posterior", "self_confidence"}
    temperature : float
        Model probabilities enter as ``p ** (1 / temperature)``.
    smoothing : float
        Dirichlet pseudo-count on every confusion cell, plus ``10 * smoothing`` on the
        diagonal (labelers start out believed better than chance).
    max_iter : int
        EM iterations.

    Returns
    -------
    (n_items,) float array in [0, 1].

    Examples
    --------
    >>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> s = score_label_errors([0, 0, 0], p)
    >>> [int(i) for i in np.argsort(-s)]
    [1, 2, 0]
    """
    y, p = _check_probas(labels, probas)
    if method not in LABEL_ERROR_METHODS:
        raise InvalidInput(f"unknown method {method!r}; expected one of {LABEL_ERROR_METHODS}")
    if temperature <= 0 or smoothing < 0 or max_iter < 1:
        raise InvalidInput(
            f"expected temperature > 0, smoothing >= 0, max_iter >= 1; got "
            f"temperature={temperature}, smoothing={smoothing}, max_iter={max_iter}"
        )
    n, k = p.shape
    if method == "self_confidence":
        return np.asarray(1.0 - p[np.arange(n), y])
    if answers is None:
        item, who, lab = np.arange(n), np.zeros(n, dtype=np.int64), y
        n_labelers = 1
    else:
        if answers.n_items != n or answers.n_classes != k:
            raise InvalidInput(
                f"answers cover {answers.n_items} items and {answers.n_classes} classes; "
                f"expected {n} items and {k} classes (the shape of probas)"
            )
        a = answers.without_abstains()
        item, who, lab = a.item, a.labeler, a.label
        n_labelers = answers.n_labelers
    log_prior = np.log(p) / temperature
    pseudo = np.full((k, k), smoothing) + np.eye(k) * 10.0 * smoothing
    post = np.exp(log_prior - log_prior.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    for _ in range(max_iter):
        counts = np.broadcast_to(pseudo, (n_labelers, k, k)).copy()
        for true in range(k):
            np.add.at(counts[:, true, :], (who, lab), post[item, true])
        log_conf = np.log(counts / counts.sum(axis=2, keepdims=True))
        scores = log_prior.copy()
        np.add.at(scores, item, log_conf[who, :, lab])
        new = np.exp(scores - scores.max(axis=1, keepdims=True))
        new /= new.sum(axis=1, keepdims=True)
        done = bool(np.abs(new - post).max() < 1e-6)
        post = new
        if done:
            break
    return np.asarray(1.0 - post[np.arange(n), y])
