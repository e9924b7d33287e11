"""core.sampling: hand-computed scores, selection rules, cold start, determinism, properties."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelloop.core import sampling
from labelloop.core.sampling import (
    STRATEGIES,
    Selection,
    k_center_greedy,
    score_committee,
    score_density,
    score_entropy,
    score_least_confidence,
    score_margin,
    select_batch,
)
from labelloop.errors import InvalidInput, NotFound

NAN = math.nan


def test_docstring_examples_run() -> None:
    result = doctest.testmod(sampling)
    assert result.attempted > 0 and result.failed == 0


def test_strategy_names_are_the_contract() -> None:
    assert STRATEGIES == (
        "random",
        "least_confidence",
        "margin",
        "entropy",
        "committee",
        "diversity",
        "hybrid",
        "class_balanced",
    )


# ---------------------------------------------------------------- scores, by hand


def test_uncertainty_scores_by_hand() -> None:
    p = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(score_least_confidence(p), [0.3, 2 / 3, 0.0])
    np.testing.assert_allclose(score_margin(p), [1 - 0.5, 1.0, 0.0])
    h0 = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    np.testing.assert_allclose(score_entropy(p), [h0, math.log(3), 0.0])
    assert score_entropy(p)[2] == 0.0 and not np.signbit(score_entropy(p)[2])


def test_committee_vote_entropy_and_kl_by_hand() -> None:
    # 3 members, 3 items, 2 classes; member 1 abstains on item 2
    members = np.array(
        [
            [[0.9, 0.1], [0.8, 0.2], [0.6, 0.4]],
            [[0.8, 0.2], [0.3, 0.7], [NAN, NAN]],
            [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]],  # one-hot: an LF's votes
        ]
    )
    ve = score_committee(members)
    # item 0: all vote class 0 -> 0; item 1: votes (0, 1, 1) -> H(1/3, 2/3); item 2: (0, 1)
    h13 = -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3))
    np.testing.assert_allclose(ve, [0.0, h13, math.log(2)])

    kl = score_committee(members, method="kl")

    def kl_div(p: list[float], q: list[float]) -> float:
        return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True) if a > 0)

    c0 = [(0.9 + 0.8 + 1.0) / 3, (0.1 + 0.2 + 0.0) / 3]
    e0 = (kl_div([0.9, 0.1], c0) + kl_div([0.8, 0.2], c0) + kl_div([1.0, 0.0], c0)) / 3
    c2 = [0.3, 0.7]  # mean of the two voting members only
    e2 = (kl_div([0.6, 0.4], c2) + kl_div([0.0, 1.0], c2)) / 2
    np.testing.assert_allclose(kl[[0, 2]], [e0, e2])
    assert kl[1] > kl[0]


def test_committee_needs_two_voters() -> None:
    members = np.array([[[0.5, 0.5]], [[NAN, NAN]]])
    assert score_committee(members).tolist() == [0.0]
    assert score_committee(members, method="kl").tolist() == [0.0]
    with pytest.raises(InvalidInput, match="n_members"):
        score_committee(np.zeros((3, 2)))
    with pytest.raises(InvalidInput, match="vote_entropy"):
        score_committee(np.zeros((2, 3, 2)), method="bogus")  # type: ignore[arg-type]


# ---------------------------------------------------------------- select_batch rules


def _probas(n: int, k: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(k), size=n)


def test_top_uncertain_honours_exclude_and_explains() -> None:
    p = np.array([[0.5, 0.5], [0.6, 0.4], [0.9, 0.1], [0.55, 0.45]])
    exclude = np.array([True, False, False, False])
    sel = select_batch("least_confidence", 2, n_pool=4, probas=p, exclude=exclude)
    assert sel.indices.tolist() == [3, 1]
    np.testing.assert_allclose(sel.scores, [0.45, 0.4])
    assert sel.reasons[0] == "least_confidence 0.45 (rank 1 of 3)"
    assert sel.reasons[1] == "least_confidence 0.4 (rank 2 of 3)"
    assert len(sel) == 2 and sel.method == "least_confidence"
    # a margin reason states the gap between the two best classes, not the score 1 - gap
    near_tie = np.array([[0.31214, 0.31190, 0.2, 0.17596], [0.9, 0.05, 0.03, 0.02]])
    margin = select_batch("margin", 2, n_pool=2, probas=near_tie)
    assert margin.reasons == ("top-two gap 0.00024 (rank 1 of 2)", "top-two gap 0.85 (rank 2 of 2)")
    np.testing.assert_allclose(margin.scores, [1 - 0.00024, 0.15])


def test_unknown_strategy_lists_the_known_ones() -> None:
    with pytest.raises(NotFound) as err:
        select_batch("uncertainty", 3, n_pool=10)
    for name in STRATEGIES:
        assert name in str(err.value)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_budget_edges(strategy: str) -> None:
    n = 12
    p, emb = _probas(n, 3), np.random.default_rng(1).normal(size=(n, 4))
    exclude = np.zeros(n, dtype=bool)
    exclude[:9] = True
    kw = dict(
        n_pool=n,
        probas=p,
        embeddings=emb,
        member_probas=np.stack([p, _probas(n, 3, 2)]),
        exclude=exclude,
        random_state=0,
    )
    everything = select_batch(strategy, 100, **kw)  # type: ignore[arg-type]
    assert sorted(everything.indices.tolist()) == [9, 10, 11]
    assert len(everything.reasons) == 3 == everything.scores.shape[0]
    assert len(select_batch(strategy, 0, **kw)) == 0  # type: ignore[arg-type]
    kw["exclude"] = np.ones(n, dtype=bool)
    assert len(select_batch(strategy, 5, **kw)) == 0  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="budget"):
        select_batch(strategy, -1, n_pool=n)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_deterministic_given_random_state(strategy: str) -> None:
    n = 200
    p, emb = _probas(n, 3), np.random.default_rng(1).normal(size=(n, 5))
    kw = dict(n_pool=n, probas=p, embeddings=emb, member_probas=np.stack([p, _probas(n, 3, 2)]))
    a = select_batch(strategy, 20, random_state=7, **kw)  # type: ignore[arg-type]
    b = select_batch(strategy, 20, random_state=7, **kw)  # type: ignore[arg-type]
    assert a.indices.tolist() == b.indices.tolist() and a.reasons == b.reasons
    assert len(set(a.indices.tolist())) == 20


def test_random_is_seeded_and_varies_with_seed() -> None:
    a = select_batch("random", 10, n_pool=1000, random_state=1).indices
    b = select_batch("random", 10, n_pool=1000, random_state=2).indices
    assert a.tolist() != b.tolist()


def test_bad_shapes_are_one_clear_error() -> None:
    with pytest.raises(InvalidInput, match="probas has 3 rows"):
        select_batch("entropy", 1, n_pool=4, probas=_probas(3, 2))
    with pytest.raises(InvalidInput, match="boolean mask"):
        select_batch("entropy", 1, n_pool=3, probas=_probas(3, 2), exclude=[0, 1, 0])
    with pytest.raises(
        InvalidInput,
        match=r"entropy\.v1: unknown parameter 'method'; expected any of \['density'\]",
    ):
        select_batch("entropy", 1, n_pool=3, probas=_probas(3, 2), method="kl")
    with pytest.raises(InvalidInput, match="needs embeddings"):
        select_batch("diversity", 1, n_pool=3)


# ---------------------------------------------------------------- cold start


def test_cold_start_random_then_kcenter_say_so() -> None:
    sel = select_batch("entropy", 3, n_pool=50, random_state=0)
    assert sel.method.startswith("random (cold start")
    assert all("cold start" in r for r in sel.reasons)
    emb = np.random.default_rng(0).normal(size=(50, 3))
    sel = select_batch("margin", 3, n_pool=50, embeddings=emb, random_state=0)
    assert sel.method == "cold start: k-center on embeddings"
    assert all(r.startswith("cold start: k-center on embeddings") for r in sel.reasons)
    for strategy in ("committee", "hybrid", "class_balanced"):
        assert "cold start" in select_batch(strategy, 2, n_pool=5, random_state=0).method


# ---------------------------------------------------------------- diversity, hybrid, balance


def test_k_center_picks_far_points_first() -> None:
    rng = np.random.default_rng(0)
    # a dense blob at the origin (labeled) and three far singletons
    blob = rng.normal(scale=0.1, size=(40, 2))
    far = np.array([[10.0, 0.0], [0.0, 10.0], [-10.0, -10.0]])
    emb = np.vstack([blob, far])
    exclude = np.zeros(43, dtype=bool)
    exclude[:5] = True  # some blob points are labeled
    sel = select_batch("diversity", 3, n_pool=43, embeddings=emb, exclude=exclude)
    assert sorted(sel.indices.tolist()) == [40, 41, 42]
    assert sel.indices[0] == 42  # the farthest from the labeled blob first
    np.testing.assert_allclose(sel.scores[0], np.linalg.norm(emb[42] - emb[:5], axis=1).min())
    picks, _ = k_center_greedy(emb, 2, centers=np.arange(5), candidates=np.arange(40))
    assert set(picks.tolist()) <= set(range(40))


def test_hybrid_takes_uncertain_items_from_different_clusters() -> None:
    # two clusters of uncertain items (and one of confident ones): a batch of 2 must take
    # one from each uncertain cluster, where top-2 entropy would take both from one
    rng = np.random.default_rng(3)
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    emb = np.vstack([c + rng.normal(scale=0.2, size=(20, 2)) for c in centers])
    p = np.empty((60, 2))
    p[:20] = [0.5, 0.5]  # cluster A: most uncertain
    p[20:40] = [0.6, 0.4]  # cluster B: uncertain
    p[40:] = [0.99, 0.01]  # cluster C: confident
    top = select_batch("entropy", 2, n_pool=60, probas=p, random_state=0)
    assert all(i < 20 for i in top.indices)
    for diversity in ("kmeans", "kcenter"):
        sel = select_batch(
            "hybrid",
            2,
            n_pool=60,
            probas=p,
            embeddings=emb,
            random_state=0,
            candidate_factor=20,
            diversity=diversity,
        )
        clusters = sorted(int(i) // 20 for i in sel.indices)
        assert clusters == [0, 1], (diversity, sel.indices)
        assert "diverse pick" in sel.reasons[0]


def test_class_balanced_balances_predicted_classes() -> None:
    n = 300
    pred = np.zeros(n, dtype=np.int64)
    pred[:20] = 1  # class 1 is rare
    pred[20:30] = 2
    sel = select_batch("class_balanced", 30, n_pool=n, predicted=pred, random_state=0)
    counts = np.bincount(pred[sel.indices], minlength=3)
    assert counts.tolist() == [10, 10, 10]
    # with labels so far (class 0: 0, class 1: 3, class 2: 9), the rarest classes fill first:
    # class 0 up to 3, then classes 0 and 1 alternate up to 6 each
    sel = select_batch(
        "class_balanced", 9, n_pool=n, predicted=pred, random_state=0, class_counts=[0, 3, 9]
    )
    assert np.bincount(pred[sel.indices], minlength=3).tolist() == [6, 3, 0]
    # a class with too few items gives its slots to the others
    sel = select_batch("class_balanced", 60, n_pool=n, predicted=pred, random_state=0)
    assert np.bincount(pred[sel.indices], minlength=3).tolist() == [30, 20, 10]


def test_class_balanced_most_uncertain_first_within_class() -> None:
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.45, 0.55], [0.99, 0.01]])
    sel = select_batch("class_balanced", 2, n_pool=5, probas=p)
    assert sorted(sel.indices.tolist()) == [1, 3]


def test_committee_with_abstaining_members_selects_disagreement() -> None:
    n = 6
    model = np.tile([0.9, 0.1], (n, 1))
    lf = np.full((n, 2), NAN)
    lf[4] = [0.0, 1.0]  # the LF votes only on item 4, against the model
    lf[5] = [1.0, 0.0]  # and agrees on item 5
    sel = select_batch("committee", 1, n_pool=n, member_probas=np.stack([model, lf]))
    assert sel.indices.tolist() == [4]
    assert sel.method == "committee (vote_entropy, 2 members)"
    assert sel.reasons[0].startswith("vote entropy 0.693")


def test_selection_is_frozen() -> None:
    sel = select_batch("random", 1, n_pool=3, random_state=0)
    assert isinstance(sel, Selection)
    with pytest.raises(AttributeError):
        sel.indices = np.zeros(0, dtype=np.int64)  # type: ignore[misc]


@settings(max_examples=60, deadline=None)
@given(
    strategy=st.sampled_from(STRATEGIES),
    n=st.integers(1, 40),
    k=st.integers(2, 4),
    budget=st.integers(0, 50),
    seed=st.integers(0, 10_000),
    with_probas=st.booleans(),
)
def test_never_selects_excluded_or_duplicates(
    strategy: str, n: int, k: int, budget: int, seed: int, with_probas: bool
) -> None:
    rng = np.random.default_rng(seed)
    exclude = rng.random(n) < 0.4
    p = rng.dirichlet(np.ones(k), size=n) if with_probas else None
    emb = rng.normal(size=(n, 3))
    members = np.stack([rng.dirichlet(np.ones(k), size=n) for _ in range(3)])
    members[1, rng.random(n) < 0.5] = np.nan
    sel = select_batch(
        strategy,
        budget,
        n_pool=n,
        probas=p,
        embeddings=emb,
        member_probas=members if with_probas else None,
        exclude=exclude,
        random_state=seed,
    )
    idx = sel.indices.tolist()
    assert not exclude[idx].any()
    assert len(set(idx)) == len(idx) == min(budget, int((~exclude).sum()))
    assert len(sel.reasons) == len(idx) == sel.scores.shape[0]


def test_density_weighting_skips_uncertain_outliers() -> None:
    # item 0 is the most uncertain but lies alone, opposite the crowd; density weighting
    # (Settles & Craven 2008) prefers the almost-as-uncertain item inside the crowd
    emb = np.array([[-1.0, 0.0], [1.0, 0.0], [1.0, 0.1], [0.9, -0.1], [1.0, 0.05]])
    p = np.array([[0.5, 0.5], [0.6, 0.4], [0.95, 0.05], [0.95, 0.05], [0.95, 0.05]])
    plain = select_batch("margin", 1, n_pool=5, probas=p, embeddings=emb)
    assert plain.indices.tolist() == [0]
    dense = select_batch("margin", 1, n_pool=5, probas=p, embeddings=emb, density=1.0)
    assert dense.indices.tolist() == [1]
    assert dense.reasons[0].startswith("margin x density^1 ")
    np.testing.assert_allclose(
        score_density(emb)[0],
        (1 + np.mean(emb / np.linalg.norm(emb, axis=1)[:, None] @ [-1, 0])) / 2,
    )
    with pytest.raises(InvalidInput, match="density weighting needs embeddings"):
        select_batch("entropy", 1, n_pool=5, probas=p, density=1.0)


def test_hybrid_switches_to_k_center_for_large_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampling, "KMEANS_MAX_WORK", 10.0)
    n = 100
    p, emb = _probas(n, 2), np.random.default_rng(1).normal(size=(n, 3))
    sel = select_batch("hybrid", 5, n_pool=n, probas=p, embeddings=emb, random_state=0)
    assert sel.method == "hybrid (entropy top 50, then kcenter)"
    assert len(set(sel.indices.tolist())) == 5


def test_lazy_embeddings_are_asked_only_for_the_rows_used() -> None:
    rng = np.random.default_rng(4)
    n = 500
    p, emb = _probas(n, 3, seed=4), rng.normal(size=(n, 8))
    asked: list[np.ndarray] = []

    def lazy(idx: np.ndarray) -> np.ndarray:
        asked.append(np.asarray(idx).copy())
        return emb[idx]

    eager = select_batch("hybrid", 10, n_pool=n, probas=p, embeddings=emb, random_state=0)
    lazy_sel = select_batch("hybrid", 10, n_pool=n, probas=p, embeddings=lazy, random_state=0)
    assert lazy_sel.indices.tolist() == eager.indices.tolist()  # same picks
    (rows,) = asked  # one call, for the 100 candidates only
    assert rows.shape == (100,) and set(eager.indices.tolist()) <= set(rows.tolist())

    asked.clear()  # k-center needs every row: asked once for the whole pool
    diverse = select_batch("diversity", 4, n_pool=n, embeddings=lazy, random_state=0)
    assert len(diverse) == 4 and [a.shape for a in asked] == [(n,)]

    with pytest.raises(InvalidInput, match="embeddings has 3 rows but 100 were asked for"):
        select_batch("hybrid", 10, n_pool=n, probas=p, embeddings=lambda idx: emb[:3])
