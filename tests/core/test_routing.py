"""core.routing: Clopper-Pearson intervals, threshold choice on gold, audit routing."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from labelloop.core import routing
from labelloop.core.routing import (
    AUDIT,
    AUTO,
    HUMAN,
    choose_threshold,
    clopper_pearson,
    min_gold_for,
    route_items,
)
from labelloop.errors import InvalidInput


def test_docstring_examples_run():
    result = doctest.testmod(routing, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(("k", "n"), [(0, 5), (5, 5), (9, 10), (183, 183), (970, 1000), (1, 2)])
def test_clopper_pearson_matches_statsmodels(k, n):
    low, high = clopper_pearson([k], [n], 0.95)
    ref_low, ref_high = proportion_confint(k, n, alpha=0.05, method="beta")
    assert low[0] == pytest.approx(ref_low, abs=1e-10)
    assert high[0] == pytest.approx(ref_high, abs=1e-10)


def test_min_gold_is_the_smallest_all_correct_sample_that_clears_target():
    n = min_gold_for(0.98)
    assert clopper_pearson([n], [n])[0][0] >= 0.98
    assert clopper_pearson([n - 1], [n - 1])[0][0] < 0.98


def test_hand_case_picks_the_lowest_passing_threshold():
    # 300 correct predictions at 0.99, then 100 at 0.9 with 20 wrong, then 100 at 0.6 (50 wrong)
    conf = np.r_[np.full(300, 0.99), np.full(100, 0.9), np.full(100, 0.6)]
    correct = np.r_[np.ones(300, bool), np.arange(100) >= 20, np.arange(100) >= 50]
    chosen = choose_threshold(conf, correct, target=0.98)
    assert chosen.threshold == 0.99
    assert (chosen.n_gold_above, chosen.n_correct_above) == (300, 300)
    assert chosen.precision == 1.0 and chosen.ci_high == 1.0
    assert chosen.ci_low == pytest.approx(proportion_confint(300, 300, 0.05, "beta")[0])
    assert chosen.coverage == pytest.approx(0.6)
    # a lenient target accepts more: 380/400 = 0.95 with lower bound ~0.924
    lenient = choose_threshold(conf, correct, target=0.9)
    assert lenient.threshold == 0.9 and lenient.n_gold_above == 400


def test_abstains_with_too_little_gold_and_says_why():
    chosen = choose_threshold(np.full(100, 0.999), np.ones(100, bool), target=0.98)
    assert chosen.abstained and chosen.threshold is None
    assert "too little gold" in chosen.reason and "183" in chosen.reason
    assert chosen.n_gold_above == 100 and chosen.ci_low < 0.98
    empty = choose_threshold([], [], target=0.98)
    assert empty.abstained and empty.precision is None and empty.n_gold == 0


def test_abstains_when_the_model_is_never_precise_enough():
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.5, 1, 5000)
    correct = rng.uniform(size=5000) < 0.9  # 90% right whatever the confidence
    chosen = choose_threshold(conf, correct, target=0.98)
    assert chosen.abstained and "no threshold reaches" in chosen.reason


def test_ties_are_one_threshold():
    conf = np.r_[np.full(400, 0.97), np.full(5, 0.5)]
    correct = np.r_[np.ones(400, bool), np.zeros(5, bool)]
    chosen = choose_threshold(conf, correct, target=0.98)
    assert chosen.threshold == 0.97 and chosen.n_gold_above == 400


def test_true_precision_of_accepted_labels_meets_target_in_repeated_draws():
    """Calibrated model; the precision of everything accepted (fresh items) is >= target in
    nearly all replications (the lower-bound rule is conservative)."""
    rng = np.random.default_rng(7)
    target = 0.95
    below = 0
    reps = 200
    for _ in range(reps):
        conf = rng.beta(8, 1, 1500).clip(0.5, 1.0)
        correct = rng.uniform(size=conf.size) < conf  # calibrated
        chosen = choose_threshold(conf, correct, target=target)
        assert not chosen.abstained
        fresh = rng.beta(8, 1, 40_000).clip(0.5, 1.0)
        accepted = fresh[fresh >= chosen.threshold]
        below += accepted.mean() < target  # expected precision of a calibrated model
    assert below / reps <= 0.05


def test_bad_arguments_are_invalid_input():
    with pytest.raises(InvalidInput, match="target precision"):
        choose_threshold([0.9], [True], target=1.0)
    with pytest.raises(InvalidInput, match="one per gold item"):
        choose_threshold([0.9, 0.8], [True])
    with pytest.raises(InvalidInput, match=r"\[0, 1\]"):
        choose_threshold([1.5], [True])
    with pytest.raises(InvalidInput, match="audit fraction"):
        route_items([0.9], 0.5, audit_fraction=-0.1)


def test_route_items_audits_a_seeded_share_of_the_accepted():
    conf = np.r_[np.full(1000, 0.995), np.full(500, 0.7), np.full(3, np.nan)]
    a = route_items(conf, 0.99, audit_fraction=0.05, random_state=3)
    b = route_items(conf, 0.99, audit_fraction=0.05, random_state=3)
    assert np.array_equal(a.decision, b.decision)
    assert (a.n_auto, a.n_audit, a.n_human) == (1000, 50, 503)
    assert a.human_labels_saved == 950
    assert set(np.flatnonzero(a.decision == AUDIT)) <= set(range(1000))
    assert (a.decision[1000:] == HUMAN).all()
    assert (a.decision[:1000] != HUMAN).all() and (a.decision == AUTO).sum() == 950
    none = route_items(conf, None, audit_fraction=0.05)
    assert none.n_auto == 0 and none.n_human == conf.size
    tiny = route_items([0.999], 0.99, audit_fraction=0.01, random_state=0)
    assert tiny.n_audit == 1  # any positive fraction audits at least one accepted item
