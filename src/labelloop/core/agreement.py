"""Inter-annotator agreement on sparse answers, with bootstrap intervals over items.

Every coefficient here is computed from per-item sufficient statistics, never from a dense
items x labelers matrix, so a bootstrap replicate (items resampled with replacement) is a
weighted sum of the same per-item rows: 1,000 replicates over 100k answers take seconds.

Conventions
-----------
* Input is :class:`~labelloop.core.answers.Answers` already reduced to one answer per
  (item, labeler) by the caller's rule (:meth:`Answers.deduplicate`); abstains are ignored.
* Only items with at least two (non-abstain) answers carry information about agreement.
  Every coefficient uses exactly those items ("pairable" items); ``n_items`` in the results
  counts them, and the bootstrap resamples them.
* **Percent agreement** is the mean over pairable items of the per-item pairwise agreement
  ``P_i = sum_c n_ic (n_ic - 1) / (m_i (m_i - 1))`` (``n_ic`` answers of class ``c`` on item
  ``i``, ``m_i`` answers on it): each item weighs the same whatever its number of answers.
  It is Fleiss' ``P-bar``.
* **Fleiss' kappa** with unequal numbers of raters per item uses that same ``P-bar`` and
  pooled class proportions ``p_c = sum_i n_ic / sum_i m_i`` over pairable items:
  ``kappa = (P-bar - sum_c p_c^2) / (1 - sum_c p_c^2)``. With a constant number of raters
  this is exactly Fleiss (1971) (and ``statsmodels.stats.inter_rater.fleiss_kappa``).
* **Cohen's kappa** is computed for every pair of labelers over the items both answered;
  pairs with fewer than ``min_items`` shared items are skipped. The mean is the unweighted
  mean over pairs whose kappa is defined (Light's kappa for incomplete designs); a pair whose
  two labelers used one and the same class throughout has an undefined kappa (NaN, as in
  scikit-learn) and is left out of the mean.
* **Krippendorff's alpha** follows Krippendorff (2011): coincidences within items over
  pairable values, missing data allowed, ``nominal``, ``ordinal`` (ranks = class codes, or the
  order of ``values``) and ``interval`` (``values`` give the numbers) metrics.
* Bootstrap: ``n_boot`` replicates resample the pairable items with replacement (multinomial
  weights); the interval is the percentile interval at ``confidence``. Replicates where the
  coefficient is undefined are ignored.

Bands
-----
:func:`agreement_band` maps a chance-corrected coefficient to ``excellent`` (> 0.8),
``good`` (0.6 - 0.8), ``workable`` (0.4 - 0.6) or ``broken`` (< 0.4: the schema is broken);
NaN is ``undefined``. Percent agreement is not chance-corrected and gets no band.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from labelloop.core.answers import Answers, FloatArray, IntArray
from labelloop.errors import InvalidInput

Level = Literal["nominal", "ordinal", "interval"]
Metric = Literal["percent_agreement", "cohen_kappa_mean", "fleiss_kappa", "krippendorff_alpha"]
RandomState: TypeAlias = int | np.random.Generator | None

LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval")
METRICS: tuple[str, ...] = (
    "percent_agreement",
    "cohen_kappa_mean",
    "fleiss_kappa",
    "krippendorff_alpha",
)

_BOOT_CELLS = 4_000_000  # elements per bootstrap chunk (weights and replicate totals)

Stats: TypeAlias = "FloatArray | sp.csr_matrix"
Statistic: TypeAlias = Callable[[FloatArray], FloatArray]


def agreement_band(value: float) -> str:
    """Practical band of a chance-corrected coefficient.

    ``> 0.8`` excellent, ``0.6 - 0.8`` good, ``0.4 - 0.6`` workable, ``< 0.4`` broken
    (the schema, not the labelers, is usually at fault); NaN is ``undefined``.

    Examples
    --------
    >>> [agreement_band(v) for v in (0.9, 0.8, 0.5, 0.1, float("nan"))]
    ['excellent', 'good', 'workable', 'broken', 'undefined']
    """
    if not np.isfinite(value):
        return "undefined"
    if value > 0.8:
        return "excellent"
    if value >= 0.6:
        return "good"
    if value >= 0.4:
        return "workable"
    return "broken"


@dataclass(frozen=True)
class AgreementResult:
    """One agreement coefficient with its bootstrap percentile interval.

    Attributes
    ----------
    metric : str
        ``percent_agreement``, ``cohen_kappa_mean``, ``fleiss_kappa`` or
        ``krippendorff_alpha``.
    value, ci_low, ci_high : float
        Point estimate and percentile interval (NaN when undefined or ``n_boot == 0``).
    n_items : int
        Pairable items used (items with >= 2 answers).
    band : str or None
        :func:`agreement_band` of ``value``; ``None`` for percent agreement.
    n_boot : int
        Bootstrap replicates drawn.
    confidence : float
        Interval coverage.
    """

    metric: str
    value: float
    ci_low: float
    ci_high: float
    n_items: int
    band: str | None
    n_boot: int
    confidence: float


@dataclass(frozen=True)
class _ItemCounts:
    """Class counts of the pairable items of a set of answers."""

    items: IntArray  # (n,) item codes with >= 2 answers
    counts: FloatArray  # (n, K) answers per class
    m: FloatArray  # (n,) answers per item


def _item_counts(answers: Answers) -> _ItemCounts:
    counts = answers.label_counts()
    m = counts.sum(axis=1)
    items = np.flatnonzero(m >= 2).astype(np.int64)
    return _ItemCounts(items, counts[items], m[items])


def _rng(random_state: RandomState) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def _boot_weights(
    n_units: int, n_boot: int, rng: np.random.Generator, width: int = 1
) -> Iterator[FloatArray]:
    """Multinomial item weights, chunks of shape (c, n_units), ``n_boot`` rows in all.

    ``c`` keeps both the weights and the replicate totals (c, width) near ``_BOOT_CELLS``
    elements; it depends on the data's shape only, so a seed reproduces the replicates.
    """
    chunk = max(1, min(n_boot, _BOOT_CELLS // max(n_units, width, 1)))
    done = 0
    while done < n_boot:
        c = min(chunk, n_boot - done)
        draws = rng.integers(0, n_units, size=(c, n_units))
        flat = (draws + (np.arange(c, dtype=np.int64) * n_units)[:, None]).ravel()
        yield np.bincount(flat, minlength=c * n_units).reshape(c, n_units).astype(np.float64)
        done += c


def _totals(stats: Stats, weights: FloatArray) -> FloatArray:
    """Weighted column sums: ``weights @ stats``, shape (c, p)."""
    if sp.issparse(stats):
        out = stats.T @ weights.T  # sparse (p, n) @ dense (n, c)
        return np.asarray(out, dtype=np.float64).T
    return np.asarray(weights @ stats, dtype=np.float64)


def _bootstrap(
    stats: Stats,
    statistic: Statistic,
    *,
    n_boot: int,
    random_state: RandomState,
) -> tuple[FloatArray, FloatArray]:
    """Point value and replicates of ``statistic`` over per-unit rows ``stats``.

    ``stats`` has shape (n_units, p); ``statistic`` maps totals (r, p) to (r, ...).
    Returns the value (shape (...)) and replicates (n_boot, ...).
    """
    n_units = int(stats.shape[0])
    ones = np.ones((1, n_units), dtype=np.float64)
    value = statistic(_totals(stats, ones))[0]
    if n_boot <= 0 or n_units == 0:
        return value, np.empty((0, *np.shape(value)), dtype=np.float64)
    rng = _rng(random_state)
    width = int(stats.shape[1])
    reps = [statistic(_totals(stats, w)) for w in _boot_weights(n_units, n_boot, rng, width)]
    return value, np.concatenate(reps, axis=0)


def _interval(reps: FloatArray, confidence: float) -> tuple[FloatArray, FloatArray]:
    """Percentile interval along axis 0, ignoring NaN replicates."""
    shape = reps.shape[1:]
    if reps.shape[0] == 0:
        nan = np.full(shape, np.nan)
        return nan, nan.copy()
    tail = (1.0 - confidence) / 2.0 * 100.0
    finite = np.isfinite(reps)
    low = np.full(shape, np.nan)
    high = np.full(shape, np.nan)
    ok = finite.any(axis=0)
    if np.any(ok):
        cols = reps[:, ok] if shape else reps[finite]
        if shape:
            lo, hi = np.nanpercentile(cols, [tail, 100.0 - tail], axis=0)
            low[ok], high[ok] = lo, hi
        else:
            lo, hi = np.percentile(cols, [tail, 100.0 - tail])
            low, high = np.asarray(lo), np.asarray(hi)
    return low, high


def _result(
    metric: str,
    stats: Stats,
    statistic: Statistic,
    *,
    n_boot: int,
    confidence: float,
    random_state: RandomState,
    banded: bool = True,
) -> AgreementResult:
    _check_confidence(confidence)
    n_units = int(stats.shape[0])
    if n_units == 0:
        value, reps = np.asarray(np.nan), np.empty(0)
    else:
        value, reps = _bootstrap(stats, statistic, n_boot=n_boot, random_state=random_state)
    low, high = _interval(reps, confidence)
    v = float(value)
    return AgreementResult(
        metric=metric,
        value=v,
        ci_low=float(low),
        ci_high=float(high),
        n_items=n_units,
        band=agreement_band(v) if banded else None,
        n_boot=max(int(n_boot), 0) if n_units else 0,
        confidence=confidence,
    )


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise InvalidInput(f"confidence must lie in (0, 1), got {confidence}")


def _divide(num: FloatArray, den: FloatArray) -> FloatArray:
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


# --------------------------------------------------------------------------------------
# percent agreement and Fleiss' kappa


def _per_item_agreement(ic: _ItemCounts) -> FloatArray:
    same = (ic.counts * (ic.counts - 1.0)).sum(axis=1)
    return np.asarray(same / (ic.m * (ic.m - 1.0)), dtype=np.float64)


def percent_agreement(
    answers: Answers,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: RandomState = None,
) -> AgreementResult:
    """Mean pairwise agreement per item, averaged over items with >= 2 answers.

    Parameters
    ----------
    answers : Answers
        One answer per (item, labeler); abstains are ignored.
    n_boot : int
        Bootstrap replicates over items (0 for no interval).
    confidence : float
        Coverage of the percentile interval.
    random_state : int, Generator or None
        Seed of the bootstrap.

    Returns
    -------
    AgreementResult
        ``band`` is ``None``: raw agreement is not chance-corrected.

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 0, 1, 1], [0, 1, 2, 0, 1], [0, 0, 1, 1, 1])
    >>> round(percent_agreement(a, n_boot=0).value, 4)  # (1/3 + 1) / 2
    0.6667
    """
    ic = _item_counts(answers)
    stats = np.column_stack([_per_item_agreement(ic), np.ones(len(ic.m))])

    def statistic(t: FloatArray) -> FloatArray:
        return _divide(t[:, 0], t[:, 1])

    return _result(
        "percent_agreement",
        stats,
        statistic,
        n_boot=n_boot,
        confidence=confidence,
        random_state=random_state,
        banded=False,
    )


def fleiss_kappa(
    answers: Answers,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: RandomState = None,
) -> AgreementResult:
    """Fleiss' kappa, generalized to unequal numbers of answers per item.

    ``P-bar`` is the mean per-item pairwise agreement over items with >= 2 answers (each item
    weighs the same); chance agreement uses the pooled class proportions of the answers on
    those items. Equals Fleiss (1971) when every item has the same number of answers.

    Parameters
    ----------
    answers : Answers
        One answer per (item, labeler); abstains are ignored.
    n_boot, confidence, random_state
        Bootstrap over items, as in :func:`percent_agreement`.

    Returns
    -------
    AgreementResult

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1], [0, 0, 1, 1, 0, 1])
    >>> round(fleiss_kappa(a, n_boot=0).value, 4)
    0.3333
    """
    ic = _item_counts(answers)
    k = answers.n_classes
    stats = np.column_stack([_per_item_agreement(ic), np.ones(len(ic.m)), ic.counts, ic.m]).astype(
        np.float64
    )

    def statistic(t: FloatArray) -> FloatArray:
        p_bar = _divide(t[:, 0], t[:, 1])
        p = t[:, 2 : 2 + k] / np.where(t[:, 2 + k] > 0, t[:, 2 + k], np.nan)[:, None]
        p_e = (p * p).sum(axis=1)
        return _divide(p_bar - p_e, 1.0 - p_e)

    return _result(
        "fleiss_kappa",
        stats,
        statistic,
        n_boot=n_boot,
        confidence=confidence,
        random_state=random_state,
    )


# --------------------------------------------------------------------------------------
# Krippendorff's alpha


def _class_values(answers: Answers, values: npt.ArrayLike | None) -> FloatArray:
    k = answers.n_classes
    if values is None:
        return np.arange(k, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (k,):
        raise InvalidInput(f"values must have shape ({k},) (one per class), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise InvalidInput("values must be finite numbers")
    return v


def _merge_equal_values(answers: Answers, v: FloatArray) -> tuple[Answers, FloatArray]:
    """Relabel classes so that equal values share one code, codes ordered by value."""
    distinct, inverse = np.unique(v, return_inverse=True)
    if distinct.shape[0] == v.shape[0] and np.all(np.diff(v) > 0):
        return answers, v
    a = answers.without_abstains()
    relabeled = Answers(
        a.item, a.labeler, inverse[a.label], a.n_items, a.n_labelers, int(distinct.shape[0])
    )
    return relabeled, distinct.astype(np.float64)


def _ordinal_distances(n: FloatArray) -> FloatArray:
    """Squared ordinal distances from marginals ``n`` (r, K), shape (r, K, K)."""
    cs = np.cumsum(n, axis=1)
    # between[c, k] = sum_{g=min..max} n_g
    hi = np.maximum.outer(np.arange(n.shape[1]), np.arange(n.shape[1]))
    lo = np.minimum.outer(np.arange(n.shape[1]), np.arange(n.shape[1]))
    between = cs[:, hi] - cs[:, lo] + n[:, lo]
    half = (n[:, :, None] + n[:, None, :]) / 2.0
    return np.asarray((between - half) ** 2, dtype=np.float64)


def _item_coincidences(ic: _ItemCounts) -> sp.csr_matrix:
    """Per-item coincidence entries, sparse (n_items, K*K)."""
    n_units, k = ic.counts.shape
    rows, cls = np.nonzero(ic.counts)
    cnt = ic.counts[rows, cls]
    inv = 1.0 / (ic.m[rows] - 1.0)
    left, right = pairs_within_groups(rows)
    # ordered pairs c != k (both orders) plus the diagonal
    r_all = np.concatenate([rows[left], rows[left], rows])
    c_all = np.concatenate([cls[left] * k + cls[right], cls[right] * k + cls[left], cls * k + cls])
    off = cnt[left] * cnt[right] * inv[left]
    v_all = np.concatenate([off, off, cnt * (cnt - 1.0) * inv])
    mat = sp.csr_matrix((v_all, (r_all, c_all)), shape=(n_units, k * k))
    mat.sum_duplicates()
    return mat


def coincidence_matrix(answers: Answers) -> FloatArray:
    """Krippendorff's coincidence matrix over pairable values, shape (K, K).

    ``o[c, k] = sum_u n_uc (n_uk - [c == k]) / (m_u - 1)`` over items ``u`` with ``m_u >= 2``
    answers; row sums are the pairable value counts ``n_c``.

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 0], [0, 1, 2], [0, 0, 1])
    >>> coincidence_matrix(a).tolist()
    [[1.0, 1.0], [1.0, 0.0]]
    """
    ic = _item_counts(answers)
    k = answers.n_classes
    w = 1.0 / (ic.m - 1.0)
    o = (ic.counts * w[:, None]).T @ ic.counts
    o -= np.diag((ic.counts * w[:, None]).sum(axis=0))
    return np.asarray(o, dtype=np.float64).reshape(k, k)


def krippendorff_alpha(
    answers: Answers,
    *,
    level: Level = "nominal",
    values: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: RandomState = None,
) -> AgreementResult:
    """Krippendorff's alpha with missing data (any number of answers per item).

    ``alpha = 1 - (n - 1) * sum(o * d) / sum(n_c n_k d)`` with the coincidence matrix ``o``
    of :func:`coincidence_matrix`, pairable value counts ``n_c`` (``n`` in all) and the
    squared distance ``d`` of the level of measurement.

    Parameters
    ----------
    answers : Answers
        One answer per (item, labeler); abstains are ignored.
    level : {"nominal", "ordinal", "interval"}
        Metric. ``ordinal`` ranks classes by code (or by ``values``); ``interval`` uses
        ``values`` (default: the codes).
    values : array of float, shape (n_classes,), optional
        Number of each class; classes with equal values are one value (e.g. ``"-0"`` and
        ``"0"``). Ignored for ``nominal``.
    n_boot, confidence, random_state
        Bootstrap over items, as in :func:`percent_agreement`.

    Returns
    -------
    AgreementResult
        NaN value when fewer than two distinct values are pairable.

    Examples
    --------
    Krippendorff's (2011) example with missing data, 4 coders x 12 units, nominal:

    >>> import numpy as np
    >>> data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, 0, 0, 0],
    ...         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, 0, 3],
    ...         [0, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 0],
    ...         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, 0]]
    >>> coder, unit = np.nonzero(np.asarray(data))
    >>> a = Answers.from_codes(unit, coder, np.asarray(data)[coder, unit] - 1)
    >>> round(krippendorff_alpha(a, n_boot=0).value, 3)
    0.743
    >>> round(krippendorff_alpha(a, level="interval", n_boot=0).value, 3)
    0.849
    """
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {list(LEVELS)}, got {level!r}")
    if level != "nominal":
        answers, v = _merge_equal_values(answers, _class_values(answers, values))
    ic = _item_counts(answers)
    k = answers.n_classes
    inv = 1.0 / (ic.m - 1.0) if len(ic.m) else np.zeros(0)
    stats: Stats
    statistic: Statistic
    if level == "nominal":
        sq = (ic.counts * ic.counts).sum(axis=1)
        obs = (ic.m * ic.m - sq) * inv
        stats = np.column_stack([obs, ic.counts]).astype(np.float64)

        def statistic(t: FloatArray) -> FloatArray:
            n = t[:, 1:].sum(axis=1)
            expected = n * n - (t[:, 1:] ** 2).sum(axis=1)
            return 1.0 - _divide((n - 1.0) * t[:, 0], expected)

    elif level == "interval":
        s1 = ic.counts @ v
        s2 = ic.counts @ (v * v)
        obs = 2.0 * (ic.m * s2 - s1 * s1) * inv
        stats = np.column_stack([obs, ic.m, s1, s2]).astype(np.float64)

        def statistic(t: FloatArray) -> FloatArray:
            n = t[:, 1]
            expected = 2.0 * (n * t[:, 3] - t[:, 2] ** 2)
            return 1.0 - _divide((n - 1.0) * t[:, 0], expected)

    else:
        stats = _item_coincidences(ic)

        def statistic(t: FloatArray) -> FloatArray:
            o = t.reshape(-1, k, k)
            n_c = o.sum(axis=2)
            d = _ordinal_distances(n_c)
            n = n_c.sum(axis=1)
            observed = (o * d).sum(axis=(1, 2))
            expected = np.einsum("rc,rk,rck->r", n_c, n_c, d)
            return 1.0 - _divide((n - 1.0) * observed, expected)

    return _result(
        "krippendorff_alpha",
        stats,
        statistic,
        n_boot=n_boot,
        confidence=confidence,
        random_state=random_state,
    )


# --------------------------------------------------------------------------------------
# Cohen's kappa per labeler pair


def pairs_within_groups(groups: IntArray) -> tuple[IntArray, IntArray]:
    """All index pairs ``p < q`` with ``groups[p] == groups[q]`` for sorted ``groups``.

    Parameters
    ----------
    groups : array of int, shape (n,)
        Group ids, non-decreasing.

    Returns
    -------
    left, right : array of int, shape (n_pairs,)
        Positions into ``groups``; ``n_pairs = sum_g size_g (size_g - 1) / 2``.

    Examples
    --------
    >>> import numpy as np
    >>> left, right = pairs_within_groups(np.array([0, 0, 0, 2, 2]))
    >>> list(zip(left.tolist(), right.tolist()))
    [(0, 1), (0, 2), (1, 2), (3, 4)]
    """
    g = np.asarray(groups, dtype=np.int64)
    n = g.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], n]
    end_of = np.repeat(ends, ends - starts)
    count = end_of - np.arange(n) - 1
    left = np.repeat(np.arange(n, dtype=np.int64), count)
    offset = np.cumsum(count) - count
    right = left + 1 + (np.arange(left.shape[0], dtype=np.int64) - np.repeat(offset, count))
    return left, right


@dataclass(frozen=True)
class _PairRows:
    """Co-annotations: one row per (item, labeler pair a < b)."""

    item: IntArray
    pair: IntArray  # index into labeler_a / labeler_b
    label_a: IntArray
    label_b: IntArray
    labeler_a: IntArray  # (n_pairs,)
    labeler_b: IntArray
    n_items: IntArray  # (n_pairs,) shared items


def _pair_rows(answers: Answers, min_items: int) -> _PairRows:
    a = answers.without_abstains()
    order = np.lexsort((a.labeler, a.item))
    item, lab, y = a.item[order], a.labeler[order], a.label[order]
    left, right = pairs_within_groups(item)
    la, lb = lab[left], lab[right]
    keep = la != lb  # repeated answers by one labeler are not a pair
    left, right = left[keep], right[keep]
    key = lab[left] * max(a.n_labelers, 1) + lab[right]
    uniq, pair, n_shared = np.unique(key, return_inverse=True, return_counts=True)
    eligible = n_shared >= max(min_items, 1)
    remap = np.cumsum(eligible) - 1
    rows = eligible[pair]
    l_sel, r_sel = left[rows], right[rows]
    uniq = uniq[eligible]
    return _PairRows(
        item=item[l_sel],
        pair=remap[pair[rows]].astype(np.int64),
        label_a=y[l_sel],
        label_b=y[r_sel],
        labeler_a=(uniq // max(a.n_labelers, 1)).astype(np.int64),
        labeler_b=(uniq % max(a.n_labelers, 1)).astype(np.int64),
        n_items=n_shared[eligible].astype(np.int64),
    )


def _pair_stats(rows: _PairRows, n_classes: int) -> tuple[sp.csr_matrix, IntArray]:
    """Per-item pair statistics, sparse (n_units, n_pairs * (2 + 2K)), and unit item codes."""
    k = n_classes
    width = 2 + 2 * k
    units, unit = np.unique(rows.item, return_inverse=True)
    base = rows.pair * width
    r = np.concatenate([unit, unit, unit, unit])
    c = np.concatenate([base, base + 1, base + 2 + rows.label_a, base + 2 + k + rows.label_b])
    v = np.concatenate(
        [
            np.ones(unit.shape[0]),
            (rows.label_a == rows.label_b).astype(np.float64),
            np.ones(unit.shape[0]),
            np.ones(unit.shape[0]),
        ]
    )
    n_pairs = rows.labeler_a.shape[0]
    mat = sp.csr_matrix((v, (r, c)), shape=(units.shape[0], n_pairs * width))
    mat.sum_duplicates()
    mat.eliminate_zeros()
    return mat, units.astype(np.int64)


def _pair_kappas(t: FloatArray, n_pairs: int, k: int) -> tuple[FloatArray, FloatArray]:
    """Kappa and observed agreement per pair from totals (r, n_pairs*(2+2K))."""
    cube = t.reshape(t.shape[0], n_pairs, 2 + 2 * k)
    n = cube[:, :, 0]
    agree = cube[:, :, 1]
    chance = (cube[:, :, 2 : 2 + k] * cube[:, :, 2 + k :]).sum(axis=2)
    kappa = _divide(agree * n - chance, n * n - chance)
    return kappa, _divide(agree, n)


@dataclass(frozen=True)
class PairAgreement:
    """Cohen's kappa per labeler pair over the items both answered.

    Attributes
    ----------
    labeler_a, labeler_b : array of int, shape (n_pairs,)
        Labeler codes, ``labeler_a < labeler_b``.
    n_items : array of int, shape (n_pairs,)
        Items both answered (>= ``min_items``).
    agreement : array of float, shape (n_pairs,)
        Share of those items where they gave the same label.
    kappa, ci_low, ci_high : array of float, shape (n_pairs,)
        Cohen's kappa (NaN when undefined) and its bootstrap interval (NaN without bootstrap).
    """

    labeler_a: IntArray
    labeler_b: IntArray
    n_items: IntArray
    agreement: FloatArray
    kappa: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray

    def __len__(self) -> int:
        return int(self.labeler_a.shape[0])


def cohen_kappa(answers: Answers, labeler_a: int, labeler_b: int) -> float:
    """Cohen's kappa of two labelers over the items both answered (NaN when undefined).

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 1, 1, 2, 2, 3, 3], [0, 1] * 4, [0, 0, 1, 1, 0, 1, 1, 1])
    >>> cohen_kappa(a, 0, 1)
    0.5
    """
    a = answers.without_abstains()
    keep = (a.labeler == labeler_a) | (a.labeler == labeler_b)
    sub = Answers(
        a.item[keep], a.labeler[keep], a.label[keep], a.n_items, a.n_labelers, a.n_classes
    )
    rows = _pair_rows(sub, 1)
    if len(rows.labeler_a) == 0:
        return float("nan")
    stats, _ = _pair_stats(rows, a.n_classes)
    kappa, _ = _pair_kappas(np.asarray(stats.sum(axis=0)), 1, a.n_classes)
    return float(kappa[0, 0])


def cohen_kappa_pairs(
    answers: Answers,
    *,
    min_items: int = 20,
    n_boot: int = 0,
    confidence: float = 0.95,
    random_state: RandomState = None,
) -> PairAgreement:
    """Cohen's kappa for every labeler pair with at least ``min_items`` shared items.

    Pairs come from a self-join of the answers on item (sorting, no dense matrix); the
    number of co-annotation rows is ``sum_i m_i (m_i - 1) / 2``.

    Parameters
    ----------
    answers : Answers
        One answer per (item, labeler); abstains are ignored.
    min_items : int
        Minimum number of shared items for a pair to be reported.
    n_boot, confidence, random_state
        Bootstrap over shared items (0: no interval).

    Returns
    -------
    PairAgreement
        Pairs sorted by ``(labeler_a, labeler_b)``.

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 1, 1, 2, 2, 3, 3], [0, 1] * 4, [0, 0, 1, 1, 0, 1, 1, 1])
    >>> table = cohen_kappa_pairs(a, min_items=2)
    >>> table.kappa.tolist(), table.n_items.tolist()
    ([0.5], [4])
    """
    _check_confidence(confidence)
    k = answers.n_classes
    rows = _pair_rows(answers, min_items)
    n_pairs = len(rows.labeler_a)
    if n_pairs == 0:
        e = np.zeros(0)
        return PairAgreement(rows.labeler_a, rows.labeler_b, rows.n_items, e, e, e, e)
    stats, _ = _pair_stats(rows, k)

    def statistic(t: FloatArray) -> FloatArray:
        return _pair_kappas(t, n_pairs, k)[0]

    kappa, reps = _bootstrap(stats, statistic, n_boot=n_boot, random_state=random_state)
    _, agreement = _pair_kappas(np.asarray(stats.sum(axis=0)), n_pairs, k)
    low, high = _interval(reps, confidence)
    return PairAgreement(
        rows.labeler_a, rows.labeler_b, rows.n_items, agreement[0], kappa, low, high
    )


def cohen_kappa_mean(
    answers: Answers,
    *,
    min_items: int = 20,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: RandomState = None,
) -> AgreementResult:
    """Unweighted mean of Cohen's kappa over labeler pairs (see :func:`cohen_kappa_pairs`).

    Pairs with an undefined kappa are left out. In a bootstrap replicate the set of pairs is
    the one of the sample (pairs with ``>= min_items`` shared items); a pair none of whose
    shared items was drawn is left out of that replicate. ``n_items`` counts the items
    shared by at least one reported pair.

    Cohen's kappa of a pair is biased low on few shared items (by about ``1/n``); averaged
    over thousands of pairs that bias does not shrink while the spread does, so with small
    ``min_items`` the percentile interval can sit below the estimate. The default of 20
    shared items keeps the bias within the interval on the shared crowd sets.

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 1, 1, 2, 2, 3, 3], [0, 1] * 4, [0, 0, 1, 1, 0, 1, 1, 1])
    >>> cohen_kappa_mean(a, min_items=2, n_boot=0).value
    0.5
    """
    k = answers.n_classes
    rows = _pair_rows(answers, min_items)
    n_pairs = len(rows.labeler_a)
    stats, _ = _pair_stats(rows, k)

    def statistic(t: FloatArray) -> FloatArray:
        kappa = _pair_kappas(t, n_pairs, k)[0]
        defined = np.isfinite(kappa)
        total = np.where(defined, kappa, 0.0).sum(axis=1)
        return _divide(total, defined.sum(axis=1).astype(np.float64))

    return _result(
        "cohen_kappa_mean",
        stats,
        statistic,
        n_boot=n_boot,
        confidence=confidence,
        random_state=random_state,
    )


# --------------------------------------------------------------------------------------
# per label and per time window


@dataclass(frozen=True)
class LabelAgreement:
    """One-vs-rest nominal Krippendorff's alpha per class.

    Attributes
    ----------
    alpha, ci_low, ci_high : array of float, shape (n_classes,)
        Alpha of "class c vs any other class" and its bootstrap interval.
    n_values : array of float, shape (n_classes,)
        Pairable answers of the class.
    bands : tuple of str, shape (n_classes,)
        :func:`agreement_band` of each alpha.
    """

    alpha: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    n_values: FloatArray
    bands: tuple[str, ...]


def agreement_per_label(
    answers: Answers,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: RandomState = None,
) -> LabelAgreement:
    """One-vs-rest nominal alpha for each class, from the coincidence matrix.

    With ``o_cc`` the diagonal coincidence, ``n_c`` the pairable count of class ``c`` and
    ``n`` all pairable values: ``alpha_c = 1 - (n - 1) (n_c - o_cc) / (n_c (n - n_c))``, the
    nominal alpha of the data recoded to ``c`` / not ``c``. A low value marks a class the
    labelers do not apply consistently.

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 1, 1, 2, 2], [0, 1] * 3, [0, 0, 1, 1, 1, 2])
    >>> agreement_per_label(a, n_boot=0).alpha.round(3).tolist()
    [1.0, 0.444, 0.0]
    """
    _check_confidence(confidence)
    ic = _item_counts(answers)
    k = answers.n_classes
    inv = 1.0 / (ic.m - 1.0) if len(ic.m) else np.zeros(0)
    diag = ic.counts * (ic.counts - 1.0) * inv[:, None]
    stats = np.column_stack([diag, ic.counts]).astype(np.float64)

    def statistic(t: FloatArray) -> FloatArray:
        o_cc, n_c = t[:, :k], t[:, k:]
        n = n_c.sum(axis=1, keepdims=True)
        return 1.0 - _divide((n - 1.0) * (n_c - o_cc), n_c * (n - n_c))

    if len(ic.m) == 0:
        nan = np.full(k, np.nan)
        return LabelAgreement(nan, nan, nan, np.zeros(k), tuple("undefined" for _ in range(k)))
    value, reps = _bootstrap(stats, statistic, n_boot=n_boot, random_state=random_state)
    low, high = _interval(reps, confidence)
    return LabelAgreement(
        alpha=value,
        ci_low=low,
        ci_high=high,
        n_values=ic.counts.sum(axis=0),
        bands=tuple(agreement_band(float(x)) for x in value),
    )


@dataclass(frozen=True)
class WindowAgreement:
    """Agreement per time window.

    Attributes
    ----------
    edges : array of float, shape (n_windows + 1,)
        Window ``w`` holds answers with ``edges[w] <= t < edges[w + 1]`` (the last window
        also holds ``t == edges[-1]``).
    n_answers : array of int, shape (n_windows,)
        Answers in each window.
    results : tuple of AgreementResult, shape (n_windows,)
        The metric on each window's answers alone (NaN where no item has two answers in it).
    """

    edges: FloatArray
    n_answers: IntArray
    results: tuple[AgreementResult, ...]


def compute_metric(
    answers: Answers,
    metric: Metric,
    *,
    level: Level = "nominal",
    values: npt.ArrayLike | None = None,
    min_items: int = 20,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: RandomState = None,
) -> AgreementResult:
    """Compute one of :data:`METRICS` by name (``level``/``values`` for alpha only).

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 1, 0])
    >>> compute_metric(a, "percent_agreement", n_boot=0).value
    0.5
    """
    if metric == "percent_agreement":
        return percent_agreement(
            answers, n_boot=n_boot, confidence=confidence, random_state=random_state
        )
    if metric == "fleiss_kappa":
        return fleiss_kappa(
            answers, n_boot=n_boot, confidence=confidence, random_state=random_state
        )
    if metric == "cohen_kappa_mean":
        return cohen_kappa_mean(
            answers,
            min_items=min_items,
            n_boot=n_boot,
            confidence=confidence,
            random_state=random_state,
        )
    if metric == "krippendorff_alpha":
        return krippendorff_alpha(
            answers,
            level=level,
            values=values,
            n_boot=n_boot,
            confidence=confidence,
            random_state=random_state,
        )
    raise InvalidInput(f"metric must be one of {list(METRICS)}, got {metric!r}")


def agreement_by_window(
    answers: Answers,
    timestamps: npt.ArrayLike,
    *,
    width: float | None = None,
    edges: npt.ArrayLike | None = None,
    metric: Metric = "krippendorff_alpha",
    level: Level = "nominal",
    values: npt.ArrayLike | None = None,
    min_items: int = 20,
    n_boot: int = 0,
    confidence: float = 0.95,
    random_state: RandomState = None,
) -> WindowAgreement:
    """Agreement of the answers given in each time window.

    Each answer falls in the window of its own timestamp; an item answered across two
    windows contributes to each window only the answers given in it, so a drifting
    guideline or a new labeler cohort shows up as a change between windows.

    Parameters
    ----------
    answers : Answers
        One answer per (item, labeler).
    timestamps : array of float, shape (n_answers,)
        Time of each answer (any unit, e.g. seconds since epoch).
    width : float, optional
        Window size; windows start at the first timestamp. Give ``width`` or ``edges``.
    edges : array of float, shape (n_windows + 1,), optional
        Increasing window edges; answers outside ``[edges[0], edges[-1]]`` are ignored.
    metric : str
        One of :data:`METRICS`.
    level, values, min_items, n_boot, confidence, random_state
        As in :func:`compute_metric`.

    Returns
    -------
    WindowAgreement

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 1, 0])
    >>> by = agreement_by_window(a, [0, 1, 10, 11], width=5, metric="percent_agreement")
    >>> by.edges.tolist(), [r.value for r in by.results]
    ([0.0, 5.0, 10.0, 15.0], [1.0, nan, 0.0])
    """
    t = np.asarray(timestamps, dtype=np.float64)
    if t.shape != (len(answers),):
        raise InvalidInput(f"timestamps must have shape ({len(answers)},), got {t.shape}")
    if not np.all(np.isfinite(t)):
        raise InvalidInput("timestamps must be finite")
    if (width is None) == (edges is None):
        raise InvalidInput("give exactly one of width or edges")
    if edges is not None:
        e = np.asarray(edges, dtype=np.float64)
        if e.ndim != 1 or e.shape[0] < 2 or np.any(np.diff(e) <= 0):
            raise InvalidInput("edges must be increasing, with at least two of them")
    elif width is not None:
        if not width > 0:
            raise InvalidInput(f"width must be > 0, got {width}")
        start = float(t.min()) if t.size else 0.0
        stop = float(t.max()) if t.size else 0.0
        n_win = max(1, int(np.floor((stop - start) / width)) + 1)
        e = start + width * np.arange(n_win + 1, dtype=np.float64)
    window = np.searchsorted(e, t, side="right") - 1
    window[t == e[-1]] = e.shape[0] - 2
    rng = _rng(random_state)
    results: list[AgreementResult] = []
    counts: list[int] = []
    for w in range(e.shape[0] - 1):
        mask = window == w
        sub = Answers(
            answers.item[mask],
            answers.labeler[mask],
            answers.label[mask],
            answers.n_items,
            answers.n_labelers,
            answers.n_classes,
        )
        counts.append(int(mask.sum()))
        results.append(
            compute_metric(
                sub,
                metric,
                level=level,
                values=values,
                min_items=min_items,
                n_boot=n_boot,
                confidence=confidence,
                random_state=rng,
            )
        )
    return WindowAgreement(e, np.asarray(counts, dtype=np.int64), tuple(results))


__all__ = [
    "LEVELS",
    "METRICS",
    "AgreementResult",
    "LabelAgreement",
    "PairAgreement",
    "WindowAgreement",
    "agreement_band",
    "agreement_by_window",
    "agreement_per_label",
    "cohen_kappa",
    "cohen_kappa_mean",
    "cohen_kappa_pairs",
    "coincidence_matrix",
    "compute_metric",
    "fleiss_kappa",
    "krippendorff_alpha",
    "pairs_within_groups",
    "percent_agreement",
]
