"""Disagreement analysis: confused pairs, entropy, deviant labelers, schema gap report."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from labelloop.core import disagreement as dis
from labelloop.core.agreement import coincidence_matrix
from labelloop.core.answers import Answers
from labelloop.formats.answers import read_answers
from tests import realdata


def planted(seed: int = 0) -> Answers:
    """200 items, 3 classes, 8 good labelers (90% right) and labeler 8 who says 2 for 0."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, size=200)
    items, labelers, labels = [], [], []
    for i, t in enumerate(truth):
        for w in rng.choice(9, size=5, replace=False):
            y = t if rng.random() < 0.9 else rng.integers(0, 3)
            if w == 8 and t == 0:
                y = 2
            items.append(i)
            labelers.append(int(w))
            labels.append(int(y))
    return Answers.from_codes(items, labelers, labels, n_classes=3)


def test_confused_pairs_hand_case() -> None:
    # item 0 splits 0/1, item 1 splits 0/1, item 2 splits 1/2, item 3 agrees on 2
    a = Answers.from_codes([0, 0, 1, 1, 2, 2, 3, 3], [0, 1] * 4, [0, 1, 1, 0, 1, 2, 2, 2])
    pairs = dis.find_confused_pairs(a)
    assert [(p.class_a, p.class_b) for p in pairs] == [(0, 1), (1, 2)]
    assert pairs[0].coincidences == pytest.approx(4.0)  # o[0,1] + o[1,0]
    assert pairs[0].share == pytest.approx(2 / 3)
    assert sum(p.share for p in pairs) == pytest.approx(1.0)
    # n = (2, 3, 3), n - 1 = 7: e[0,1] = 2 * 3 / 7, o[0,1] = 2
    assert pairs[0].ratio_to_chance == pytest.approx(2 / (6 / 7))
    assert dis.find_confused_pairs(a, top=1) == pairs[:1]
    by_ratio = dis.find_confused_pairs(a, by="ratio_to_chance")
    assert by_ratio[0].ratio_to_chance >= by_ratio[-1].ratio_to_chance
    with pytest.raises(ValueError, match="by must be"):
        dis.find_confused_pairs(a, by="volume")  # type: ignore[arg-type]


def test_no_disagreement_no_pairs() -> None:
    a = Answers.from_codes([0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 1, 1])
    assert dis.find_confused_pairs(a) == ()


def test_confused_pairs_follow_the_coincidence_matrix() -> None:
    a = planted()
    o = coincidence_matrix(a)
    pairs = dis.find_confused_pairs(a, top=10)
    off = o.sum() - np.trace(o)
    for p in pairs:
        assert p.coincidences == pytest.approx(o[p.class_a, p.class_b] * 2)
        assert p.share == pytest.approx(p.coincidences / off)
    # the planted confusion 0 -> 2 is the top pair
    assert (pairs[0].class_a, pairs[0].class_b) == (0, 2)


def test_entropy_of_votes_and_posteriors() -> None:
    a = Answers.from_codes([0, 0, 1, 1, 1, 1], [0, 1, 0, 1, 2, 3], [0, 0, 0, 1, 0, 1], n_items=3)
    h = dis.score_item_entropy(a)
    assert h[0] == 0.0 and h[1] == pytest.approx(np.log(2)) and np.isnan(h[2])
    probas = np.array([[0.5, 0.5], [1.0, 0.0], [0.2, 0.8]])
    hp = dis.score_item_entropy(probas=probas)
    assert hp.tolist() == pytest.approx([np.log(2), 0.0, -(0.2 * np.log(0.2) + 0.8 * np.log(0.8))])
    top = dis.find_uncertain_items(a, top=5)
    assert top.items.tolist() == [1, 0]  # item 2 has no answers
    assert top.votes[0].tolist() == [2.0, 2.0]
    assert top.normalized_entropy[0] == pytest.approx(1.0)
    with_post = dis.find_uncertain_items(a, probas=probas, top=1)
    assert with_post.items.tolist() == [0]
    with pytest.raises(ValueError, match="nonnegative"):
        dis.score_item_entropy(probas=-probas)
    with pytest.raises(ValueError, match="give answers or probas"):
        dis.score_item_entropy()


def test_vote_entropy_matches_crowdkit_uncertainty() -> None:
    import pandas as pd
    from crowdkit.metrics.data import uncertainty

    path = realdata.crowd("weather_amt") / "answers.csv"
    table = read_answers(path)
    a = table.answers.deduplicate(keep="first")
    a = Answers(
        *(x[a.item < 100] for x in (a.item, a.labeler, a.label)),
        a.n_items,
        a.n_labelers,
        a.n_classes,
    )
    frame = pd.DataFrame(
        {
            "worker": np.asarray(table.labeler_ids)[a.labeler],
            "task": np.asarray(table.item_ids)[a.item],
            "label": np.asarray(table.label_space.labels)[a.label],
        }
    )
    ref = uncertainty(frame, compute_by="task", aggregate=False)
    ours = dis.score_item_entropy(a)
    index = {t: i for i, t in enumerate(table.item_ids)}
    got = np.asarray([ours[index[t]] for t in ref.index])
    np.testing.assert_allclose(got, ref.to_numpy(dtype=float), atol=1e-6)


def test_labeler_confusions_leave_one_out() -> None:
    a = Answers.from_codes([0, 0, 0], [0, 1, 2], [0, 0, 1])
    conf, n = dis.labeler_confusions(a)
    # labeler 0: others said (0, 1) -> half 0, half 1 reference mass on answer 0
    assert conf[0].tolist() == [[0.5, 0.0], [0.5, 0.0]]
    assert conf[2].tolist() == [[0.0, 1.0], [0.0, 0.0]]
    assert n.tolist() == [1, 1, 1]
    conf_p, _ = dis.labeler_confusions(a, probas=np.array([[0.25, 0.75]]))
    assert conf_p[2].tolist() == [[0.0, 0.25], [0.0, 0.75]]
    with pytest.raises(ValueError, match="probas must have shape"):
        dis.labeler_confusions(a, probas=np.ones((2, 2)))


def test_deviant_labeler_found_and_shrinkage_discounts_low_volume() -> None:
    a = planted()
    dev = dis.find_deviant_labelers(a, top=3)
    assert dev.labelers[0] == 8
    assert dev.worst_class[0] == 0 and dev.over_given[0] == 2
    assert dev.given_rate[0] > 0.5 > dev.group_rate[0]
    assert np.all(np.diff(dev.deviation) <= 0)
    assert dev.pooled.sum(axis=1) == pytest.approx(np.ones(3))
    # the same pattern with only a few answers ranks lower under shrinkage
    keep = (a.labeler != 8) | (a.item < 15)
    few = Answers(a.item[keep], a.labeler[keep], a.label[keep], a.n_items, a.n_labelers, 3)
    d_many = dis.find_deviant_labelers(a, shrinkage=20.0, top=9)
    d_few = dis.find_deviant_labelers(few, shrinkage=20.0, top=9)
    many_8 = d_many.deviation[d_many.labelers.tolist().index(8)]
    few_8 = d_few.deviation[d_few.labelers.tolist().index(8)]
    assert few_8 < many_8
    unshrunk = dis.find_deviant_labelers(few, shrinkage=0.0, top=9)
    assert few_8 < unshrunk.deviation[unshrunk.labelers.tolist().index(8)]
    assert len(dis.find_deviant_labelers(a, min_answers=10_000)) == 0
    with pytest.raises(ValueError, match="shrinkage"):
        dis.find_deviant_labelers(a, shrinkage=-1.0)


def test_schema_gap_report_record_and_text() -> None:
    a = planted()
    report = dis.schema_gap_report(a, labels=["cat", "dog", "fox"], top=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.labels = ("x",)  # type: ignore[misc]
    assert (report.confused_pairs[0].class_a, report.confused_pairs[0].class_b) == (0, 2)
    text = report.to_text(labeler_ids=[f"w{i}" for i in range(9)])
    assert "Label pairs that need guideline edge-case examples:" in text
    assert "1. 'cat' vs 'fox'" in text
    assert "'w8'" in text
    assert "Most ambiguous items" in text
    assert report.per_label.alpha.shape == (3,)
    with pytest.raises(ValueError, match="3 names"):
        dis.schema_gap_report(a, labels=["cat"])


def test_schema_gap_report_on_real_set_is_fast_and_sane() -> None:
    path = realdata.shared("crowd", "adult", "answers.csv")  # 92,721 answers: full data only
    table = read_answers(path)
    a = table.answers.deduplicate()
    report = dis.schema_gap_report(a, labels=list(table.label_space.labels), top=5)
    assert len(report.confused_pairs) == 5
    assert len(report.uncertain_items) == 5
    assert len(report.deviant_labelers) == 5
    assert np.all(report.deviant_labelers.n_answers >= 10)
    text = report.to_text(item_ids=table.item_ids, labeler_ids=table.labeler_ids)
    assert "http://" in text
