"""auto.v2's and auto.v3's label-free selection (held-out answer likelihood, stacking,
majority-vote floor; v3's anchored floor), gold cross-validation, EM without self-grading,
and reliability from independent evidence."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.core.aggregate import (
    MACE,
    AnchoredAutoAggregator,
    AutoAggregator,
    AutoCommittee,
    DawidSkene,
    MajorityVote,
    OneCoinDawidSkene,
)
from labelloop.core.aggregate._base import prepare
from labelloop.core.aggregate.reliability import score_reliability
from labelloop.core.aggregate.selection import (
    ANCHOR,
    CANDIDATES,
    FLOOR,
    compact_items,
    score_heldout,
    split_by_labeler,
    stacking_weights,
    subsample_items,
)
from labelloop.core.answers import ABSTAIN, Answers


def long_tail(seed: int) -> tuple[Answers, np.ndarray]:
    """Binary crowd: 4 prolific biased labelers answer a third of the items each, a long tail
    of labelers with 10-20 answers fills each item to 6-11 answers; a quarter of the tail is
    near-random; items vary in difficulty (hard items pull everyone toward a coin)."""
    rng = np.random.default_rng(seed)
    n_items, n_pro = 1200, 4
    truth = (rng.random(n_items) < 0.4).astype(np.int64)
    per_item = rng.integers(6, 12, size=n_items)
    pro = rng.random((n_items, n_pro)) < 1 / 3
    need = int((per_item - pro.sum(1)).sum())
    sizes: list[int] = []
    while sum(sizes) < need:
        sizes.append(int(rng.integers(10, 21)))
    n_tail = len(sizes)
    acc = np.concatenate(
        [
            rng.uniform(0.6, 0.85, n_pro),
            np.where(
                rng.random(n_tail) < 0.25, rng.uniform(0.45, 0.6, n_tail), rng.beta(8, 2.5, n_tail)
            ),
        ]
    )
    bias = np.concatenate([rng.uniform(-0.15, 0.15, n_pro), np.zeros(n_tail)])
    slots = rng.permutation(np.repeat(np.arange(n_pro, n_pro + n_tail), sizes))
    items, workers, pos = [], [], 0
    for i in range(n_items):
        ws = list(np.flatnonzero(pro[i]))
        while len(ws) < per_item[i] and pos < slots.size:
            if slots[pos] not in ws:
                ws.append(int(slots[pos]))
            pos += 1
        items += [i] * len(ws)
        workers += ws
    item, worker = np.array(items), np.array(workers)
    hard = rng.beta(1.2, 4.0, n_items)
    right = rng.random(item.size) < 0.5 + (acc[worker] - 0.5) * (1 - hard[item])
    label = np.where(right, truth[item], 1 - truth[item])
    flip = rng.random(item.size) < np.abs(bias[worker])
    label = np.where(flip, (bias[worker] > 0).astype(np.int64), label)
    return Answers(item, worker, label, n_items, n_pro + n_tail, 2), truth


def confusing_crowd(seed: int) -> tuple[Answers, np.ndarray]:
    """3 classes, 60 labelers with 7 per item; 20 % answer a fixed wrong permutation."""
    rng = np.random.default_rng(seed)
    n_items, n_lab, k, per = 500, 60, 3, 7
    truth = rng.integers(0, k, n_items)
    acc = rng.uniform(0.5, 0.9, n_lab)
    conf = np.empty((n_lab, k, k))
    for w in range(n_lab):
        conf[w] = np.full((k, k), (1 - acc[w]) / (k - 1))
        np.fill_diagonal(conf[w], acc[w])
    adversarial = rng.random(n_lab) < 0.2
    conf[adversarial] = 0.8 * np.roll(np.eye(k), 1, axis=1) + 0.2 / k
    workers = np.stack([rng.choice(n_lab, per, replace=False) for _ in range(n_items)])
    item = np.repeat(np.arange(n_items), per)
    worker = workers.ravel()
    cum = conf[worker, truth[item]].cumsum(axis=1)
    label = np.minimum((rng.random(item.size)[:, None] > cum).sum(axis=1), k - 1)
    return Answers(item, worker, label, n_items, n_lab, k), truth


def accuracy(labels: np.ndarray, truth: np.ndarray) -> float:
    return float((labels == truth).mean())


# ---------------------------------------------------------------- the safe floor


@pytest.mark.parametrize("cls", [AutoAggregator, AnchoredAutoAggregator])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_long_tail_sparse_binary_never_below_majority_vote_or_one_coin(
    seed: int, cls: type[AutoAggregator]
) -> None:
    a, truth = long_tail(seed)
    auto = accuracy(cls().fit(a).labels_, truth)
    mv = accuracy(MajorityVote().fit(a).labels_, truth)
    one_coin = accuracy(OneCoinDawidSkene().fit(a).labels_, truth)
    assert auto >= mv - 0.002 and auto >= one_coin, (auto, mv, one_coin)


def test_one_coin_em_falls_below_majority_vote_on_long_tail() -> None:
    # the regime the floor is for: EM alone locks onto the prolific labelers
    a, truth = long_tail(0)
    mv = accuracy(MajorityVote().fit(a).labels_, truth)
    assert accuracy(OneCoinDawidSkene().fit(a).labels_, truth) < mv - 0.02
    assert accuracy(DawidSkene().fit(a).labels_, truth) < mv - 0.02


def test_without_clear_evidence_auto_is_majority_vote() -> None:
    a = Answers.from_codes([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2], [1, 1, 0, 0, 0, 1])
    auto = AutoAggregator().fit(a)
    assert auto.chosen_ == FLOOR and auto.weights_ == {FLOOR: 1.0}
    np.testing.assert_array_equal(auto.labels_, MajorityVote().fit(a).labels_)
    sel = auto.selection_
    assert sel.gain["stack"] <= 2.0 * sel.stderr["stack"]


@pytest.mark.parametrize("cls", [AutoAggregator, AnchoredAutoAggregator])
def test_structure_majority_vote_misses_is_found_from_answers_alone(
    cls: type[AutoAggregator],
) -> None:
    a, truth = confusing_crowd(0)
    auto = cls().fit(a)
    mv = accuracy(MajorityVote().fit(a).labels_, truth)
    assert auto.chosen_ != FLOOR and auto.selection_.criterion == "heldout_likelihood"
    assert accuracy(auto.labels_, truth) > mv + 0.03
    assert sum(auto.weights_.values()) == pytest.approx(1.0)
    assert set(auto.weights_) <= set(CANDIDATES)


def test_margin_is_the_floor_threshold() -> None:
    a, _ = confusing_crowd(1)
    assert AutoAggregator(margin=1e9).fit(a).chosen_ == FLOOR
    assert AutoAggregator(margin=-np.inf).fit(a).chosen_ != FLOOR


def test_bad_candidate_or_folds_are_rejected() -> None:
    a, _ = confusing_crowd(0)
    with pytest.raises(ValueError, match="unknown auto candidate 'nope'"):
        AutoAggregator(candidates=("nope",)).fit(a)
    with pytest.raises(ValueError, match="n_folds must be >= 2, got 1"):
        AutoAggregator(n_folds=1).fit(a)


def test_the_former_committee_stays_reproducible_as_auto_v1() -> None:
    a, _ = confusing_crowd(0)
    assert AutoCommittee.name == "auto.v1" and AutoAggregator.name == "auto.v2"
    assert [type(m).__name__ for m in AutoCommittee().fit(a).members_] == [
        "HierarchicalDawidSkene",
        "MACE",
        "Wawa",
    ]


# ---------------------------------------------------------------- auto.v3: the anchored floor


def test_v3_stacks_only_candidates_whose_em_beats_their_anchored_self() -> None:
    a, _ = long_tail(0)  # EM locks onto the prolific labelers: most candidates fail
    auto = AnchoredAutoAggregator().fit(a)
    sel = auto.selection_
    assert sel.anchor_gain is not None and sel.anchor_stderr is not None
    assert set(sel.anchor_gain) == set(CANDIDATES) - {FLOOR}
    failed = {c for c, g in sel.anchor_gain.items() if g <= 0}
    assert {"dawid_skene", "mace"} <= failed
    assert not failed & set(auto.weights_)
    assert FLOOR in auto.weights_  # majority vote's posteriors stay in the stack


def test_v3_without_eligible_candidates_is_majority_vote() -> None:
    a, _ = confusing_crowd(1)
    auto = AnchoredAutoAggregator(margin=1e9).fit(a)
    assert auto.chosen_ == FLOOR and auto.weights_ == {FLOOR: 1.0}
    np.testing.assert_array_equal(auto.labels_, MajorityVote().fit(a).labels_)


def test_v3_ignores_items_without_answers() -> None:
    # selection runs on its subsample's own items: padding the item range changes nothing
    a, _ = confusing_crowd(2)
    padded = Answers(a.item, a.labeler, a.label, a.n_items + 5000, a.n_labelers, a.n_classes)
    ref = AnchoredAutoAggregator().fit(a)
    got = AnchoredAutoAggregator().fit(padded)
    np.testing.assert_array_equal(got.labels_[: a.n_items], ref.labels_)
    assert got.weights_ == pytest.approx(ref.weights_)


def test_compact_items_renumbers_over_answered_items() -> None:
    a = Answers.from_codes([7, 7, 3, 9], [0, 1, 0, 1], [1, 0, 1, 1], n_items=12, n_classes=2)
    out, kept = compact_items(a)
    assert kept.tolist() == [3, 7, 9] and out.n_items == 3
    assert out.item.tolist() == [1, 1, 0, 2] and kept[out.item].tolist() == a.item.tolist()


def test_anchored_scores_and_max_scored() -> None:
    a, _ = confusing_crowd(0)
    fi = prepare(a, None)
    opts = {"n_folds": 5, "max_iter": 50, "tol": 1e-5}
    ll, items = score_heldout(
        fi, ("one_coin",), anchored=True, rng=np.random.default_rng(0), **opts
    )
    assert set(ll) == {"one_coin", ANCHOR + "one_coin"} and items.size == len(a)
    _, items = score_heldout(
        fi, ("one_coin",), max_scored=len(a) // 4, rng=np.random.default_rng(0), **opts
    )
    assert len(a) // 4 <= items.size < len(a) // 2  # whole folds, stopped early


def test_slsqp_stacking_reaches_at_least_the_em_optimum() -> None:
    rng = np.random.default_rng(1)
    probs = rng.uniform(0.05, 1.0, (3000, 4)) * np.array([1.0, 0.9, 1.1, 0.5])
    em = stacking_weights(probs)
    sq = stacking_weights(probs, max_iter=100, tol=1e-12, solver="slsqp")
    assert sq.min() >= 0 and sq.sum() == pytest.approx(1.0)
    assert np.log(probs @ sq).mean() >= np.log(probs @ em).mean() - 1e-9


def test_v3_is_the_default_and_v2_stays() -> None:
    from labelloop.core.aggregate import resolve_name

    assert resolve_name("auto") == "auto.v3" and AnchoredAutoAggregator.name == "auto.v3"
    assert AutoAggregator.name == "auto.v2" and AutoAggregator().n_folds == 5


# ---------------------------------------------------------------- gold


def test_with_gold_auto_selects_by_cross_validated_gold_accuracy() -> None:
    a, truth = confusing_crowd(2)
    gold = np.full(a.n_items, ABSTAIN)
    given = np.random.default_rng(0).choice(a.n_items, 60, replace=False)
    gold[given] = truth[given]
    auto = AutoAggregator().fit(a, gold)
    sel = auto.selection_
    assert sel.criterion == "gold_cv" and sel.n_gold == 60 and sel.gold_accuracy is not None
    assert set(sel.gold_accuracy) == {"stack", *CANDIDATES}
    # cross-validated: the floor does not get the held-out fold's gold, so it is not perfect
    assert sel.gold_accuracy[FLOOR] < 1.0
    np.testing.assert_array_equal(auto.labels_[given], truth[given])  # gold is clamped


def test_too_little_gold_keeps_the_label_free_choice() -> None:
    a, truth = confusing_crowd(2)
    gold = np.full(a.n_items, ABSTAIN)
    gold[:5] = truth[:5]
    assert AutoAggregator(min_gold=20).fit(a, gold).selection_.criterion == "heldout_likelihood"


# ---------------------------------------------------------------- pieces


def test_split_by_labeler_spreads_each_labelers_answers_over_folds() -> None:
    a = Answers.from_codes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0], [0] * 10 + [1], [0] * 11, n_classes=2)
    fold = split_by_labeler(a, 5, np.random.default_rng(0))
    assert fold[-1] == -1  # a labeler with one answer is never held out
    assert np.bincount(fold[:10], minlength=5).tolist() == [2, 2, 2, 2, 2]


def test_stacking_weights_favour_the_better_predictor() -> None:
    rng = np.random.default_rng(0)
    good = rng.uniform(0.6, 0.9, 2000)
    bad = rng.uniform(0.1, 0.4, 2000)
    w = stacking_weights(np.stack([bad, good], axis=1))
    assert w[1] > 0.95 and w.sum() == pytest.approx(1.0)


def test_subsample_keeps_whole_items() -> None:
    a, _ = confusing_crowd(0)  # 7 answers per item
    sub = subsample_items(a, 700, np.random.default_rng(0))
    per = np.bincount(sub.item, minlength=a.n_items)
    assert len(sub) <= 700 and set(per.tolist()) <= {0, 7} and len(sub) >= 600


def test_one_coin_shrinkage_pulls_sparse_labelers_toward_the_crowd() -> None:
    a, _ = long_tail(0)
    plain = OneCoinDawidSkene().fit(a).skills_
    shrunk = OneCoinDawidSkene(shrinkage=10.0).fit(a).skills_
    n = np.bincount(a.labeler, minlength=a.n_labelers)
    sparse = n <= 20
    assert np.std(shrunk[sparse]) < 0.6 * np.std(plain[sparse])
    heavy = n >= 300  # move far less than the sparse ones
    moved = np.abs(shrunk - plain)
    assert moved[heavy].max() < 0.05 < moved[sparse].mean()


# ---------------------------------------------------------------- no self-grading


def model_everywhere(seed: int = 0) -> tuple[Answers, np.ndarray, int]:
    """Three people (accuracy 0.85) on a fifth of the items; a model (accuracy 0.7) votes
    on every item, alone on the other four fifths."""
    rng = np.random.default_rng(seed)
    n = 1000
    truth = rng.integers(0, 2, n)
    items, labs, labels = [], [], []
    for i in range(n):
        voters = [(3, 0.7)] + ([(0, 0.85), (1, 0.85), (2, 0.85)] if i < n // 5 else [])
        for w, acc in voters:
            items.append(i)
            labs.append(w)
            labels.append(truth[i] if rng.random() < acc else 1 - truth[i])
    return Answers.from_codes(items, labs, labels, n_classes=2), truth, 3


def test_em_gives_no_credit_for_items_a_labeler_answered_alone() -> None:
    a, truth, model = model_everywhere()
    ds = DawidSkene().fit(a)
    measured = float((a.label[a.labeler == model] == truth[a.item[a.labeler == model]]).mean())
    # counting its sole-vote items it would agree with itself on 80 % of its answers (~0.94)
    assert abs(ds.skills_[model] - measured) < 0.07, (ds.skills_[model], measured)


def test_reliability_uses_only_others_votes_and_gold() -> None:
    a, truth, model = model_everywhere()
    ds = DawidSkene().fit(a)
    r = score_reliability(a, ds.probas_, confusions=ds.confusions_)
    assert r.evidence[model] == 200  # its 800 sole-vote items are not counted
    measured = float((a.label[a.labeler == model] == truth[a.item[a.labeler == model]]).mean())
    assert r.low[model] <= measured <= r.high[model]
    assert r.low[model] < r.skill[model] < r.high[model]
    # with gold everywhere, a labeler with enough gold is scored on gold alone
    g = score_reliability(a, ds.probas_, confusions=ds.confusions_, gold=truth)
    assert g.evidence[model] == g.gold_evidence[model] == 1000
    assert g.skill[model] == pytest.approx(measured)


def test_reliability_interval_narrows_with_evidence_and_is_nan_without() -> None:
    a = Answers.from_codes(
        [0, 0, 1, 1, 2, 2, 3, 3, 4], [0, 1, 0, 1, 0, 1, 0, 1, 2], [1, 1, 0, 0, 1, 1, 0, 0, 1]
    )
    mv = MajorityVote().fit(a)
    small = score_reliability(a._subset(np.arange(4)), mv.probas_)
    big = score_reliability(a, mv.probas_)
    assert np.isnan(big.skill[2]) and big.evidence[2] == 0  # only ever voted alone
    assert (big.high[0] - big.low[0]) < (small.high[0] - small.low[0])
    assert big.skill[0] == pytest.approx(1.0)


def test_mace_fits_its_class_prior_when_the_data_support_it() -> None:
    rng = np.random.default_rng(0)
    n, n_lab, per = 2000, 40, 3

    def crowd(p_rare: float) -> tuple[Answers, np.ndarray]:
        truth = (rng.random(n) < p_rare).astype(np.int64)
        acc = rng.uniform(0.7, 0.95, n_lab)
        lab = np.concatenate([rng.choice(n_lab, per, replace=False) for _ in range(n)])
        item = np.repeat(np.arange(n), per)
        right = rng.random(item.size) < acc[lab]
        label = np.where(right, truth[item], 1 - truth[item])
        return Answers(item, lab, label, n, n_lab, 2), truth

    skewed, truth = crowd(0.1)
    auto_prior = MACE(fit_prior="auto").fit(skewed)
    assert auto_prior.prior_fitted_ is True
    assert accuracy(auto_prior.labels_, truth) > accuracy(MACE().fit(skewed).labels_, truth) + 0.1
    balanced, _ = crowd(0.5)
    assert MACE(fit_prior="auto").fit(balanced).prior_fitted_ is False
