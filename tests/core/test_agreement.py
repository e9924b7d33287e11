"""Agreement coefficients: hand-computed cases, reference packages on every shared crowd set,
bootstrap behaviour, per label / per pair / per window views."""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelloop.core import agreement as ag
from labelloop.core.answers import Answers
from labelloop.formats.answers import AnswerTable, read_answers
from tests import realdata

CATEGORICAL = [
    "adult",
    "dog",
    "duck",
    "face",
    "hitspam_cf",
    "music_genre",
    "possent",
    "product",
    "relevance",
    "rte",
    "sentpol_cf",
    "temp",
    "weather_amt",
    "web",
]
TOL = 1e-6


@cache
def load(name: str) -> tuple[AnswerTable, Answers]:
    """A shared set with (worker, task) duplicates dropped, first kept (as the data README).

    The small sets are committed under tests/data/crowd_small; adult, hitspam_cf, possent,
    product, relevance, sentpol_cf and web come from the full data (``LABELLOOP_SHARED_DATA``).
    """
    table = read_answers(realdata.crowd(name) / "answers.csv")
    return table, table.answers.deduplicate(keep="first")


@cache
def reliability(name: str) -> np.ndarray:
    """Dense labelers x items matrix (NaN = missing), for the reference packages only."""
    _, a = load(name)
    rel = np.full((a.n_labelers, a.n_items), np.nan)
    rel[a.labeler, a.item] = a.label
    return rel


def from_count_table(table: list[list[int]]) -> Answers:
    """Answers from an items x classes count table (labelers numbered per item)."""
    items, labelers, labels = [], [], []
    for i, row in enumerate(table):
        w = 0
        for c, n in enumerate(row):
            for _ in range(n):
                items.append(i)
                labelers.append(w)
                labels.append(c)
                w += 1
    return Answers.from_codes(items, labelers, labels, n_classes=len(table[0]))


def from_reliability(data: list[list[float]]) -> Answers:
    """Answers from a coders x units matrix with NaN for missing (codes = value - min)."""
    arr = np.asarray(data, dtype=float)
    coder, unit = np.nonzero(~np.isnan(arr))
    values = arr[coder, unit].astype(np.int64)
    return Answers.from_codes(unit, coder, values - 1, n_items=arr.shape[1])


# ---------------------------------------------------------------------------------------
# hand-computed cases

FLEISS_1971 = [  # Wikipedia's Fleiss' kappa worked example: 10 subjects, 14 raters, 5 classes
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

NAN = float("nan")
KRIPPENDORFF_2011 = [  # "Computing Krippendorff's alpha-reliability", example C (missing data)
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


def test_fleiss_textbook_example() -> None:
    a = from_count_table(FLEISS_1971)
    res = ag.fleiss_kappa(a, n_boot=0)
    assert res.value == pytest.approx(0.2099, abs=5e-5)
    assert res.n_items == 10
    assert res.band == "broken"
    # P-bar of the same example
    assert ag.percent_agreement(a, n_boot=0).value == pytest.approx(0.3780, abs=5e-5)


def test_krippendorff_worked_example_with_missing_data() -> None:
    a = from_reliability(KRIPPENDORFF_2011)
    assert ag.krippendorff_alpha(a, n_boot=0).value == pytest.approx(0.743, abs=5e-4)
    assert ag.krippendorff_alpha(a, level="ordinal", n_boot=0).value == pytest.approx(
        0.815, abs=5e-4
    )
    assert ag.krippendorff_alpha(a, level="interval", n_boot=0).value == pytest.approx(
        0.849, abs=5e-4
    )
    # unit 11 (one value) is not pairable
    assert ag.krippendorff_alpha(a, n_boot=0).n_items == 11


def test_krippendorff_example_coincidences() -> None:
    # Krippendorff (2011), example C: coincidence matrix row sums n_c = 9, 13, 10, 5, 3.
    o = ag.coincidence_matrix(from_reliability(KRIPPENDORFF_2011))
    assert o.sum(axis=1) == pytest.approx([9, 13, 10, 5, 3])
    assert o[0, 0] == pytest.approx(7.0)
    assert o == pytest.approx(o.T)


def test_cohen_textbook_example() -> None:
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o 0.7, p_e 0.5, kappa 0.4
    pairs = [(1, 1)] * 20 + [(1, 0)] * 5 + [(0, 1)] * 10 + [(0, 0)] * 15
    items = np.repeat(np.arange(50), 2)
    labelers = np.tile([0, 1], 50)
    labels = np.asarray(pairs).ravel()
    a = Answers.from_codes(items, labelers, labels)
    assert ag.cohen_kappa(a, 0, 1) == pytest.approx(0.4)
    table = ag.cohen_kappa_pairs(a, min_items=50)
    assert table.kappa.tolist() == pytest.approx([0.4])
    assert table.agreement.tolist() == pytest.approx([0.7])
    assert ag.cohen_kappa_mean(a, n_boot=0).value == pytest.approx(0.4)
    assert len(ag.cohen_kappa_pairs(a, min_items=51)) == 0


def test_percent_agreement_weighs_items_equally() -> None:
    # item 0: 3 answers 0,0,1 -> 1/3 of pairs agree; item 1: 2 answers agree -> 1
    a = Answers.from_codes([0, 0, 0, 1, 1, 2], [0, 1, 2, 0, 1, 0], [0, 0, 1, 1, 1, 0])
    res = ag.percent_agreement(a, n_boot=0)
    assert res.value == pytest.approx((1 / 3 + 1) / 2)
    assert res.n_items == 2  # item 2 has one answer
    assert res.band is None


def test_perfect_and_undefined_agreement() -> None:
    perfect = Answers.from_codes([0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 1, 1])
    for metric in ag.METRICS:
        assert ag.compute_metric(perfect, metric, min_items=1, n_boot=0).value == pytest.approx(1)
    one_class = Answers.from_codes([0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 0, 0], n_classes=2)
    res = ag.krippendorff_alpha(one_class, n_boot=0)
    assert np.isnan(res.value) and res.band == "undefined"
    assert np.isnan(ag.fleiss_kappa(one_class, n_boot=0).value)
    assert np.isnan(ag.cohen_kappa(one_class, 0, 1))  # as scikit-learn: NaN
    assert ag.percent_agreement(one_class, n_boot=0).value == 1.0


def test_no_pairable_item_gives_nan_not_error() -> None:
    a = Answers.from_codes([0, 1], [0, 1], [0, 1])
    for metric in ag.METRICS:
        res = ag.compute_metric(a, metric, n_boot=10, random_state=0)
        assert np.isnan(res.value) and res.n_items == 0 and np.isnan(res.ci_low)


def test_abstains_are_ignored() -> None:
    a = Answers.from_codes([0, 0, 0, 1, 1], [0, 1, 2, 0, 1], [0, 0, -1, 1, 1], n_classes=2)
    b = a.without_abstains()
    for metric in ag.METRICS:
        x = ag.compute_metric(a, metric, min_items=1, n_boot=0).value
        assert x == ag.compute_metric(b, metric, min_items=1, n_boot=0).value


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0.95, "excellent"),
        (0.81, "excellent"),
        (0.8, "good"),
        (0.6, "good"),
        (0.59, "workable"),
        (0.4, "workable"),
        (0.39, "broken"),
        (-0.2, "broken"),
        (NAN, "undefined"),
    ],
)
def test_bands(value: float, band: str) -> None:
    assert ag.agreement_band(value) == band


def test_invalid_arguments() -> None:
    a = Answers.from_codes([0, 0], [0, 1], [0, 1])
    with pytest.raises(ValueError, match="level must be one of"):
        ag.krippendorff_alpha(a, level="ratio")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="values must have shape"):
        ag.krippendorff_alpha(a, level="interval", values=[1.0])
    with pytest.raises(ValueError, match="confidence"):
        ag.fleiss_kappa(a, confidence=1.5)
    with pytest.raises(ValueError, match="metric must be one of"):
        ag.compute_metric(a, "accuracy")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# reference packages on every shared set


@pytest.mark.parametrize("name", CATEGORICAL)
def test_krippendorff_matches_reference_packages(name: str) -> None:
    import krippendorff
    import pandas as pd
    from crowdkit.metrics.data import alpha_krippendorff

    table, a = load(name)
    rel = reliability(name)
    for level in ("nominal", "ordinal"):
        ref = krippendorff.alpha(reliability_data=rel, level_of_measurement=level)
        ours = ag.krippendorff_alpha(a, level=level, n_boot=0).value  # type: ignore[arg-type]
        assert ours == pytest.approx(ref, abs=TOL), level
    frame = pd.DataFrame(
        {
            "worker": np.asarray(table.labeler_ids)[a.labeler],
            "task": np.asarray(table.item_ids)[a.item],
            "label": np.asarray(table.label_space.labels)[a.label],
        }
    )
    ours = ag.krippendorff_alpha(a, n_boot=0).value
    assert ours == pytest.approx(alpha_krippendorff(frame), abs=TOL)


def test_interval_alpha_on_emotion_matches_krippendorff() -> None:
    import krippendorff

    table, a = load("emotion")
    values = np.asarray([float(x) for x in table.label_space.labels])
    rel = np.full((a.n_labelers, a.n_items), np.nan)
    rel[a.labeler, a.item] = values[a.label]
    for level in ("interval", "ordinal"):
        ref = krippendorff.alpha(reliability_data=rel, level_of_measurement=level)
        ours = ag.krippendorff_alpha(a, level=level, values=values, n_boot=0).value  # type: ignore[arg-type]
        assert ours == pytest.approx(ref, abs=TOL), level
    assert ag.krippendorff_alpha(a, level="interval", values=values, n_boot=0).value == (
        pytest.approx(0.3575, abs=1e-4)
    )


def _fleiss_reference(counts: np.ndarray) -> float:
    """The stated generalization, written plainly: loops over items, pooled proportions."""
    p_items, totals, n_all = [], np.zeros(counts.shape[1]), 0.0
    for row in counts:
        m = row.sum()
        if m < 2:
            continue
        p_items.append(sum(n * (n - 1) for n in row) / (m * (m - 1)))
        totals += row
        n_all += m
    p_bar = sum(p_items) / len(p_items)
    p_e = sum((t / n_all) ** 2 for t in totals)
    return float((p_bar - p_e) / (1 - p_e))


@pytest.mark.parametrize("name", [*CATEGORICAL, "emotion"])
def test_fleiss_matches_statsmodels(name: str) -> None:
    from statsmodels.stats.inter_rater import fleiss_kappa

    _, a = load(name)
    counts = a.label_counts()
    m = counts.sum(axis=1)
    ours = ag.fleiss_kappa(a, n_boot=0).value
    if m.min() == m.max():  # statsmodels needs a constant number of raters
        assert ours == pytest.approx(fleiss_kappa(counts), abs=TOL)
    else:
        # every item with the most common number of answers: statsmodels applies
        modal = np.bincount(m.astype(np.int64)[m >= 2]).argmax()
        keep = np.flatnonzero(m == modal)
        sub_mask = np.isin(a.item, keep)
        sub = Answers(
            a.item[sub_mask],
            a.labeler[sub_mask],
            a.label[sub_mask],
            a.n_items,
            a.n_labelers,
            a.n_classes,
        )
        assert ag.fleiss_kappa(sub, n_boot=0).value == pytest.approx(
            fleiss_kappa(counts[keep]), abs=TOL
        )
    # the whole set against the plainly written generalization
    assert ours == pytest.approx(_fleiss_reference(counts), abs=TOL)
    # percent agreement is Fleiss' P-bar; statsmodels' own P-bar on constant-rater sets
    pa = ag.percent_agreement(a, n_boot=0).value
    pairable = counts[m >= 2]
    mp = pairable.sum(axis=1)
    assert pa == pytest.approx(
        float(np.mean(((pairable**2).sum(axis=1) - mp) / (mp * (mp - 1)))), abs=TOL
    )


@pytest.mark.parametrize("name", [*CATEGORICAL, "emotion"])
def test_cohen_pairs_match_sklearn(name: str) -> None:
    import scipy.sparse as sp
    from sklearn.metrics import cohen_kappa_score

    _, a = load(name)
    min_items = 20
    table = ag.cohen_kappa_pairs(a, min_items=min_items)
    # the set of pairs and their shared items, from a sparse co-annotation product
    ind = sp.csr_matrix((np.ones(len(a)), (a.labeler, a.item)), shape=(a.n_labelers, a.n_items))
    shared = sp.triu(ind @ ind.T, k=1).tocoo()
    ok = shared.data >= min_items
    ref_pairs = sorted(zip(shared.row[ok].tolist(), shared.col[ok].tolist(), strict=True))
    ours_pairs = list(zip(table.labeler_a.tolist(), table.labeler_b.tolist(), strict=True))
    assert ours_pairs == ref_pairs
    assert dict(zip(ours_pairs, table.n_items.tolist(), strict=True)) == {
        (int(r), int(c)): int(v)
        for r, c, v in zip(shared.row[ok], shared.col[ok], shared.data[ok], strict=True)
    }
    # kappa of a deterministic sample of pairs (all pairs on small sets) against sklearn
    rel = reliability(name)
    rng = np.random.default_rng(7)
    sample = np.arange(len(table))
    if len(sample) > 150:
        undefined = np.flatnonzero(~np.isfinite(table.kappa))[:20]
        sample = np.union1d(rng.choice(len(table), 150, replace=False), undefined)
    ref = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on undefined kappa
        for j in sample:
            x, y = rel[table.labeler_a[j]], rel[table.labeler_b[j]]
            both = ~np.isnan(x) & ~np.isnan(y)
            ref.append(cohen_kappa_score(x[both], y[both]))
    np.testing.assert_allclose(table.kappa[sample], ref, atol=TOL, rtol=0, equal_nan=True)
    if len(sample) == len(table):
        mean = ag.cohen_kappa_mean(a, min_items=min_items, n_boot=0).value
        assert mean == pytest.approx(float(np.nanmean(ref)), abs=TOL)


@pytest.mark.parametrize("name", ["dog", "weather_amt", "web", "music_genre"])
def test_per_label_alpha_is_one_vs_rest_krippendorff(name: str) -> None:
    import krippendorff

    _, a = load(name)
    rel = reliability(name)
    per = ag.agreement_per_label(a, n_boot=0)
    for c in range(a.n_classes):
        binary = np.where(np.isnan(rel), np.nan, (rel == c).astype(float))
        ref = krippendorff.alpha(reliability_data=binary, level_of_measurement="nominal")
        assert per.alpha[c] == pytest.approx(ref, abs=TOL), c
    assert per.n_values.sum() == pytest.approx(ag.coincidence_matrix(a).sum())


# ---------------------------------------------------------------------------------------
# bootstrap


@pytest.mark.parametrize(
    "name", ["rte", "weather_amt", "adult", "relevance", "dog", "emotion", "product"]
)
def test_bootstrap_interval_contains_estimate_and_is_reproducible(name: str) -> None:
    _, a = load(name)
    for metric in ag.METRICS:
        r1 = ag.compute_metric(a, metric, n_boot=200, random_state=3)  # type: ignore[arg-type]
        r2 = ag.compute_metric(a, metric, n_boot=200, random_state=3)  # type: ignore[arg-type]
        assert r1 == r2
        assert r1.ci_low <= r1.value <= r1.ci_high, (metric, r1)
        assert r1.ci_high - r1.ci_low < 0.2
        r3 = ag.compute_metric(a, metric, n_boot=200, random_state=4)  # type: ignore[arg-type]
        assert (r3.ci_low, r3.ci_high) != (r1.ci_low, r1.ci_high)


def _resample(a: Answers, drawn: np.ndarray) -> Answers:
    """Answers of the drawn items, each draw a new item (the explicit bootstrap)."""
    order = np.argsort(a.item, kind="stable")
    start = np.searchsorted(a.item[order], drawn)
    stop = np.searchsorted(a.item[order], drawn, side="right")
    parts = [order[start[k] : stop[k]] for k in range(len(drawn))]
    idx = np.concatenate(parts)
    new_item = np.concatenate([np.full(len(p), k) for k, p in enumerate(parts)])
    return Answers(new_item, a.labeler[idx], a.label[idx], len(drawn), a.n_labelers, a.n_classes)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_vectorized_replicate_equals_explicit_resample(level: str) -> None:
    _, a = load("weather_amt")
    items = np.flatnonzero(a.answers_per_item() >= 2)
    # the bootstrap draws item positions uniformly, one row per replicate
    draw = np.random.default_rng(11).integers(0, len(items), size=(1, len(items)))[0]
    explicit = _resample(a, items[draw])
    # with one replicate, the percentile interval is that replicate
    one = ag.krippendorff_alpha(a, level=level, n_boot=1, random_state=11)  # type: ignore[arg-type]
    ref = ag.krippendorff_alpha(explicit, level=level, n_boot=0).value  # type: ignore[arg-type]
    assert one.ci_low == pytest.approx(ref, abs=1e-9)
    for fn in (ag.fleiss_kappa, ag.percent_agreement):
        assert fn(a, n_boot=1, random_state=11).ci_low == pytest.approx(
            fn(explicit, n_boot=0).value, abs=1e-9
        )


def test_bootstrap_off_gives_nan_interval() -> None:
    _, a = load("temp")
    res = ag.fleiss_kappa(a, n_boot=0)
    assert np.isnan(res.ci_low) and np.isnan(res.ci_high) and res.n_boot == 0


def test_pair_table_intervals() -> None:
    _, a = load("temp")
    t1 = ag.cohen_kappa_pairs(a, min_items=30, n_boot=200, random_state=0)
    t2 = ag.cohen_kappa_pairs(a, min_items=30, n_boot=200, random_state=0)
    ok = np.isfinite(t1.kappa)
    assert ok.sum() > 10
    np.testing.assert_array_equal(t1.ci_low, t2.ci_low)
    assert np.all(t1.ci_low[ok] <= t1.ci_high[ok])
    inside = (t1.ci_low[ok] <= t1.kappa[ok]) & (t1.kappa[ok] <= t1.ci_high[ok])
    assert inside.mean() > 0.9


# ---------------------------------------------------------------------------------------
# per time window


def test_agreement_by_window_equals_metric_on_each_window() -> None:
    _, a = load("rte")
    t = np.arange(len(a), dtype=float)  # answers in file order
    by = ag.agreement_by_window(a, t, width=2000.0, metric="fleiss_kappa")
    assert by.edges.tolist() == [0.0, 2000.0, 4000.0, 6000.0, 8000.0]
    assert by.n_answers.tolist() == [2000, 2000, 2000, 2000]
    for w, res in enumerate(by.results):
        mask = (t >= by.edges[w]) & (t < by.edges[w + 1])
        sub = Answers(a.item[mask], a.labeler[mask], a.label[mask], a.n_items, a.n_labelers, 2)
        assert res.value == pytest.approx(ag.fleiss_kappa(sub, n_boot=0).value, abs=1e-12)


def test_agreement_by_window_edges_and_errors() -> None:
    a = Answers.from_codes([0, 0, 1, 1, 2, 2], [0, 1] * 3, [0, 0, 1, 0, 1, 1])
    by = ag.agreement_by_window(
        a, [0, 1, 5, 6, 10, 10], edges=[0, 5, 10], metric="percent_agreement"
    )
    assert [r.value for r in by.results] == [1.0, 0.5]  # t == last edge falls in the last window
    with pytest.raises(ValueError, match="exactly one of"):
        ag.agreement_by_window(a, np.zeros(6))
    with pytest.raises(ValueError, match="shape"):
        ag.agreement_by_window(a, np.zeros(5), width=1.0)
    with pytest.raises(ValueError, match="increasing"):
        ag.agreement_by_window(a, np.zeros(6), edges=[1, 1])


# ---------------------------------------------------------------------------------------
# properties against the references on random small data

answer_sets = st.integers(min_value=0, max_value=2**32 - 1).map(
    lambda seed: _random_answers(np.random.default_rng(seed))
)


def _random_answers(rng: np.random.Generator) -> Answers:
    n_items, n_lab, k = int(rng.integers(3, 12)), int(rng.integers(2, 6)), int(rng.integers(2, 5))
    mask = rng.random((n_lab, n_items)) < 0.7
    lab, item = np.nonzero(mask)
    labels = rng.integers(0, k, size=len(item))
    return Answers.from_codes(item, lab, labels, n_items=n_items, n_labelers=n_lab, n_classes=k)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer_sets)
def test_random_data_matches_krippendorff_and_sklearn(a: Answers) -> None:
    import krippendorff
    from sklearn.metrics import cohen_kappa_score

    rel = np.full((a.n_labelers, a.n_items), np.nan)
    rel[a.labeler, a.item] = a.label
    counts = a.label_counts()
    pairable = counts[counts.sum(axis=1) >= 2]
    n_distinct = int(np.count_nonzero(pairable.sum(axis=0)))
    for level in ("nominal", "ordinal", "interval"):
        ours = ag.krippendorff_alpha(a, level=level, n_boot=0).value  # type: ignore[arg-type]
        if n_distinct < 2:
            assert np.isnan(ours)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = krippendorff.alpha(
                value_counts=counts, value_domain=np.arange(a.n_classes), level_of_measurement=level
            )
        assert ours == pytest.approx(ref, abs=1e-9, nan_ok=True)
    table = ag.cohen_kappa_pairs(a, min_items=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x, y, kappa in zip(table.labeler_a, table.labeler_b, table.kappa, strict=True):
            both = ~np.isnan(rel[x]) & ~np.isnan(rel[y])
            ref = cohen_kappa_score(rel[x][both], rel[y][both])
            assert kappa == pytest.approx(ref, abs=1e-9, nan_ok=True)


@settings(max_examples=40, deadline=None)
@given(answer_sets, st.permutations(range(4)))
def test_nominal_coefficients_ignore_class_names(a: Answers, perm: list[int]) -> None:
    p = np.asarray(perm)[: a.n_classes]
    p = np.argsort(np.argsort(p))  # a permutation of 0..K-1
    b = Answers(a.item, a.labeler, p[a.label], a.n_items, a.n_labelers, a.n_classes)
    for metric in ag.METRICS:
        x = ag.compute_metric(a, metric, min_items=1, n_boot=0).value
        y = ag.compute_metric(b, metric, min_items=1, n_boot=0).value
        assert x == pytest.approx(y, abs=1e-12, nan_ok=True)


def test_docstring_examples_run() -> None:
    import doctest

    from labelloop.core import disagreement

    for module in (ag, disagreement):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__
        assert result.attempted > 10
