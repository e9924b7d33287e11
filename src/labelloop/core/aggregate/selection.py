"""``auto.v3`` (the default) and ``auto.v2``: choose a truth-inference model per dataset,
from the answers alone (or gold).

No model is best on every crowd: full Dawid-Skene wins where labelers give many answers and
make class-specific errors, one-coin models where answers per labeler are few, and on sparse
long-tail crowds (a few prolific labelers, most with ~15 answers) every EM model can lock
onto the prolific labelers and fall below majority vote. A pool chosen by its mean accuracy
on benchmark sets does not carry over to sets it was not chosen on, so ``auto.v2`` chooses
per dataset, by a criterion that needs no gold:

**Held-out answer likelihood.** Each labeler's answers are split at random into
``n_folds`` parts (a labeler with one answer is never held out). For each part, every
candidate is fitted on the other answers and scores each hidden answer ``(i, w, y)`` by its
predictive probability ``sum_k q_i(k) pi[w, k, y]`` -- ``q_i`` the item's posterior given
the remaining answers, ``pi`` the labeler's fitted confusion. A model that over-trusts some
labelers, or whose confusions overfit, predicts hidden answers badly; one that has found
the real structure predicts them better. The score is the mean log predictive probability
per hidden answer.

**Safe floor.** Majority vote is the floor, scored as the one-coin model in which every
labeler has the same skill (its labels are exactly majority vote's). A candidate replaces
it only when its mean gain over the floor exceeds ``margin`` standard errors (standard
errors from per-item sums, since answers on one item are not independent); among those,
the largest gain wins. When nothing is clearly better, the result is majority vote.

**Gold.** When at least ``min_gold`` items have gold, the candidates are also scored by
``n_folds``-fold cross-validated accuracy on gold (fitted with the other folds' gold
clamped, scored on the held-out fold: no model is fitted and scored on the same gold). The
best of them replaces the label-free choice when its paired accuracy gain exceeds
``gold_margin`` standard errors.

Candidates: majority vote (the floor), one-coin Dawid-Skene, one-coin with skills shrunk
toward the crowd (hierarchical one-coin), hierarchical Dawid-Skene, full Dawid-Skene, MACE
with a uniform class prior and MACE with a fitted class prior (for skewed label
distributions). The thresholds (``margin = 2``, ``gold_margin = 1``) were set on synthetic
crowd families with known structure, not on the benchmark's real sets (see
``benchmarks/aggregation.py``, which checks them by leave-one-dataset-out).

Cost: ``n_folds * len(candidates)`` fits on at most ``max_selection_answers`` answers (a
random subset of items with all their answers), then one fit of the chosen model on all.

**auto.v3: an anchored floor.** ``auto.v2``'s floor (one skill shared by all labelers) is
beaten by any model that lets labelers differ, whether or not its posteriors are better than
majority vote's; on synthetic crowds with class-pair confusions it stacked hierarchical
Dawid-Skene and fell 2 points below majority vote. ``auto.v3``
(:class:`AnchoredAutoAggregator`) compares each EM candidate with itself *anchored* -- its
labeler model fitted to majority vote's posteriors, kept fixed -- and stacks only the
candidates whose EM beats that, together with majority vote's posteriors. It is also
cheaper (the subsample is renumbered over its own items, folds stop after 40,000 scored
answers, the stacking weights are solved by SLSQP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt

from labelloop.core.aggregate._base import Aggregator, FitInput, GoldLike, prepare
from labelloop.core.aggregate._em import Design, MStepResult, run_em
from labelloop.core.aggregate.auto import HierarchicalDawidSkene
from labelloop.core.aggregate.dawid_skene import (
    MACE,
    DawidSkene,
    OneCoinDawidSkene,
    _EMAggregator,
    log_pi_t,
    majority_init,
    one_coin_confusions,
)
from labelloop.core.aggregate.voting import MajorityVote
from labelloop.core.answers import ABSTAIN, Answers, FloatArray, IntArray
from labelloop.errors import InvalidInput

FLOOR = "majority_vote"
STACK = "stack"
ANCHOR = "anchored:"
"""Prefix of a candidate scored with majority vote's posteriors (``auto.v3``)."""
SELECTION_TOL = 1e-5
SELECTION_MAX_ITER = 50
"""EM settings of the fits that only score held-out answers (the final fit uses the
aggregator's own ``max_iter``/``tol``)."""
MIN_WEIGHT = 0.02
"""Stacking weights below this are dropped (the member is not fitted on all answers)."""
CANDIDATES: tuple[str, ...] = (
    FLOOR,
    "one_coin",
    "one_coin_shrunk",
    "hierarchical_dawid_skene",
    "dawid_skene",
    "mace",
    "mace_prior",
)
"""Names of ``auto.v2``'s candidates, the floor first."""


class _PooledOneCoin(_EMAggregator):
    """One-coin model with one skill shared by every labeler (majority vote as a model)."""

    name: ClassVar[str] = "pooled_one_coin.v0"

    def __init__(self, max_iter: int = 100, tol: float = 1e-6) -> None:
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, answers: Answers, gold: GoldLike = None) -> Self:
        fi = prepare(answers, gold)
        design = Design.build(fi.answers)
        k, n_lab = fi.n_classes, fi.answers.n_labelers
        total = max(float(len(fi.answers)), 1.0)
        state: dict[str, FloatArray] = {}
        logp = np.full(k, -np.log(k))

        def m_step(n: FloatArray, mass: FloatArray) -> MStepResult:
            correct = float(np.einsum("wkk->", n))
            s = (correct + 1.0) / (total + 2.0) if k > 1 else 1.0
            pi = one_coin_confusions(np.full(n_lab, s), k)
            state["pi"] = pi
            return MStepResult(log_pi_t(np.maximum(pi, 1e-300)), logp, 0.0)

        res = run_em(
            fi, design, majority_init(fi, design), m_step, max_iter=self.max_iter, tol=self.tol
        )
        self._store(fi, res, state["pi"], np.exp(logp))
        return self


def make_candidate(name: str, *, max_iter: int = 100, tol: float = 1e-6) -> Aggregator:
    """A fresh (unfitted) candidate of ``auto.v2``/``auto.v3`` by name (see :data:`CANDIDATES`)."""
    if name == FLOOR:
        return _PooledOneCoin(max_iter=max_iter, tol=tol)
    if name == "one_coin":
        return OneCoinDawidSkene(max_iter=max_iter, tol=tol)
    if name == "one_coin_shrunk":
        return OneCoinDawidSkene(max_iter=max_iter, tol=tol, shrinkage=10.0)
    if name == "hierarchical_dawid_skene":
        return HierarchicalDawidSkene(max_iter=max_iter, tol=tol)
    if name == "dawid_skene":
        return DawidSkene(max_iter=max_iter, tol=tol)
    if name == "mace":
        return MACE(max_iter=max_iter, tol=tol)
    if name == "mace_prior":
        return MACE(max_iter=max_iter, tol=tol, fit_prior=True)
    raise InvalidInput(f"unknown auto candidate {name!r}; known: {', '.join(CANDIDATES)}")


def split_by_labeler(
    answers: Answers, n_folds: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Fold of each answer, shape (n_answers,): each labeler's answers spread evenly over the
    folds in random order; ``-1`` (never held out) for labelers with a single answer."""
    n = len(answers)
    order = rng.permutation(n)
    order = order[np.argsort(answers.labeler[order], kind="stable")]
    per = np.bincount(answers.labeler, minlength=answers.n_labelers)
    starts = np.concatenate(([0], np.cumsum(per)[:-1]))
    rank = np.arange(n) - starts[answers.labeler[order]]
    offset = rng.integers(0, n_folds, size=answers.n_labelers)
    fold = np.empty(n, dtype=np.int64)
    lab = answers.labeler[order]
    fold[order] = (rank + offset[lab]) % n_folds
    fold[per[answers.labeler] < 2] = -1
    return fold


def predictive_log_prob(model: Aggregator, held: Answers) -> FloatArray:
    """``log sum_k q_i(k) pi[w, k, y]`` of each held-out answer under a fitted model."""
    conf: FloatArray = model.confusions_  # type: ignore[attr-defined]
    q = model.probas_[held.item]
    p = np.einsum("nk,nk->n", q, conf[held.labeler, :, held.label])
    out: FloatArray = np.log(np.maximum(p, 1e-12))
    return out


def subsample_items(answers: Answers, cap: int, rng: np.random.Generator) -> Answers:
    """All answers of a random subset of items, about ``cap`` answers in all."""
    if len(answers) <= cap:
        return answers
    per = np.bincount(answers.item, minlength=answers.n_items)
    order = rng.permutation(answers.n_items)
    take = order[np.cumsum(per[order]) <= cap]
    keep = np.zeros(answers.n_items, dtype=bool)
    keep[take] = True
    return answers._subset(keep[answers.item])


def compact_items(answers: Answers) -> tuple[Answers, IntArray]:
    """The answers renumbered over the items that have any, and those items' old codes.

    A subsample keeps the full item range; without this every fit on it would run its
    E-steps over all the (unanswered) items of the whole set."""
    kept, item = np.unique(answers.item, return_inverse=True)
    out = Answers(
        item.astype(np.int64).reshape(-1),
        answers.labeler,
        answers.label,
        int(kept.shape[0]),
        answers.n_labelers,
        answers.n_classes,
    )
    return out, kept.astype(np.int64)


@dataclass(frozen=True)
class Selection:
    """How ``auto.v2`` chose its model (kept in ``selection_``).

    ``loglik`` is each candidate's mean log predictive probability per held-out answer;
    ``gain``/``stderr`` its difference from the floor's and the standard error of that
    difference; ``gold_accuracy`` the cross-validated accuracy on gold (None without gold).
    In ``auto.v3`` the floor's ``loglik`` is majority vote's posteriors under the best
    anchored labeler model, and ``anchor_gain``/``anchor_stderr`` are each EM candidate's
    gain over its anchored self.
    """

    chosen: str
    criterion: str
    weights: dict[str, float]
    label_free_weights: dict[str, float]
    n_heldout: int
    loglik: dict[str, float]
    gain: dict[str, float]
    stderr: dict[str, float]
    n_gold: int = 0
    gold_accuracy: dict[str, float] | None = None
    gold_gain_stderr: dict[str, float] | None = None
    anchor_gain: dict[str, float] | None = None
    """``auto.v3``: each EM candidate's held-out gain over its anchored self (None in v2)."""
    anchor_stderr: dict[str, float] | None = None


def _cluster_stderr(diff: FloatArray, item: IntArray) -> float:
    """Standard error of the mean of ``diff``, treating each item's answers as one unit."""
    n = diff.shape[0]
    if n < 2:
        return float("inf")
    _, inv = np.unique(item, return_inverse=True)
    sums = np.bincount(inv, weights=diff)
    centered = sums - diff.mean() * np.bincount(inv)
    return float(np.sqrt((centered**2).sum()) / n)


def score_heldout(
    fi: FitInput,
    candidates: tuple[str, ...],
    *,
    n_folds: int,
    rng: np.random.Generator,
    max_iter: int,
    tol: float,
    anchored: bool = False,
    max_scored: int | None = None,
) -> tuple[dict[str, FloatArray], IntArray]:
    """Held-out log predictive probabilities per candidate (aligned arrays) and the items of
    the held-out answers.

    With ``anchored``, every EM candidate ``c`` is also scored *anchored* (key
    ``ANCHOR + c``): its labeler model fitted to the majority-vote posteriors of the
    training answers, which it then keeps (no EM iteration). ``c`` minus its anchored score
    is what moving the posteriors away from majority vote gained, in ``c``'s own terms.
    With ``max_scored``, folds stop once that many held-out answers have been scored (each
    fit still trains on all the other folds).
    """
    a = fi.answers
    fold = split_by_labeler(a, n_folds, rng)
    keys = [*candidates, *(ANCHOR + c for c in candidates if anchored and c != FLOOR)]
    out: dict[str, list[FloatArray]] = {c: [] for c in keys}
    items: list[IntArray] = []
    gold = np.where(fi.known, fi.gold, ABSTAIN)
    scored = 0
    for f in range(n_folds):
        hide = fold == f
        if not hide.any():
            continue
        if max_scored is not None and scored >= max_scored:
            break
        train, held = a._subset(~hide), a._subset(hide)
        items.append(held.item)
        scored += len(held)
        for c in keys:
            name, iters = (c[len(ANCHOR) :], 0) if c.startswith(ANCHOR) else (c, max_iter)
            model = make_candidate(name, max_iter=iters, tol=tol).fit(train, gold)
            out[c].append(predictive_log_prob(model, held))
    if not items:
        return {c: np.zeros(0) for c in keys}, np.zeros(0, dtype=np.int64)
    return {c: np.concatenate(v) for c, v in out.items()}, np.concatenate(items)


def stacking_weights(
    probs: FloatArray,
    *,
    max_iter: int = 500,
    tol: float = 1e-8,
    solver: Literal["em", "slsqp"] = "em",
) -> FloatArray:
    """Mixture weights (shape (C,)) maximizing ``sum_n log sum_c w_c probs[n, c]``.

    ``probs`` (shape (n, C)) are held-out predictive probabilities of ``C`` models; the
    objective is concave in ``w``. ``solver="em"`` (``auto.v2``) iterates
    ``w_c <- mean_n w_c p_nc / sum_c' w_c' p_nc'``, which creeps toward a maximum on the
    simplex's boundary (hundreds of passes over ``probs``); ``"slsqp"`` (``auto.v3``) solves
    the same problem with scipy's SLSQP and the exact gradient in a few dozen passes.
    """
    n, c = probs.shape
    w = np.full(c, 1.0 / c)
    if n == 0:
        return w
    if solver == "slsqp":
        return _stacking_slsqp(probs, w, max_iter=max_iter, tol=tol)
    prev = -np.inf
    for _ in range(max_iter):
        mix = probs @ w
        obj = float(np.log(mix).mean())
        w = w * (probs / mix[:, None]).mean(axis=0)
        w /= w.sum()
        if obj - prev < tol:
            break
        prev = obj
    return np.asarray(w, dtype=np.float64)


def _stacking_slsqp(probs: FloatArray, w0: FloatArray, *, max_iter: int, tol: float) -> FloatArray:
    from scipy.optimize import minimize

    n = probs.shape[0]

    def objective(w: FloatArray) -> tuple[float, FloatArray]:
        mix = np.maximum(probs @ w, 1e-300)
        return -float(np.log(mix).mean()), -(probs.T @ (1.0 / mix)) / n

    res = minimize(
        objective,
        w0,
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * w0.shape[0],
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
        options={"maxiter": max_iter, "ftol": tol},
    )
    w = np.clip(np.asarray(res.x, dtype=np.float64), 0.0, None)
    return w / w.sum() if w.sum() > 0 else w0


def fit_members(
    answers: Answers, gold: IntArray, weights: dict[str, float], *, max_iter: int, tol: float
) -> tuple[FloatArray, dict[str, Aggregator]]:
    """Fit every candidate with a positive weight; their weighted mean posterior."""
    members: dict[str, Aggregator] = {}
    probas: FloatArray | None = None
    for c, wt in weights.items():
        if wt <= 0:
            continue
        model = (
            MajorityVote().fit(answers, gold)
            if c == FLOOR
            else make_candidate(c, max_iter=max_iter, tol=tol).fit(answers, gold)
        )
        members[c] = model
        probas = wt * model.probas_ if probas is None else probas + wt * model.probas_
    assert probas is not None
    return probas / sum(weights[c] for c in members), members


def score_gold_cv(
    fi: FitInput,
    options: dict[str, dict[str, float]],
    *,
    n_folds: int,
    rng: np.random.Generator,
    max_iter: int,
    tol: float,
) -> dict[str, FloatArray]:
    """Per option (a weighting of candidates), 0/1 correctness on each answered gold item,
    each predicted by fits whose clamped gold excluded that item's fold."""
    answered = np.bincount(fi.answers.item, minlength=fi.answers.n_items) > 0
    scored = np.flatnonzero(fi.known & answered)
    fold = np.empty(scored.shape[0], dtype=np.int64)
    fold[rng.permutation(scored.shape[0])] = np.arange(scored.shape[0]) % n_folds
    out = {name: np.zeros(scored.shape[0]) for name in options}
    needed = {c: 1.0 for opt in options.values() for c, wt in opt.items() if wt > 0}
    for f in range(n_folds):
        test = scored[fold == f]
        if not test.size:
            continue
        gold = fi.gold.copy()
        gold[test] = ABSTAIN
        _, members = fit_members(fi.answers, gold, needed, max_iter=max_iter, tol=tol)
        for name, opt in options.items():
            probas = sum(wt * members[c].probas_[test] for c, wt in opt.items() if wt > 0)
            out[name][fold == f] = np.argmax(probas, axis=1) == fi.gold[test]
    return out


@dataclass(frozen=True)
class _LabelFree:
    """The label-free step's outcome (weights and the figures behind them)."""

    weights: dict[str, float]
    n_heldout: int
    loglik: dict[str, float]
    gain: dict[str, float]
    stderr: dict[str, float]
    anchor_gain: dict[str, float] | None = None
    anchor_stderr: dict[str, float] | None = None


class AutoAggregator(Aggregator):
    """The former default (``auto.v2``): the model each dataset's own evidence supports.

    Chooses among :data:`CANDIDATES` by the held-out likelihood of answers (or, with enough
    gold, by cross-validated accuracy on gold), with majority vote as the floor; see the
    module notes. ``labels_``, ``probas_``, ``skills_`` (and ``confusions_``/``priors_``
    when the chosen model has them), ``n_iter_``, ``converged_`` and ``log_likelihood_``
    come from the chosen model fitted on all answers (gold clamped). ``chosen_`` names it;
    ``selection_`` (:class:`Selection`) holds the scores it was chosen by.

    Parameters
    ----------
    candidates : tuple of str
        Subset of :data:`CANDIDATES` (the floor is always included).
    n_folds : int
        Parts each labeler's answers are split into (and gold folds).
    margin : float
        Standard errors a candidate's held-out likelihood gain over the floor must exceed.
    gold_margin : float
        Standard errors of paired gold accuracy needed to override the label-free choice.
    min_gold : int
        Fewest answered gold items for gold-based selection.
    max_selection_answers : int
        Selection runs on a random subset of items with about this many answers.
    max_iter, tol : int, float
        Of the EM candidates.
    random_state : int or None
        Seed of the folds and the subset.

    Examples
    --------
    >>> from labelloop.core.answers import Answers
    >>> a = Answers.from_codes([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2], [1, 1, 0, 0, 0, 1])
    >>> auto = AutoAggregator().fit(a)
    >>> auto.labels_.tolist(), auto.chosen_
    ([1, 0], 'majority_vote')
    """

    name: ClassVar[str] = "auto.v2"
    _param_names: ClassVar[tuple[str, ...]] = (
        "candidates",
        "n_folds",
        "margin",
        "gold_margin",
        "min_gold",
        "max_selection_answers",
        "max_iter",
        "tol",
        "random_state",
    )

    compact: ClassVar[bool] = False
    """Whether selection runs on the subsample's items only (``auto.v3``; ``auto.v2`` keeps
    every item, and clamped gold items without answers still weigh in its class prior)."""

    chosen_: str
    selection_: Selection
    members_: dict[str, Aggregator]
    model_: Aggregator
    weights_: dict[str, float]

    def __init__(
        self,
        candidates: tuple[str, ...] | list[str] = CANDIDATES,
        n_folds: int = 5,
        margin: float = 2.0,
        gold_margin: float = 1.0,
        min_gold: int = 20,
        max_selection_answers: int = 100_000,
        max_iter: int = 100,
        tol: float = 1e-6,
        random_state: int | None = 0,
    ) -> None:
        self.candidates = tuple(candidates)
        self.n_folds = n_folds
        self.margin = margin
        self.gold_margin = gold_margin
        self.min_gold = min_gold
        self.max_selection_answers = max_selection_answers
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _pool(self) -> tuple[str, ...]:
        unknown = [c for c in self.candidates if c not in CANDIDATES]
        if unknown:
            raise InvalidInput(
                f"unknown auto candidate {unknown[0]!r}; known: {', '.join(CANDIDATES)}"
            )
        if self.n_folds < 2:
            raise InvalidInput(f"n_folds must be >= 2, got {self.n_folds}")
        return (FLOOR, *[c for c in CANDIDATES if c in self.candidates and c != FLOOR])

    def fit(self, answers: Answers, gold: GoldLike = None) -> Self:
        fi = prepare(answers, gold)
        pool = self._pool()
        rng = np.random.default_rng(self.random_state)
        sub = subsample_items(fi.answers, int(self.max_selection_answers), rng)
        opts: dict[str, Any] = {  # scoring needs no tight convergence
            "n_folds": int(self.n_folds),
            "rng": rng,
            "max_iter": min(self.max_iter, SELECTION_MAX_ITER),
            "tol": max(self.tol, SELECTION_TOL),
        }
        if self.compact:
            sub, kept = compact_items(sub)
            sub_fi = FitInput(sub, fi.gold[kept], fi.known[kept])
        else:
            sub_fi = FitInput(sub, fi.gold, fi.known)
        free = self._label_free(sub_fi, pool, opts)
        label_free = free.weights
        weights, criterion = label_free, "heldout_likelihood"
        gold_acc: dict[str, float] | None = None
        gold_se: dict[str, float] | None = None
        answered = np.bincount(fi.answers.item, minlength=fi.answers.n_items) > 0
        n_gold = int((fi.known & answered).sum())
        if n_gold >= self.min_gold:
            options = {STACK: label_free, **{c: {c: 1.0} for c in pool}}
            correct = score_gold_cv(fi, options, **opts)
            ref = correct[STACK]
            gold_acc = {c: float(v.mean()) for c, v in correct.items()}
            gold_se = {
                c: float(np.std(v - ref, ddof=1) / np.sqrt(v.size)) if v.size > 1 else np.inf
                for c, v in correct.items()
            }
            best = max(options, key=lambda c: (gold_acc[c], c == STACK))
            if gold_acc[best] - gold_acc[STACK] > self.gold_margin * gold_se[best]:
                weights = options[best]
            criterion = "gold_cv"
        probas, members = fit_members(
            fi.answers, fi.gold, weights, max_iter=self.max_iter, tol=self.tol
        )
        lead = max(members, key=lambda c: weights[c])
        model = members[lead]
        if len(members) == 1:
            self.labels_, self.probas_ = model.labels_, model.probas_
            self.n_iter_, self.converged_ = model.n_iter_, model.converged_
            self.log_likelihood_ = model.log_likelihood_
        else:
            self._finish(
                fi,
                probas,
                model.probas_,
                n_iter=sum(m.n_iter_ for m in members.values()),
                converged=all(m.converged_ for m in members.values()),
                log_likelihood=None,
            )
        self.skills_ = model.skills_
        for attr in ("confusions_", "priors_"):
            if hasattr(model, attr):
                setattr(self, attr, getattr(model, attr))
        self.members_ = members
        self.model_ = model
        self.weights_ = weights
        self.chosen_ = lead if len(members) == 1 else STACK
        self.selection_ = Selection(
            chosen=self.chosen_,
            criterion=criterion,
            weights=weights,
            label_free_weights=label_free,
            n_heldout=free.n_heldout,
            loglik=free.loglik,
            gain=free.gain,
            stderr=free.stderr,
            n_gold=n_gold,
            gold_accuracy=gold_acc,
            gold_gain_stderr=gold_se,
            anchor_gain=free.anchor_gain,
            anchor_stderr=free.anchor_stderr,
        )
        return self

    def _label_free(self, fi: FitInput, pool: tuple[str, ...], opts: dict[str, Any]) -> _LabelFree:
        """auto.v2: stack every candidate by held-out likelihood; keep it only when its gain
        over the floor (one shared skill: majority vote) exceeds ``margin`` standard errors."""
        ll, items = score_heldout(fi, pool, **opts)
        base = ll[FLOOR]
        loglik = {c: float(v.mean()) if v.size else 0.0 for c, v in ll.items()}
        stderr = {c: _cluster_stderr(ll[c] - base, items) for c in pool}
        w = stacking_weights(np.exp(np.stack([ll[c] for c in pool], axis=1)))
        w[w < MIN_WEIGHT] = 0.0
        w /= w.sum()
        mix = np.log(np.maximum(np.exp(np.stack([ll[c] for c in pool], axis=1)) @ w, 1e-300))
        loglik[STACK] = float(mix.mean()) if mix.size else 0.0
        stderr[STACK] = _cluster_stderr(mix - base, items)
        gain = {c: loglik[c] - loglik[FLOOR] for c in loglik}
        if gain[STACK] > self.margin * stderr[STACK]:
            label_free = {c: float(x) for c, x in zip(pool, w, strict=True) if x > 0}
        else:
            label_free = {FLOOR: 1.0}
        return _LabelFree(label_free, int(base.size), loglik, gain, stderr)


class AnchoredAutoAggregator(AutoAggregator):
    """Default aggregator (``auto.v3``): ``auto.v2`` whose floor asks whether EM's posteriors
    beat majority vote's, not whether a richer labeler model predicts answers better.

    ``auto.v2`` compared every candidate with majority vote scored as a model in which all
    labelers share one skill, so a candidate gained over the floor merely by modelling that
    labelers differ -- even when its EM posteriors were worse than majority vote's (on
    synthetic crowds with class-pair confusions it stacked hierarchical Dawid-Skene and fell
    2 points below majority vote). Here each EM candidate is compared with **itself
    anchored**: its labeler model fitted to majority vote's posteriors, which it keeps
    (:func:`score_heldout` with ``anchored=True``). Only a candidate whose held-out answer
    likelihood beats its anchored self by more than ``margin`` standard errors is
    *eligible*: its EM moved the posteriors somewhere that predicts unseen answers better,
    in its own terms. The eligible candidates and majority vote (its posteriors scored by
    the best anchored labeler model) are stacked by held-out likelihood; with none eligible
    the result is majority vote. Gold, when there is enough, is used as in ``auto.v2``.

    Faster than ``auto.v2``: the selection subsample (up to 200,000 answers) is renumbered
    over its own items, folds stop after 40,000 scored answers, stacking weights are solved
    by SLSQP, an anchored score costs one M-step, and members weighing less than 5 % are not
    refitted.
    ``margin = 0`` was chosen on synthetic crowd families with known structure (see
    ``benchmarks/aggregation.py``, which re-chooses it by leave-one-dataset-out).

    Parameters and attributes: as :class:`AutoAggregator`; ``selection_.anchor_gain`` /
    ``anchor_stderr`` hold each EM candidate's gain over its anchored self.

    Examples
    --------
    >>> from labelloop.core.answers import Answers
    >>> a = Answers.from_codes([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2], [1, 1, 0, 0, 0, 1])
    >>> auto = AnchoredAutoAggregator().fit(a)
    >>> auto.labels_.tolist(), AnchoredAutoAggregator(margin=1e9).fit(a).chosen_
    ([1, 0], 'majority_vote')
    """

    name: ClassVar[str] = "auto.v3"
    min_weight: ClassVar[float] = 0.05
    compact: ClassVar[bool] = True
    max_scored: ClassVar[int] = 40_000
    """Held-out answers scored at most (whole folds; the rest of the folds are skipped)."""

    def __init__(
        self,
        candidates: tuple[str, ...] | list[str] = CANDIDATES,
        n_folds: int = 5,
        margin: float = 0.0,
        gold_margin: float = 1.0,
        min_gold: int = 20,
        max_selection_answers: int = 200_000,
        max_iter: int = 100,
        tol: float = 1e-6,
        random_state: int | None = 0,
    ) -> None:
        super().__init__(
            candidates,
            n_folds=n_folds,
            margin=margin,
            gold_margin=gold_margin,
            min_gold=min_gold,
            max_selection_answers=max_selection_answers,
            max_iter=max_iter,
            tol=tol,
            random_state=random_state,
        )

    def _label_free(self, fi: FitInput, pool: tuple[str, ...], opts: dict[str, Any]) -> _LabelFree:
        em = tuple(c for c in pool if c != FLOOR)
        ll, items = score_heldout(fi, em, anchored=True, max_scored=self.max_scored, **opts)
        if not em or not items.size:
            return _LabelFree({FLOOR: 1.0}, int(items.size), {}, {}, {}, {}, {})
        anchor_gain, anchor_se = {}, {}
        for c in em:
            diff = ll[c] - ll[ANCHOR + c]
            anchor_gain[c] = float(diff.mean())
            anchor_se[c] = _cluster_stderr(diff, items)
        anchors = [ANCHOR + c for c in em]
        ll[FLOOR] = ll[max(anchors, key=lambda c: float(ll[c].mean()))]
        base = ll[FLOOR]
        eligible = [c for c in em if anchor_gain[c] > self.margin * anchor_se[c]]
        names = [FLOOR, *eligible]
        probs = np.exp(np.stack([ll[c] for c in names], axis=1))
        w = stacking_weights(probs, max_iter=100, tol=1e-9, solver="slsqp")
        w[w < self.min_weight] = 0.0
        w /= w.sum()
        mix = np.log(np.maximum(probs @ w, 1e-300))
        loglik = {c: float(ll[c].mean()) for c in (FLOOR, *em)}
        loglik[STACK] = float(mix.mean())
        stderr = {c: _cluster_stderr(ll[c] - base, items) for c in (FLOOR, *em)}
        stderr[STACK] = _cluster_stderr(mix - base, items)
        gain = {c: loglik[c] - loglik[FLOOR] for c in loglik}
        weights = {c: float(x) for c, x in zip(names, w, strict=True) if x > 0}
        return _LabelFree(weights, int(items.size), loglik, gain, stderr, anchor_gain, anchor_se)
