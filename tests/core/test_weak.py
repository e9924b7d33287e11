"""LF analysis on hand-checked matrices."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.core.answers import Answers
from labelloop.core.weak import analyze_lfs, votes_from_matrix


def test_hand_checked_matrix() -> None:
    # items x LFs, -1 = abstain
    matrix = [
        [1, 1, -1],  # agree
        [1, 0, -1],  # conflict between LF0 and LF1
        [-1, -1, 0],  # LF2 alone
        [0, -1, 0],  # agree
        [-1, -1, -1],  # uncovered
    ]
    gold = [1, 0, 0, -1, 1]
    s = analyze_lfs(votes_from_matrix(matrix, 2), gold)
    assert s.n_votes.tolist() == [3, 2, 2]
    assert s.coverage.tolist() == pytest.approx([3 / 5, 2 / 5, 2 / 5])
    # overlap: LF0 items 0,1,3 all shared; LF1 items 0,1 shared; LF2 item 3 shared
    assert s.overlap.tolist() == pytest.approx([3 / 5, 2 / 5, 1 / 5])
    # conflict: only item 1 (LF0 vs LF1)
    assert s.conflict.tolist() == pytest.approx([1 / 5, 1 / 5, 0.0])
    assert s.polarity == ((0, 1), (0, 1), (0,))
    # LF0: item0 1==1 right, item1 1!=0 wrong (item3 has no gold) -> 1/2
    # LF1: item0 right, item1 right -> 1; LF2: item2 right -> 1
    assert s.n_gold.tolist() == [2, 2, 1]
    assert s.empirical_accuracy.tolist() == pytest.approx([0.5, 1.0, 1.0])
    assert s.total_coverage == pytest.approx(4 / 5)


def test_without_gold_accuracy_is_nan_and_abstains_ignored() -> None:
    a = Answers.from_codes([0, 1, 1], [0, 0, 1], [1, -1, 0], n_items=3, n_classes=2)
    s = analyze_lfs(a)
    assert np.isnan(s.empirical_accuracy).all()
    assert s.n_votes.tolist() == [1, 1]
    assert s.overlap.tolist() == [0.0, 0.0]


def test_bad_shapes() -> None:
    with pytest.raises(ValueError, match="gold must have shape"):
        analyze_lfs(votes_from_matrix([[1]], 2), [1, 0])
    with pytest.raises(ValueError, match="2-D"):
        votes_from_matrix([1, 0], 2)
