"""Label model: single-polarity LFs, gold clamping, class balance, WRENCH youtube vs MV."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from labelloop.core.aggregate import make_aggregator
from labelloop.core.label_model import (
    LabelModel,
    connected_components,
    lf_group_weights,
    score_labels,
    select_label_model,
)
from labelloop.core.weak import votes_from_matrix
from tests import realdata


def _wrench(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """LF votes and gold of a WRENCH split: the committed copy (tests/data/ws_small, text cut,
    gzipped) when there is one, else the full set's ``{split}.jsonl``."""
    root = realdata.dataset("ws", name)
    small = root / f"{split}.jsonl.gz"
    if small.is_file():
        with gzip.open(small, "rt", encoding="utf-8") as f:
            rows = [json.loads(x) for x in f]
    else:
        with (root / f"{split}.jsonl").open(encoding="utf-8") as f:
            rows = [json.loads(x) for x in f]
    return (
        np.array([r["weak_labels"] for r in rows], dtype=np.int64),
        np.array([r["label"] for r in rows], dtype=np.int64),
    )


def test_single_polarity_lfs_synthetic() -> None:
    """Planted model: 3 precise spam-only LFs, 1 noisy ham-only LF, firing independently given
    the class (the literal model, ``abstain_model="lf"``): firing rates recovered."""
    rng = np.random.default_rng(0)
    n = 4000
    y = (rng.random(n) < 0.4).astype(np.int64)  # 1 = spam
    cols = []
    for fire_pos, fire_neg in ((0.5, 0.02), (0.4, 0.03), (0.3, 0.01)):
        p = np.where(y == 1, fire_pos, fire_neg)
        cols.append(np.where(rng.random(n) < p, 1, -1))
    p = np.where(y == 0, 0.6, 0.5)  # a weak ham LF that fires on a lot of spam too
    cols.append(np.where(rng.random(n) < p, 0, -1))
    votes = votes_from_matrix(np.stack(cols, axis=1), 2)
    lm = LabelModel(max_iter=100, abstain_weight=1.0, abstain_model="lf").fit(votes)
    mv = make_aggregator("majority_vote.v1").fit(votes)
    mv_pred = np.where(mv.labels_ < 0, 0, mv.labels_)
    assert (lm.predict(votes) == y).mean() >= (mv_pred == y).mean()
    # planted P(fire | own class) and P(fire | other class) are recovered
    assert lm.theta_[:3, 1] == pytest.approx([0.5, 0.4, 0.3], abs=0.05)
    assert lm.phi_[:3, 1] == pytest.approx([0.02, 0.03, 0.01], abs=0.03)
    assert lm.theta_[3, 0] == pytest.approx(0.6, abs=0.05)
    assert lm.phi_[3, 0] == pytest.approx(0.5, abs=0.05)
    assert lm.class_balance_[1] == pytest.approx(0.4, abs=0.05)
    # estimated accuracy when voting ranks the noisy ham LF last
    assert int(np.argmin(lm.skills_)) == 3
    assert lm.probas_.shape == (n, 2)
    assert np.allclose(lm.probas_.sum(axis=1), 1.0)


@pytest.mark.parametrize("max_iter", [1, 100])
def test_class_abstain_evidence_handles_disjoint_sibling_lfs(max_iter: int) -> None:
    """Three precise class-1 LFs each catch one phrasing of class 1 and never fire together.
    Per-LF abstain evidence counts two silent siblings against class 1 whenever one fires;
    per-class evidence ("no LF voted 1") does not, and labels clearly better."""
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.choice(2, size=n, p=[0.6, 0.4])
    phrasing = rng.integers(0, 3, size=n)
    cols = [
        np.where(
            ((y == 1) & (phrasing == s) & (rng.random(n) < 0.9)) | (rng.random(n) < 0.004), 1, -1
        )
        for s in range(3)
    ]
    cols.append(np.where(rng.random(n) < np.where(y == 0, 0.7, 0.3), 0, -1))  # broad class-0 LF
    votes = votes_from_matrix(np.stack(cols, axis=1), 2)
    acc = {}
    for abstain_model in ("class", "lf"):
        lm = LabelModel(
            max_iter=max_iter,
            abstain_weight=1.0,
            prior="uninformative",
            smoothing=10.0,
            abstain_model=abstain_model,  # type: ignore[arg-type]
        ).fit(votes)
        acc[abstain_model] = float((lm.predict(votes) == y).mean())
        if abstain_model == "class":
            # P(some LF votes 1 | class 1): planted 0.9, read off soft labels
            assert lm.class_voted_[1, 1] > 0.65
            assert lm.class_voted_[1, 1] > 4 * lm.class_voted_[1, 0]
    assert acc["class"] > 0.75
    assert acc["class"] >= acc["lf"] + 0.05
    with pytest.raises(ValueError, match="abstain_model"):
        LabelModel(abstain_model="both").fit(votes)  # type: ignore[arg-type]


def test_default_keeps_per_lf_abstains_and_selection_uses_per_class() -> None:
    from labelloop.core.label_model import SELECTION_GRID

    assert make_aggregator("label_model").params()["abstain_model"] == "lf"
    assert {c["abstain_model"] for c in SELECTION_GRID} == {"class"}


def test_wrench_trec_precise_lf_stays_an_indicator_of_its_class() -> None:
    """WRENCH TREC train votes (68 LFs; labels only to score, never to fit). Its NUM rules
    split the phrasings: LF 36 is 99 % right on train, and the 8/39/63/64 group stays silent
    where it fires. Per-LF abstain evidence counts that silence against NUM (with the valid
    split's class balance, 100 EM steps drive LF 36 to theta 0.002 < phi 0.018); here, with
    a uniform balance, it scores 0.44 on train against 0.58 with per-class evidence."""
    ltr, ytr = _wrench("wrench_trec", "train")
    votes = votes_from_matrix(ltr, 6)
    alone = np.full((1, ltr.shape[1]), -1)
    alone[0, 36] = 5
    acc = {}
    for abstain_model in ("class", "lf"):
        lm = LabelModel(
            class_balance="uniform",
            max_iter=100,
            abstain_weight=1.0,
            prior="uninformative",
            smoothing=10.0,
            correlation_threshold=0.5,
            abstain_model=abstain_model,  # type: ignore[arg-type]
        ).fit(votes)
        acc[abstain_model] = float((lm.predict(votes) == ytr).mean())
        if abstain_model == "class":
            assert lm.predict(votes_from_matrix(alone, 6))[0] == 5
            assert lm.theta_[36, 5] > 5 * lm.phi_[36, 5]
    assert acc["class"] >= acc["lf"] + 0.08


def test_gold_is_clamped_and_balance_given() -> None:
    votes = votes_from_matrix([[1, -1], [0, 0], [-1, -1]], 2)
    lm = LabelModel(class_balance=[0.2, 0.8]).fit(votes, gold={1: 1})
    assert lm.labels_[1] == 1
    assert lm.probas_[1].tolist() == [0.0, 1.0]
    assert lm.class_balance_.tolist() == pytest.approx([0.2, 0.8])
    assert lm.labels_[2] == -1  # no votes, no gold: abstains (aggregator contract)
    assert lm.predict(votes)[2] == 1  # predict: the class balance decides
    with pytest.raises(ValueError, match="class_balance"):
        LabelModel(class_balance=[1.0]).fit(votes)
    with pytest.raises(ValueError, match="class_balance"):
        LabelModel(class_balance="often").fit(votes)


def test_predict_proba_checks_shape() -> None:
    lm = LabelModel().fit(votes_from_matrix([[1, 0], [1, -1]], 2))
    with pytest.raises(ValueError, match="fitted on 2"):
        lm.predict_proba(votes_from_matrix([[1, 0, 1]], 2))


def test_score_labels() -> None:
    assert score_labels([1, 0, 1, 1], [1, 1, 0, 1]) == 0.5
    assert score_labels([1, 0, 1, 1], [1, 1, 0, 1], metric="f1") == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        score_labels([1], [1], metric="auc")


def test_wrench_youtube_beats_majority_vote() -> None:
    ltr, _ = _wrench("wrench_youtube", "train")
    lva, yva = _wrench("wrench_youtube", "valid")
    lte, yte = _wrench("wrench_youtube", "test")
    train, dev, test = (votes_from_matrix(m, 2) for m in (ltr, lva, lte))
    best, scores = select_label_model(train, dev, yva)
    assert len(scores) > 1
    mv = make_aggregator("majority_vote.v1").fit(test)
    mv_acc = score_labels(yte, np.where(mv.labels_ < 0, 0, mv.labels_))
    lm_acc = score_labels(yte, best.predict(test))
    assert lm_acc >= mv_acc
    assert lm_acc > 0.8


def test_duplicated_lfs_share_their_evidence() -> None:
    rng = np.random.default_rng(3)
    n = 500
    y = rng.integers(0, 2, size=n)
    good = np.where(rng.random(n) < 0.6, y, -1)
    noisy = np.where(rng.random(n) < 0.5, 1 - y, -1)  # a bad LF, copied four times
    matrix = np.stack([good] + [noisy] * 4, axis=1)
    votes = votes_from_matrix(matrix, 2)
    assert lf_group_weights(votes, 0.5).tolist() == [1.0, 0.25, 0.25, 0.25, 0.25]
    assert lf_group_weights(votes, None).tolist() == [1.0] * 5
    plain = LabelModel(class_balance="uniform").fit(votes)
    grouped = LabelModel(class_balance="uniform", correlation_threshold=0.5).fit(votes)
    assert (grouped.labels_ == y).mean() >= (plain.labels_ == y).mean()


@pytest.mark.parametrize("abstain_model", ["class", "lf"])
def test_uninformative_prior_keeps_a_rare_class(abstain_model: str) -> None:
    """A 3 % class with two fair LFs: the accurate prior (theta pulled to 0.9 on ~45 items)
    reads its LFs as near-certain and EM shrinks its balance (with per-LF abstain evidence,
    to ~0: the class disappears); centred on the LFs' firing rates, the class survives."""
    rng = np.random.default_rng(0)
    n, k = 1500, 3
    y = rng.choice(k, size=n, p=[0.55, 0.42, 0.03])
    fire = {0: (0.5, 0.03), 1: (0.5, 0.03), 2: (0.4, 0.01)}  # P(fires | own / other class)
    cols = [
        np.where(rng.random(n) < np.where(y == c, fire[c][0], fire[c][1]), c, -1)
        for c in range(k)
        for _ in range(2)
    ]
    votes = votes_from_matrix(np.stack(cols, axis=1), k)
    fits = {
        prior: LabelModel(
            prior=prior,
            smoothing=10.0,
            max_iter=100,
            abstain_weight=1.0,
            abstain_model=abstain_model,  # type: ignore[arg-type]
        ).fit(votes)
        for prior in ("accurate", "uninformative")
    }
    accurate, uninformative = fits["accurate"], fits["uninformative"]
    assert uninformative.class_balance_[2] > 0.02
    rare = y == 2
    assert (uninformative.predict(votes)[rare] == 2).mean() > 0.4
    if abstain_model == "lf":
        assert (accurate.predict(votes) == 2).sum() < 10
        assert (uninformative.predict(votes) == y).mean() > (accurate.predict(votes) == y).mean()
    with pytest.raises(ValueError, match="prior"):
        LabelModel(prior="flat").fit(votes)  # type: ignore[arg-type]


def test_wrench_chemprot_selected_on_half_of_valid() -> None:
    """chemprot (10 classes, several under 5 %; no train split, so the votes fitted are the
    valid split's, without labels): select on one stratified half of valid, score on the
    other; clearly above majority vote (with pseudo-counts at 0.9 accuracy EM drove the rare
    classes' balance to ~0 and the margin was 0.04-0.07)."""
    lva, yva = _wrench("wrench_chemprot", "valid")
    k = 10
    rng = np.random.default_rng(0)
    first = np.zeros(yva.size, dtype=bool)
    for c in np.unique(yva):
        idx = rng.permutation(np.flatnonzero(yva == c))
        first[idx[: idx.size // 2]] = True
    fit_votes = votes_from_matrix(lva, k)
    mv = make_aggregator("majority_vote.v1").fit(fit_votes)
    mv_pred = np.where(mv.labels_ < 0, 0, mv.labels_)
    for sel, ev in ((first, ~first), (~first, first)):
        best, _ = select_label_model(fit_votes, votes_from_matrix(lva[sel], k), yva[sel])
        ours = score_labels(yva[ev], best.predict(votes_from_matrix(lva[ev], k)))
        assert ours >= score_labels(yva[ev], mv_pred[ev]) + 0.08


def test_connected_components_match_scipy_on_random_and_chain_graphs() -> None:
    import scipy.sparse as sp
    from scipy.sparse import csgraph

    rng = np.random.default_rng(0)
    for trial in range(200):
        m = int(rng.integers(1, 80))
        if trial % 4 == 0:  # a long chain in random order: the slowest case for propagation
            linked = np.eye(m, dtype=bool)
            path = rng.permutation(m)
            linked[path[:-1], path[1:]] = linked[path[1:], path[:-1]] = True
        else:
            linked = rng.random((m, m)) < rng.random() * 0.15
            linked |= linked.T
            np.fill_diagonal(linked, True)
        ours = connected_components(linked)
        n, ref = csgraph.connected_components(sp.csr_matrix(linked), directed=False)
        assert len(set(ours.tolist())) == n
        assert len(set(zip(ours.tolist(), ref.tolist(), strict=True))) == n  # same partition
        assert all(ours[i] == np.flatnonzero(ours == ours[i]).min() for i in range(m))


def test_docstring_examples_run() -> None:
    import doctest

    from labelloop.core import label_model

    result = doctest.testmod(label_model, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 5
