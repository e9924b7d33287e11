"""Drift detection and label-error scores (core.audit)."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.core.answers import Answers
from labelloop.core.audit import find_drift, match_probability, score_label_errors
from labelloop.errors import InvalidInput


def _streams(
    rng: np.random.Generator, accuracies: list[float], n: int, drop: tuple[int, float] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interleaved binary streams; labeler ``drop[0]`` falls to ``drop[1]`` halfway."""
    a = np.repeat(np.array(accuracies)[:, None], n, axis=1)
    if drop is not None:
        a[drop[0], n // 2 :] = drop[1]
    gold = rng.random(a.shape) < 0.1
    c = np.where(gold, 1.0, rng.uniform(0.7, 0.95, size=a.shape))
    matched = rng.random(a.shape) < match_probability(a, c, 2)
    labeler = np.repeat(np.arange(len(accuracies)), n).reshape(a.shape)
    order = np.argsort(np.tile(np.arange(n), (len(accuracies), 1)).ravel(), kind="stable")
    return labeler.ravel()[order], matched.ravel()[order], c.ravel()[order]


def test_drift_finds_the_dropping_labeler_after_the_change_and_spares_the_rest() -> None:
    rng = np.random.default_rng(3)
    accs = [0.9, 0.9, 0.8, 0.7, 0.6, 0.95]
    lab, ok, c = _streams(rng, accs, 600, drop=(0, 0.6))
    alerts = find_drift(lab, ok, c, n_classes=2, random_state=1)
    assert [a.labeler for a in alerts] == [0]
    a = alerts[0]
    assert 300 <= a.end < 300 + 200  # after the change, within 200 answers
    assert a.start < a.end and a.statistic >= a.threshold
    assert a.window_accuracy < a.baseline_accuracy - 0.15
    assert a.gold_total + a.consensus_total == a.end - a.start + 1
    assert a.n_monitored == len(accs) and 0 < a.p_value < a.alpha
    assert "accuracy dropped" in a.describe()


def test_drift_false_alarms_on_stable_labelers_stay_near_the_target() -> None:
    rng = np.random.default_rng(11)
    alarms = 0
    runs = 15
    for seed in range(runs):
        accs = list(rng.uniform(0.55, 0.95, size=8))
        lab, ok, c = _streams(rng, accs, 500, drop=None)
        alarms += len(find_drift(lab, ok, c, n_classes=2, alpha=0.1, random_state=seed))
    # family-wise target 0.1 per run; allow sampling noise, but not a per-labeler leak
    assert alarms <= 5


def test_drift_skips_short_streams_and_rejects_bad_input() -> None:
    assert find_drift(np.zeros(50, int), np.ones(50, bool), np.ones(50), n_classes=2) == ()
    with pytest.raises(InvalidInput, match="reliability must lie in"):
        find_drift(np.zeros(3, int), np.ones(3, bool), np.array([1.0, 0.0, 1.0]), n_classes=2)
    with pytest.raises(InvalidInput, match="one length"):
        find_drift(np.zeros(3, int), np.ones(2, bool), np.ones(3), n_classes=2)
    with pytest.raises(InvalidInput, match="n_classes"):
        find_drift(np.zeros(3, int), np.ones(3, bool), np.ones(3), n_classes=1)


def test_label_error_score_ranks_injected_flips_first() -> None:
    rng = np.random.default_rng(0)
    n, k = 2000, 4
    truth = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 2.5 * np.eye(k)[truth]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    given = truth.copy()
    flip = rng.random(n) < 0.1
    given[flip] = (truth[flip] + rng.integers(1, k, flip.sum())) % k
    s = score_label_errors(given, p)
    top = np.argsort(-s)[: flip.sum()]
    assert flip[top].mean() > 0.8
    assert np.all((s >= 0) & (s <= 1))


def test_label_error_score_trusts_reliable_annotators_over_the_model() -> None:
    # item 0: the model says 1, the given label is 0, and three reliable labelers say 0
    rng = np.random.default_rng(1)
    n, k, w = 300, 2, 6
    truth = rng.integers(0, k, n)
    acc = np.array([0.95, 0.95, 0.95, 0.55, 0.55, 0.55])
    item = np.repeat(np.arange(n), w)
    who = np.tile(np.arange(w), n)
    right = rng.random(n * w) < acc[who]
    label = np.where(right, truth[item], 1 - truth[item])
    truth[0] = 0
    label[:3] = 0  # the reliable ones say 0
    label[3:6] = 1  # the unreliable ones say 1
    answers = Answers.from_codes(item, who, label, n_classes=k)
    p = np.full((n, k), 0.3)
    p[np.arange(n), truth] = 0.7
    p[0] = [0.2, 0.8]
    given = truth.copy()
    model_only = score_label_errors(given, p)
    crowd = score_label_errors(given, p, answers=answers)
    assert int(np.argmax(model_only)) == 0  # the model alone: the likeliest error
    assert crowd[0] < 0.01 < model_only[0]  # the reliable labelers overrule it


def test_label_error_score_rejects_bad_input() -> None:
    with pytest.raises(InvalidInput, match="class codes"):
        score_label_errors([0, 2], np.full((2, 2), 0.5))
    with pytest.raises(InvalidInput, match="shape"):
        score_label_errors([0, 1, 0], np.full((2, 2), 0.5))
    answers = Answers.from_codes([0], [0], [0], n_items=3, n_classes=2)
    with pytest.raises(InvalidInput, match="answers cover 3 items"):
        score_label_errors([0, 1], np.full((2, 2), 0.5), answers=answers)
