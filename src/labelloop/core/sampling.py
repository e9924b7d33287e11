"""Which items to label next: informativeness scores and batch selection under a budget.

Pure: arrays in, indices out. Two layers:

* ``score_*`` kernels turn model outputs into one informativeness score per item (higher =
  more worth a label): :func:`score_least_confidence`, :func:`score_margin`,
  :func:`score_entropy` from one model's ``probas`` (n, K), and :func:`score_committee` from
  several labelers' ``member_probas`` (n_members, n, K) — models, humans' models and labeling
  functions alike; a member's row may be one-hot (a hard vote) or NaN (it abstains).
* :func:`select_batch` picks ``budget`` items of a pool of ``n_pool`` with one of
  :data:`STRATEGIES`, never one marked in ``exclude`` (already labeled, queued or in flight),
  and says per item why it was chosen (:class:`Selection`).

Strategies
----------
``random``            uniform among available items.
``least_confidence``  top ``1 - max_k p_k``.
``margin``            top ``1 - (p_(1) - p_(2))`` (smallest gap between the two best classes).
``entropy``           top ``-sum_k p_k log p_k`` (nats).
``committee``         top vote entropy (or mean KL to the consensus) across ``member_probas``.
``diversity``         k-center greedy on ``embeddings``: each pick is the available item
                      farthest from every excluded (labeled/queued) item and every earlier pick.
``hybrid``            the ``candidate_factor * budget`` most uncertain items (``uncertainty``
                      score), then ``budget`` diverse ones among them: weighted k-means on their
                      embeddings, the candidate nearest each centroid (Zhdanov 2019,
                      "Diverse mini-batch active learning"); ``diversity="kcenter"`` uses
                      k-center greedy on the candidates instead (also used when
                      ``budget * candidates * dim`` exceeds :data:`KMEANS_MAX_WORK`).
``class_balanced``    equal quotas per predicted class (``predicted``, else argmax of
                      ``probas``); with ``class_counts`` (labels per class so far) the quotas
                      fill the rarest classes first. Within a class: most uncertain first.

Cold start: a strategy that needs model outputs but gets none falls back to k-center greedy
on ``embeddings`` when given, else to random, and every reason says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from labelloop import registry
from labelloop.core.answers import FloatArray, IntArray
from labelloop.errors import InvalidInput

BoolArray: TypeAlias = npt.NDArray[np.bool_]
RandomState: TypeAlias = int | np.random.Generator | None

STRATEGIES: tuple[str, ...] = tuple(key.rsplit(".v", 1)[0] for key in registry.BUILTINS["sampler"])
"""The built-in strategies (bare names) of :func:`select_batch`; plugins add more."""

UNCERTAINTY_SCORES: tuple[str, ...] = ("least_confidence", "margin", "entropy")

KMEANS_MAX_WORK = 1e9
"""Hybrid switches from k-means to k-center when ``budget * candidates * dim`` exceeds this."""


@dataclass(frozen=True)
class Selection:
    """The items chosen for labeling, in order of choice.

    Attributes
    ----------
    indices : IntArray, shape (m,)
        Pool positions of the chosen items, ``m <= budget``; never an excluded position.
    scores : FloatArray, shape (m,)
        The score each item was chosen on (uncertainty, disagreement, or k-center distance;
        NaN for random picks).
    reasons : tuple[str, ...], length m
        One human-readable reason per item, e.g. ``"entropy 0.69 (rank 3 of 5000)"``.
    method : str
        What actually ran, e.g. ``"entropy"`` or ``"random (cold start: no model predictions)"``.
    """

    indices: IntArray
    scores: FloatArray
    reasons: tuple[str, ...]
    method: str = ""

    def __len__(self) -> int:
        return int(self.indices.shape[0])


# --------------------------------------------------------------------------- scores


def _as_probas(probas: Any, name: str = "probas") -> FloatArray:
    arr = np.asarray(probas, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise InvalidInput(f"{name} must have shape (n_items, n_classes); got shape {arr.shape}")
    return arr


def score_least_confidence(probas: npt.ArrayLike) -> FloatArray:
    """Least confidence: ``1 - max_k p_k``.

    Parameters
    ----------
    probas : array-like, shape (n, K)
        Class probabilities per item (rows sum to 1).

    Returns
    -------
    FloatArray, shape (n,)
        Higher = less confident = more informative; in ``[0, 1 - 1/K]``.

    Examples
    --------
    >>> score_least_confidence([[0.9, 0.1], [0.5, 0.5]]).round(2).tolist()
    [0.1, 0.5]
    """
    p = _as_probas(probas)
    return np.asarray(1.0 - p.max(axis=1), dtype=np.float64)


def score_margin(probas: npt.ArrayLike) -> FloatArray:
    """Margin: ``1 - (p_(1) - p_(2))``, one minus the gap between the two best classes.

    Parameters
    ----------
    probas : array-like, shape (n, K)

    Returns
    -------
    FloatArray, shape (n,)
        Higher = smaller margin = more informative; in ``[0, 1]``.

    Examples
    --------
    >>> score_margin([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]]).round(2).tolist()
    [0.5, 1.0]
    """
    p = _as_probas(probas)
    if p.shape[1] == 1:
        return np.asarray(1.0 - p[:, 0], dtype=np.float64)
    top2 = -np.partition(-p, 1, axis=1)[:, :2]
    return np.asarray(1.0 - (top2[:, 0] - top2[:, 1]), dtype=np.float64)


def _entropy_rows(p: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0)
    return np.asarray(0.0 - (p * logs).sum(axis=1), dtype=np.float64) + 0.0


def score_entropy(probas: npt.ArrayLike) -> FloatArray:
    """Predictive entropy ``-sum_k p_k log p_k`` in nats.

    Parameters
    ----------
    probas : array-like, shape (n, K)

    Returns
    -------
    FloatArray, shape (n,)
        Higher = more uncertain; in ``[0, log K]``.

    Examples
    --------
    >>> score_entropy([[1.0, 0.0], [0.5, 0.5]]).round(3).tolist()
    [0.0, 0.693]
    """
    return _entropy_rows(_as_probas(probas))


def score_committee(
    member_probas: npt.ArrayLike,
    *,
    method: Literal["vote_entropy", "kl"] = "vote_entropy",
) -> FloatArray:
    """Disagreement within a committee of labelers.

    Parameters
    ----------
    member_probas : array-like, shape (n_members, n, K)
        Each member's class probabilities per item. A one-hot row is a hard vote (a human's
        model, a labeling function); a row of NaN means the member abstains on that item.
    method : {"vote_entropy", "kl"}
        ``"vote_entropy"``: entropy (nats) of the distribution of the voting members' argmax
        votes. ``"kl"``: mean over voting members of ``KL(p_member || p_consensus)`` where the
        consensus is the voting members' mean distribution.

    Returns
    -------
    FloatArray, shape (n,)
        Higher = more disagreement. 0 where fewer than two members vote.

    Examples
    --------
    >>> nan = float("nan")
    >>> members = [[[1, 0], [1, 0], [0, 1]],
    ...            [[1, 0], [0, 1], [nan, nan]],
    ...            [[1, 0], [0, 1], [0, 1]]]
    >>> score_committee(members).round(3).tolist()
    [0.0, 0.637, 0.0]
    """
    m = np.asarray(member_probas, dtype=np.float64)
    if m.ndim != 3:
        raise InvalidInput(
            f"member_probas must have shape (n_members, n_items, n_classes); got shape {m.shape}"
        )
    if method not in ("vote_entropy", "kl"):
        raise InvalidInput(f"committee method must be 'vote_entropy' or 'kl'; got {method!r}")
    n_members, n, k = m.shape
    voting: BoolArray = np.asarray(~np.isnan(m).any(axis=2))  # (M, n)
    n_voting = voting.sum(axis=0)  # (n,)
    filled = np.where(voting[:, :, None], m, 0.0)
    out = np.zeros(n, dtype=np.float64)
    several = n_voting >= 2
    if not several.any():
        return out
    if method == "vote_entropy":
        votes = filled.argmax(axis=2)  # (M, n)
        counts = np.zeros((n, k), dtype=np.float64)
        for member in range(n_members):
            rows = np.flatnonzero(voting[member])
            np.add.at(counts, (rows, votes[member, rows]), 1.0)
        dist = counts[several] / n_voting[several, None]
        out[several] = _entropy_rows(dist)
        return out
    consensus = filled.sum(axis=0)[several] / n_voting[several, None]  # (s, K)
    sub = filled[:, several, :]  # (M, s, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(sub > 0, sub / np.where(consensus > 0, consensus, 1.0)[None], 1.0)
        kl = (sub * np.log(ratio)).sum(axis=2)  # (M, s)
    kl = np.where(voting[:, several], kl, 0.0)
    out[several] = kl.sum(axis=0) / n_voting[several]
    return out


def score_density(embeddings: npt.ArrayLike) -> FloatArray:
    """Information density: each item's mean cosine similarity to the pool, mapped to [0, 1].

    Weighting an uncertainty score by ``density ** beta`` (Settles & Craven 2008) keeps
    uncertain *outliers* (texts made of words the model never saw) from filling a batch.
    With unit rows ``u``, the mean similarity is ``u_i . mean(u)``: O(n d).

    Parameters
    ----------
    embeddings : array-like, shape (n, d)

    Returns
    -------
    FloatArray, shape (n,)
        ``(1 + mean cosine similarity) / 2``.

    Examples
    --------
    >>> score_density([[1.0, 0.0], [1.0, 0.1], [-1.0, 0.0]]).round(2).tolist()
    [0.67, 0.67, 0.33]
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise InvalidInput(f"embeddings must have shape (n_items, dim); got shape {x.shape}")
    if x.shape[0] == 0:
        return np.zeros(0, dtype=np.float64)
    u = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sim = u @ u.mean(axis=0)
    return np.asarray(np.clip((1.0 + sim) / 2.0, 0.0, 1.0), dtype=np.float64)


_SCORERS: dict[str, Callable[[npt.ArrayLike], FloatArray]] = {
    "least_confidence": score_least_confidence,
    "margin": score_margin,
    "entropy": score_entropy,
}


# --------------------------------------------------------------------------- selection helpers


def _rng(random_state: RandomState) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def _rank_desc(scores: FloatArray, rng: np.random.Generator) -> IntArray:
    """Positions of ``scores`` from highest to lowest; ties broken at random (seeded)."""
    tie = np.asarray(rng.random(scores.shape[0]), dtype=np.float64)
    return np.lexsort(np.stack([tie, -scores])).astype(np.int64)


def _sq_dists(x: FloatArray, centers: FloatArray) -> FloatArray:
    """Squared euclidean distances, shape (len(x), len(centers))."""
    xx = np.einsum("ij,ij->i", x, x)
    cc = np.einsum("ij,ij->i", centers, centers)
    d = xx[:, None] + cc[None, :] - 2.0 * (x @ centers.T)
    return np.asarray(np.maximum(d, 0.0), dtype=np.float64)


def _min_sq_dist_to(x: FloatArray, centers: FloatArray, chunk: int = 2048) -> FloatArray:
    out = np.full(x.shape[0], np.inf)
    for start in range(0, centers.shape[0], chunk):
        block = _sq_dists(x, centers[start : start + chunk])
        out = np.minimum(out, block.min(axis=1))
    return out


def k_center_greedy(
    embeddings: npt.ArrayLike,
    budget: int,
    *,
    candidates: npt.ArrayLike | None = None,
    centers: npt.ArrayLike | None = None,
    random_state: RandomState = None,
) -> tuple[IntArray, FloatArray]:
    """Greedy k-center (Sener & Savarese 2018): repeatedly take the farthest point.

    Parameters
    ----------
    embeddings : array-like, shape (n, d)
    budget : int
        Points to pick (at most the number of candidates).
    candidates : array-like of int, optional
        Positions that may be picked (default: all).
    centers : array-like of int, optional
        Positions already covered (labeled, queued); distances start from them. Without any,
        the first pick is a random candidate (distance reported as ``inf``).
    random_state : int or Generator, optional

    Returns
    -------
    picks : IntArray, shape (m,)
        Chosen positions in order of choice.
    distances : FloatArray, shape (m,)
        Euclidean distance of each pick to the nearest earlier center or pick.

    Examples
    --------
    >>> x = [[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [0.0, 4.0]]
    >>> picks, dist = k_center_greedy(x, 2, centers=[0])
    >>> picks.tolist()
    [2, 3]
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise InvalidInput(f"embeddings must have shape (n_items, dim); got shape {x.shape}")
    cand = (
        np.arange(x.shape[0], dtype=np.int64)
        if candidates is None
        else np.asarray(candidates, dtype=np.int64)
    )
    budget = min(int(budget), cand.shape[0])
    if budget <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    rng = _rng(random_state)
    xc = x[cand]
    cen = np.zeros(0, dtype=np.int64) if centers is None else np.asarray(centers, np.int64)
    mind = _min_sq_dist_to(xc, x[cen]) if cen.size else np.full(cand.shape[0], np.inf)
    picks = np.empty(budget, dtype=np.int64)
    dists = np.empty(budget, dtype=np.float64)
    taken = np.zeros(cand.shape[0], dtype=bool)
    for i in range(budget):
        if np.isinf(mind).all():
            j = int(rng.integers(cand.shape[0]))
        else:
            masked = np.where(taken, -1.0, mind)
            j = int(np.argmax(masked))
        picks[i] = cand[j]
        dists[i] = np.sqrt(mind[j])
        taken[j] = True
        mind = np.minimum(mind, _sq_dists(xc, xc[j : j + 1])[:, 0])
        mind[taken] = -1.0
    return picks, dists


def _kmeans_diverse(
    x: FloatArray, weights: FloatArray, k: int, rng: np.random.Generator
) -> IntArray:
    """Weighted k-means (k-means++ init, a few Lloyd steps); the point nearest each centroid."""
    from sklearn.cluster import KMeans

    seed = int(rng.integers(2**31 - 1))
    km = KMeans(n_clusters=k, n_init=1, max_iter=50, random_state=seed)
    km.fit(x, sample_weight=np.maximum(weights, 1e-12))
    d = _sq_dists(x, np.asarray(km.cluster_centers_, dtype=np.float64))  # (n, k)
    chosen: list[int] = []
    used = np.zeros(x.shape[0], dtype=bool)
    for c in np.argsort(d.min(axis=0)):  # clusters whose nearest point is closest go first
        order = np.argsort(d[:, c], kind="stable")
        for j in order:
            if not used[j]:
                used[j] = True
                chosen.append(int(j))
                break
    return np.asarray(chosen, dtype=np.int64)


# --------------------------------------------------------------------------- select_batch


def _check_pool(arr: FloatArray, n_pool: int, name: str, axis: int = 0) -> None:
    if arr.shape[axis] != n_pool:
        raise InvalidInput(
            f"{name} has {arr.shape[axis]} rows (axis {axis}) but n_pool is {n_pool}; "
            "expected one row per pool item"
        )


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1e3 else f"{x:.4g}"


def _describe(label: str, score: float) -> str:
    """How a reason shows a score: the margin score ``1 - gap`` reads as the gap itself."""
    if label == "margin":
        return f"top-two gap {_fmt(1.0 - score)}"
    return f"{label} {_fmt(score)}"


class Vectors:
    """Pool embeddings given as an array (n_pool, d) or lazily as ``fn(indices) -> (m, d)``.

    A callable is asked only for the rows a strategy uses: the hybrid's k-means step needs
    its candidates alone, so a large pool is never embedded whole for it.
    """

    def __init__(self, source: Any, n_pool: int) -> None:
        self.n_pool = n_pool
        self._fn: Callable[[IntArray], Any] | None = source if callable(source) else None
        self._all: FloatArray | None = None
        if self._fn is None:
            self._all = self._check(source, n_pool)

    @staticmethod
    def _check(arr: Any, rows: int) -> FloatArray:
        x = np.asarray(arr, dtype=np.float64)
        if x.ndim != 2:
            raise InvalidInput(f"embeddings must have shape (n_pool, dim); got shape {x.shape}")
        if x.shape[0] != rows:
            raise InvalidInput(
                f"embeddings has {x.shape[0]} rows but {rows} were asked for; "
                "expected one row per pool item"
            )
        return x

    def all(self) -> FloatArray:
        if self._all is None:
            assert self._fn is not None
            self._all = self._check(self._fn(np.arange(self.n_pool, dtype=np.int64)), self.n_pool)
        return self._all

    def rows(self, idx: IntArray) -> FloatArray:
        if self._all is not None:
            return self._all[idx]
        assert self._fn is not None
        return self._check(self._fn(idx), idx.shape[0])


def _top(
    scores: FloatArray,
    available: IntArray,
    budget: int,
    rng: np.random.Generator,
    label: str,
    method: str,
    note: str = "",
) -> Selection:
    s = scores[available]
    order = _rank_desc(s, rng)[:budget]
    n = available.shape[0]
    reasons = tuple(
        f"{_describe(label, float(s[j]))} (rank {r + 1} of {n}){note}" for r, j in enumerate(order)
    )
    return Selection(available[order], s[order].astype(np.float64), reasons, method)


def _random(available: IntArray, budget: int, rng: np.random.Generator, why: str) -> Selection:
    picks = rng.permutation(available)[:budget].astype(np.int64)
    return Selection(
        picks, np.full(picks.shape[0], np.nan), tuple(why for _ in range(picks.shape[0])), why
    )


def _kcenter(
    emb: FloatArray,
    available: IntArray,
    excluded: IntArray,
    budget: int,
    rng: np.random.Generator,
    why: str,
) -> Selection:
    picks, dists = k_center_greedy(
        emb, budget, candidates=available, centers=excluded, random_state=rng
    )
    reasons = tuple(
        f"{why}: distance {_fmt(float(d))} to nearest labeled/picked item"
        if np.isfinite(d)
        else f"{why}: first pick (nothing labeled yet)"
        for d in dists
    )
    return Selection(picks, dists, reasons, why)


def select_batch(
    strategy: str,
    budget: int,
    *,
    n_pool: int,
    probas: npt.ArrayLike | None = None,
    member_probas: npt.ArrayLike | None = None,
    embeddings: npt.ArrayLike | Callable[[IntArray], npt.ArrayLike] | None = None,
    predicted: npt.ArrayLike | None = None,
    exclude: npt.ArrayLike | None = None,
    random_state: RandomState = None,
    uncertainty_scores: npt.ArrayLike | None = None,
    **options: Any,
) -> Selection:
    """Choose up to ``budget`` pool items to label next.

    Parameters
    ----------
    strategy : str
        A sampler's registry name (:data:`labelloop.registry.samplers`): one of
        :data:`STRATEGIES` (a bare name means its latest version) or a plugin's.
    budget : int
        How many items to choose; more than available returns every available item.
    n_pool : int
        Pool size; every array below has one row per pool item.
    probas : array-like, shape (n_pool, K), optional
        The current model's class probabilities (uncertainty strategies, hybrid,
        class_balanced). Absent -> cold start.
    member_probas : array-like, shape (n_members, n_pool, K), optional
        Committee members' probabilities / one-hot votes, NaN rows = abstain (committee).
    embeddings : array-like, shape (n_pool, d), or callable, optional
        Item vectors for diversity, hybrid, density and cold start. A callable
        ``fn(indices) -> array (len(indices), d)`` is asked only for the rows used: the
        hybrid's k-means step asks for its candidates alone (k-center, density and cold
        start ask for the whole pool).
    predicted : array-like of int, shape (n_pool,), optional
        Predicted class codes for class_balanced (default: argmax of ``probas``).
    exclude : array-like of bool, shape (n_pool,), optional
        True for items labeled, queued or in flight; they are never chosen (and are the
        initial centers for k-center).
    random_state : int or Generator, optional
        Seed for random picks and tie-breaks; the same seed gives the same selection.
    uncertainty_scores : array-like of float, shape (n_pool,), optional
        Uncertainty computed by the caller for a task type whose predictions are not one
        class distribution (e.g. :func:`~labelloop.core.label_sets.score_set_uncertainty`);
        the uncertainty strategies rank by it instead of scoring ``probas``.
    **options
        ``density`` (beta >= 0, default 0; needs embeddings) for the uncertainty strategies
        and hybrid: scores times :func:`score_density` ** beta (information density);
        ``method`` ("vote_entropy" | "kl") for committee; ``uncertainty`` (default
        "entropy"), ``candidate_factor`` (default 10) and ``diversity`` ("kmeans" |
        "kcenter") for hybrid; ``class_counts`` (K,) labels per class so far for
        class_balanced.

    Returns
    -------
    Selection

    Raises
    ------
    NotFound
        Unknown strategy (the message lists the registered ones).
    InvalidInput
        Arrays whose shapes do not match ``n_pool``, a negative budget, options the strategy
        does not take (or of the wrong type), or diversity without embeddings.

    Examples
    --------
    >>> sel = select_batch("entropy", 1, n_pool=3,
    ...                    probas=[[0.9, 0.1], [0.5, 0.5], [0.6, 0.4]], exclude=[False, True, False])
    >>> sel.indices.tolist(), sel.reasons
    ([2], ('entropy 0.673 (rank 1 of 2)',))
    >>> select_batch("margin", 2, n_pool=3, random_state=0).method
    'random (cold start: no model predictions yet)'
    """
    plugin = registry.samplers.resolve(strategy)
    if isinstance(budget, bool) or int(budget) != budget or budget < 0:
        raise InvalidInput(f"budget must be a non-negative integer; got {budget!r}")
    if n_pool < 0:
        raise InvalidInput(f"n_pool must be non-negative; got {n_pool}")
    budget = int(budget)
    registry.samplers.check_params(plugin.key, options)
    sampler = registry.samplers.load(plugin.key)

    if exclude is None:
        excl = np.zeros(n_pool, dtype=bool)
    else:
        excl = np.asarray(exclude)
        if excl.dtype != np.bool_ or excl.shape != (n_pool,):
            raise InvalidInput(
                f"exclude must be a boolean mask of shape ({n_pool},); "
                f"got dtype {excl.dtype} shape {excl.shape}"
            )
    p = None if probas is None else _as_probas(probas)
    if p is not None:
        _check_pool(p, n_pool, "probas")
    members = None
    if member_probas is not None:
        members = np.asarray(member_probas, dtype=np.float64)
        if members.ndim != 3:
            raise InvalidInput(
                f"member_probas must have shape (n_members, n_pool, K); got shape {members.shape}"
            )
        _check_pool(members, n_pool, "member_probas", axis=1)
    pred = None
    if predicted is not None:
        pred = np.asarray(predicted, dtype=np.int64)
        if pred.shape != (n_pool,):
            raise InvalidInput(f"predicted must have shape ({n_pool},); got shape {pred.shape}")
        if (pred < 0).any():
            raise InvalidInput("predicted class codes must be >= 0")
    given = None
    if uncertainty_scores is not None:
        given = np.asarray(uncertainty_scores, dtype=np.float64)
        if given.shape != (n_pool,):
            raise InvalidInput(f"uncertainty_scores must have shape ({n_pool},); got {given.shape}")
    pool = Pool(
        n_pool=n_pool,
        available=np.flatnonzero(~excl).astype(np.int64),
        excluded=np.flatnonzero(excl).astype(np.int64),
        probas=p,
        member_probas=members,
        predicted=pred,
        vectors=None if embeddings is None else Vectors(embeddings, n_pool),
        rng=_rng(random_state),
        uncertainty=given,
    )
    budget = min(budget, pool.available.shape[0])
    if budget == 0:
        return Selection(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64), (), strategy)
    selection = sampler(pool, budget, **options)
    if not isinstance(selection, Selection):
        raise InvalidInput(
            f"sampling strategy {plugin.key!r} returned {type(selection).__name__}; "
            "expected a labelloop.core.sampling.Selection"
        )
    return selection


# --------------------------------------------------------------------------- samplers
# Registered in labelloop.registry.BUILTINS["sampler"]. A sampler is a function
# ``fn(pool, budget, /, **options) -> Selection`` with 0 < budget <= available items.


@dataclass(frozen=True)
class Pool:
    """What a sampler sees: the pool, validated by :func:`select_batch`.

    Attributes
    ----------
    n_pool : int
    available : IntArray, shape (a,)
        Positions that may be chosen (never labeled, queued or in flight).
    excluded : IntArray, shape (n_pool - a,)
        Positions that may not (k-center's initial centers).
    probas : FloatArray, shape (n_pool, K), or None
        The current model's probabilities (None: cold start).
    member_probas : FloatArray, shape (n_members, n_pool, K), or None
    predicted : IntArray, shape (n_pool,), or None
    vectors : Vectors or None
        Item embeddings: ``vectors.all()`` (n_pool, d) or ``vectors.rows(idx)``.
    rng : numpy.random.Generator
        The only source of randomness (seeded by ``random_state``).
    uncertainty : FloatArray, shape (n_pool,), or None
        Uncertainty scored by the caller (task types whose predictions are not one class
        distribution); the uncertainty strategies rank by it instead of ``probas``.
    """

    n_pool: int
    available: IntArray
    excluded: IntArray
    probas: FloatArray | None
    member_probas: FloatArray | None
    predicted: IntArray | None
    vectors: Vectors | None
    rng: np.random.Generator
    uncertainty: FloatArray | None = None

    def kcenter(self, budget: int, why: str) -> Selection:
        """k-center greedy on the embeddings: each pick farthest from everything labeled or
        picked before it; ``why`` starts every reason."""
        if self.vectors is None:
            raise InvalidInput(f"{why} needs embeddings of shape (n_pool, dim); got none")
        return _kcenter(self.vectors.all(), self.available, self.excluded, budget, self.rng, why)

    def cold_start(self, budget: int) -> Selection:
        """k-center greedy on the embeddings when given, else random; the reasons say so."""
        if self.vectors is not None:
            return self.kcenter(budget, "cold start: k-center on embeddings")
        return _random(
            self.available, budget, self.rng, "random (cold start: no model predictions yet)"
        )

    def weighted(self, name: str, scores: FloatArray, density: float) -> tuple[FloatArray, str]:
        """``scores`` times :func:`score_density` ** ``density`` (information density)."""
        if density == 0 or self.vectors is None:
            return scores, name
        return (
            scores * score_density(self.vectors.all()) ** density,
            f"{name} x density^{density:g}",
        )


def _check_density(pool: Pool, density: float) -> None:
    if density < 0 or not np.isfinite(density):
        raise InvalidInput(f"density must be a finite number >= 0; got {density}")
    if density > 0 and pool.vectors is None:
        raise InvalidInput("density weighting needs embeddings of shape (n_pool, dim); got none")


def select_random(pool: Pool, budget: int, /) -> Selection:
    """Uniform among the available items."""
    return _random(pool.available, budget, pool.rng, "random")


def select_diversity(pool: Pool, budget: int, /) -> Selection:
    """k-center greedy on the embeddings: each pick farthest from everything labeled or picked."""
    if pool.vectors is None:
        raise InvalidInput("strategy 'diversity' needs embeddings of shape (n_pool, dim); got none")
    return pool.kcenter(budget, "k-center on embeddings")


def _select_uncertain(pool: Pool, budget: int, name: str, density: float) -> Selection:
    _check_density(pool, density)
    if pool.uncertainty is not None:
        ranked, label = pool.weighted(name, pool.uncertainty, density)
        return _top(ranked, pool.available, budget, pool.rng, label, label)
    if pool.probas is None:
        return pool.cold_start(budget)
    scores, label = pool.weighted(name, _SCORERS[name](pool.probas), density)
    return _top(scores, pool.available, budget, pool.rng, label, label)


def select_least_confidence(pool: Pool, budget: int, /, *, density: float = 0.0) -> Selection:
    """The items whose top class is least probable (``1 - max_k p_k``)."""
    return _select_uncertain(pool, budget, "least_confidence", density)


def select_margin(pool: Pool, budget: int, /, *, density: float = 0.0) -> Selection:
    """The items with the smallest gap between their two most probable classes."""
    return _select_uncertain(pool, budget, "margin", density)


def select_entropy(pool: Pool, budget: int, /, *, density: float = 0.0) -> Selection:
    """The items whose class distribution has the highest entropy."""
    return _select_uncertain(pool, budget, "entropy", density)


def select_committee(
    pool: Pool, budget: int, /, *, method: Literal["vote_entropy", "kl"] = "vote_entropy"
) -> Selection:
    """The items the committee's members disagree on most (vote entropy or mean KL)."""
    if pool.member_probas is None:
        if pool.probas is None:
            return pool.cold_start(budget)
        return _top(
            score_entropy(pool.probas),
            pool.available,
            budget,
            pool.rng,
            "entropy",
            "entropy (committee: no members given)",
            " (no committee given)",
        )
    label = "vote entropy" if method == "vote_entropy" else "mean KL to consensus"
    return _top(
        score_committee(pool.member_probas, method=method),
        pool.available,
        budget,
        pool.rng,
        label,
        f"committee ({method}, {pool.member_probas.shape[0]} members)",
    )


def _check_uncertainty(uncertainty: str) -> None:
    if uncertainty not in _SCORERS:
        raise InvalidInput(f"uncertainty must be one of {', '.join(_SCORERS)}; got {uncertainty!r}")


def select_hybrid(
    pool: Pool,
    budget: int,
    /,
    *,
    uncertainty: str = "entropy",
    candidate_factor: float = 10,
    diversity: Literal["kmeans", "kcenter"] = "kmeans",
    density: float = 0.0,
) -> Selection:
    """The most uncertain candidates, then diverse picks among them (k-means or k-center)."""
    _check_uncertainty(uncertainty)
    _check_density(pool, density)
    if pool.probas is None:
        return pool.cold_start(budget)
    scores, uncertainty = pool.weighted(uncertainty, _SCORERS[uncertainty](pool.probas), density)
    available, rng, vec = pool.available, pool.rng, pool.vectors
    if vec is None:
        return _top(
            scores,
            available,
            budget,
            rng,
            uncertainty,
            f"{uncertainty} (hybrid without embeddings)",
            " (no embeddings for diversity)",
        )
    factor = float(candidate_factor)
    if factor < 1:
        raise InvalidInput(f"candidate_factor must be >= 1; got {factor}")
    s = scores[available]
    order = _rank_desc(s, rng)
    n_cand = min(available.shape[0], max(budget, int(np.ceil(factor * budget))))
    cand = available[order[:n_cand]]
    rank_of = {int(available[j]): r + 1 for r, j in enumerate(order[:n_cand])}
    cand_vec = vec.rows(cand) if diversity == "kmeans" and budget < n_cand else None
    if cand_vec is not None and budget * n_cand * cand_vec.shape[1] > KMEANS_MAX_WORK:
        diversity = "kcenter"  # k-means would take minutes; k-center is one pass per pick
    if diversity == "kcenter":
        picks, _ = k_center_greedy(
            vec.all(), budget, candidates=cand, centers=pool.excluded, random_state=rng
        )
    elif cand_vec is None:  # budget == n_cand: every candidate is picked
        picks = cand
    else:
        picks = cand[_kmeans_diverse(cand_vec, scores[cand], budget, rng)]
    reasons = tuple(
        f"{_describe(uncertainty, float(scores[i]))} (rank {rank_of[int(i)]} of "
        f"{available.shape[0]}), diverse pick ({diversity}) among top {n_cand}"
        for i in picks
    )
    return Selection(
        picks.astype(np.int64),
        scores[picks].astype(np.float64),
        reasons,
        f"hybrid ({uncertainty} top {n_cand}, then {diversity})",
    )


def select_class_balanced(
    pool: Pool,
    budget: int,
    /,
    *,
    class_counts: npt.ArrayLike | None = None,
    uncertainty: str = "entropy",
) -> Selection:
    """Equal quotas per predicted class, rarest classes first; most uncertain within a class."""
    _check_uncertainty(uncertainty)
    p, available, rng = pool.probas, pool.available, pool.rng
    if pool.predicted is not None:
        pred = pool.predicted
    elif p is not None:
        pred = p.argmax(axis=1).astype(np.int64)
    else:
        return pool.cold_start(budget)
    k = int(max(pred.max(initial=-1) + 1, 0 if p is None else p.shape[1]))
    have = (
        np.zeros(k, dtype=np.float64)
        if class_counts is None
        else np.asarray(class_counts, dtype=np.float64).ravel()
    )
    if have.shape[0] < k:
        raise InvalidInput(
            f"class_counts must have {k} entries (one per class); got {have.shape[0]}"
        )
    k = have.shape[0]
    scores = (
        _SCORERS[uncertainty](p) if p is not None else rng.random(pool.n_pool).astype(np.float64)
    )
    score_label = uncertainty if p is not None else "random order"
    # per class: available items, most uncertain first
    queues: list[IntArray] = []
    for c in range(k):
        members_c = available[pred[available] == c]
        queues.append(members_c[_rank_desc(scores[members_c], rng)])
    # water-filling: give the next slot to the class with the fewest (had + taken) that still
    # has available items
    taken = np.zeros(k, dtype=np.int64)
    level = have.copy()
    picks_l: list[int] = []
    reasons_l: list[str] = []
    for _ in range(budget):
        open_classes = [c for c in range(k) if taken[c] < queues[c].shape[0]]
        if not open_classes:
            break
        c = min(open_classes, key=lambda c: (level[c], c))
        i = int(queues[c][taken[c]])
        taken[c] += 1
        level[c] += 1
        picks_l.append(i)
        reasons_l.append(
            f"class-balanced: predicted class {c} (pick {taken[c]} of class), "
            f"{score_label} {_fmt(float(scores[i]))}"
        )
    idx = np.asarray(picks_l, dtype=np.int64)
    return Selection(
        idx,
        scores[idx].astype(np.float64),
        tuple(reasons_l),
        f"class_balanced ({score_label} within predicted class)",
    )
