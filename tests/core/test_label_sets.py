"""Multi-label kernels: set answers, MASI alpha, per-label kappa, per-label truth inference,
set uncertainty; and the multi-label schema's codec."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labelloop.core.aggregate.multilabel import SET_AGGREGATORS, make_set_aggregator
from labelloop.core.agreement import fleiss_kappa, krippendorff_alpha
from labelloop.core.agreement_sets import agreement_per_label_sets, krippendorff_alpha_sets
from labelloop.core.answers import Answers
from labelloop.core.label_sets import SetAnswers, masi_distance, score_set_uncertainty
from labelloop.core.sampling import select_batch
from labelloop.errors import InvalidInput, NotFound
from labelloop.schema import TASKS, MultiLabelSchema, open_schema, schema_from_dict


def simulate(seed: int, n_items: int = 400, k: int = 4, per_item: int = 4):
    """True sets and answers of 8 annotators with known miss/add rates (3 careless)."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n_items, k)) < 0.3
    truth[np.arange(n_items), rng.integers(0, k, n_items)] = True
    miss = np.array([0.05, 0.1, 0.1, 0.2, 0.2, 0.5, 0.55, 0.6])
    add = np.array([0.02, 0.05, 0.05, 0.1, 0.1, 0.3, 0.35, 0.4])
    item = np.repeat(np.arange(n_items), per_item)
    worker = np.concatenate([rng.choice(8, per_item, replace=False) for _ in range(n_items)])
    u = rng.random((item.shape[0], k))
    present = np.where(truth[item], u >= miss[worker, None], u < add[worker, None])
    return truth, SetAnswers(item, worker, present, n_items, 8)


def test_masi_distance_by_hand() -> None:
    a = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]], dtype=bool)
    b = np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1], [0, 0, 0], [0, 1, 0]], dtype=bool)
    # equal; subset (J 1/2, M 2/3); overlap (J 1/3, M 1/3); both empty; disjoint
    expected = [0.0, 1 - 1 / 3, 1 - 1 / 9, 0.0, 1.0]
    assert masi_distance(a, b).tolist() == pytest.approx(expected)
    assert masi_distance(b, a).tolist() == pytest.approx(expected)


@given(st.integers(0, 10_000))
def test_masi_alpha_of_single_labels_is_nominal_alpha(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 30
    item = np.repeat(np.arange(n), 3)
    labeler = np.tile(np.arange(3), n)
    label = np.where(
        rng.random(3 * n) < 0.6, np.repeat(rng.integers(0, 3, n), 3), rng.integers(0, 3, 3 * n)
    )
    single = Answers(item, labeler, label, n, 3, 3)
    sets = SetAnswers.from_sets(item, labeler, [[int(x)] for x in label], n_classes=3)
    expected = krippendorff_alpha(single, n_boot=0).value
    got = krippendorff_alpha_sets(sets, n_boot=0).value
    assert got == pytest.approx(expected, nan_ok=True)


def test_alpha_sets_counts_partial_overlap_and_has_an_interval() -> None:
    _, answers = simulate(1)
    alpha = krippendorff_alpha_sets(answers, n_boot=200, random_state=0)
    jaccard = krippendorff_alpha_sets(answers, distance="jaccard", n_boot=0)
    assert 0.2 < alpha.value < 0.9 and alpha.ci_low < alpha.value < alpha.ci_high
    assert alpha.metric == "krippendorff_alpha_masi" and jaccard.value != alpha.value
    with pytest.raises(InvalidInput, match="distance"):
        krippendorff_alpha_sets(answers, distance="hamming")


def test_per_label_kappa_is_fleiss_on_present_absent() -> None:
    _, answers = simulate(2)
    rows = agreement_per_label_sets(answers, n_boot=0, min_items=5)
    assert len(rows) == 4
    for k, row in enumerate(rows):
        assert row.fleiss_kappa.value == pytest.approx(
            fleiss_kappa(answers.per_label(k), n_boot=0).value
        )
        assert row.prevalence == pytest.approx(answers.present[:, k].mean())
        assert 0 < row.cohen_kappa_mean.value < 1


def test_deduplicate_keeps_the_last_answer() -> None:
    a = SetAnswers.from_sets([0, 0, 0, 1], [0, 0, 1, 0], [[0], [1], [0, 1], []], n_classes=2)
    kept = a.deduplicate()
    assert kept.present.astype(int).tolist() == [[0, 1], [1, 1], [0, 0]]
    assert a.deduplicate(keep="first").present.astype(int).tolist()[0] == [1, 0]


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_dawid_skene_per_label_beats_majority_vote_with_careless_annotators(seed: int) -> None:
    truth, answers = simulate(seed)
    mv = make_set_aggregator("multi_label_mv").fit(answers)
    assert mv.name == "multi_label_mv.v1"
    mv_acc = (mv.labels_ == truth).mean()
    for name in ("multi_label_ds.v1", "multi_label_pooled_ds.v1"):
        model = make_set_aggregator(name).fit(answers)
        assert (model.labels_ == truth).mean() > mv_acc, name
        assert model.probas_.shape == truth.shape and model.answered_.all()
    pooled = make_set_aggregator("multi_label_pooled_ds.v1").fit(answers)
    # the careless annotators (5-7) get the lowest skills
    assert set(np.argsort(pooled.skills_)[:3].tolist()) == {5, 6, 7}


def test_majority_vote_per_label_by_hand_and_gold_clamps() -> None:
    a = SetAnswers.from_sets(
        [0, 0, 0, 1, 1], [0, 1, 2, 0, 1], [[0], [0, 1], [1], [1], []], n_classes=2
    )
    mv = make_set_aggregator("multi_label_mv.v1").fit(a)
    assert mv.labels_.astype(int).tolist() == [[1, 1], [0, 0]]  # item 1: tie on label 1 -> absent
    clamped = make_set_aggregator("multi_label_ds.v1").fit(a, gold=[[-1, -1], [1, 0]])
    assert clamped.labels_[1].tolist() == [True, False]
    with pytest.raises(InvalidInput, match="partly unknown"):
        make_set_aggregator("multi_label_ds.v1").fit(a, gold=[[1, -1], [-1, -1]])
    with pytest.raises(NotFound, match=r"multi_label_ds\.v1"):
        make_set_aggregator("dawid_skene")
    assert all(n.rsplit(".v", 1)[1].isdigit() for n in SET_AGGREGATORS)


def test_set_uncertainty_and_selection_by_given_scores() -> None:
    p = np.array([[0.99, 0.01], [0.5, 0.9], [0.7, 0.7]])
    h = lambda x: -(x * np.log(x) + (1 - x) * np.log(1 - x))  # noqa: E731
    assert score_set_uncertainty(p).tolist() == pytest.approx(h(p).sum(axis=1).tolist())
    least = score_set_uncertainty(p, method="least_confidence")
    assert least.tolist() == pytest.approx([1 - 0.99 * 0.99, 1 - 0.5 * 0.9, 1 - 0.49])
    scores = score_set_uncertainty(p, method="margin")
    chosen = select_batch("margin", 2, n_pool=3, uncertainty_scores=scores, random_state=0)
    assert chosen.indices.tolist() == [1, 2] and chosen.method == "margin"
    with pytest.raises(InvalidInput, match="shape"):
        select_batch("entropy", 1, n_pool=3, uncertainty_scores=[0.1])


def test_the_task_types_codecs() -> None:
    schema = schema_from_dict(
        {
            "task": "multi_label",
            "name": "n",
            "version": "1",
            "labels": [{"name": x, "description": x} for x in ("a", "b", "c")],
        }
    )
    assert isinstance(schema, MultiLabelSchema) and schema.kernels.label_is_list
    rows, fit = schema.encode([["c", "a"], [], "a", ["a", "zz"], None])
    assert rows.astype(int).tolist()[:2] == [[1, 0, 1], [0, 0, 0]]
    assert fit.tolist() == [True, True, False, False, False]
    assert schema.decode(rows[0]) == ["a", "c"]
    assert schema.check_value(("c", "a")) == ["a", "c"]
    with pytest.raises(InvalidInput, match="expected a list of labels, saw 'a'"):
        schema.check_value("a")
    single = open_schema(["x", "y"])
    codes, ok = single.encode(["y", ["x"], "z"])
    assert codes.tolist() == [1, -1, -1] and ok.tolist() == [True, False, False]
    assert single.decode(1) == "y" and not single.kernels.label_is_list
    with pytest.raises(InvalidInput, match="expected one label"):
        single.check_value(["x"])
    for task, cls in TASKS.items():  # every task type names a registry holding its default
        registry = cls.kernels.aggregator_registry()
        assert cls.kernels.default_aggregator in registry or any(
            n.startswith(cls.kernels.default_aggregator + ".v") for n in registry
        ), task
