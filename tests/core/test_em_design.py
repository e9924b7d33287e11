"""The sparse design matrix is the same through scipy's bucket pass and the sort fallback."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.core.aggregate import _em
from labelloop.core.answers import Answers


def test_sort_fallback_builds_the_same_design(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    n = 5000
    answers = Answers.from_codes(
        rng.integers(0, 700, n),
        rng.integers(0, 50, n),
        rng.integers(0, 4, n),
        n_items=800,
        n_labelers=50,
        n_classes=4,
    )
    fast = _em.Design.build(answers)
    monkeypatch.setattr(_em, "_coo_tocsr", None)
    slow = _em.Design.build(answers)
    assert np.array_equal(fast.a.indptr, slow.a.indptr)
    assert np.array_equal(fast.a.indices, slow.a.indices)
    assert np.array_equal(fast.a.data, slow.a.data)
    assert np.array_equal(fast.answered, slow.answered)
