"""Labeling-function analysis on the sparse label matrix.

LF votes are :class:`~labelloop.core.answers.Answers` whose labelers are LFs; abstains are
not stored (an LF that did not vote on an item simply has no answer there). Per LF:

- ``coverage``: share of items it votes on;
- ``overlap``: share of items where it votes and at least one other LF votes too;
- ``conflict``: share of items where it votes and another LF votes a different class;
- ``polarity``: the sorted classes it votes;
- ``empirical_accuracy``: share of its votes equal to gold, on gold items it voted on
  (NaN without such items), with ``n_gold`` the number of them.

Examples
--------
>>> from labelloop.core.answers import Answers
>>> votes = Answers.from_codes([0, 0, 1, 2], [0, 1, 0, 1], [1, 0, 1, 0], n_items=4)
>>> s = analyze_lfs(votes, gold=[1, 1, -1, 0])
>>> s.coverage.tolist(), s.conflict.tolist(), s.empirical_accuracy.tolist()
([0.5, 0.5], [0.25, 0.25], [1.0, 0.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from labelloop.core.answers import ABSTAIN, Answers, FloatArray, IntArray
from labelloop.errors import InvalidInput


@dataclass(frozen=True)
class LFSummary:
    """Per-LF analysis; every array has shape (n_labelers,) except ``polarity``."""

    coverage: FloatArray
    overlap: FloatArray
    conflict: FloatArray
    polarity: tuple[tuple[int, ...], ...]
    n_votes: IntArray
    empirical_accuracy: FloatArray
    n_gold: IntArray
    total_coverage: float
    """Share of items with at least one vote."""


def analyze_lfs(votes: Answers, gold: npt.ArrayLike | None = None) -> LFSummary:
    """Coverage, overlap, conflict, polarity and gold accuracy of each LF.

    Parameters
    ----------
    votes : Answers
        LF votes (labelers = LFs); abstains are ignored; one vote per (item, LF) is
        expected (the last one counts otherwise).
    gold : array of int, shape (n_items,), optional
        Known classes, ``ABSTAIN`` (-1) for unknown.

    Returns
    -------
    LFSummary

    Examples
    --------
    >>> from labelloop.core.answers import Answers
    >>> v = Answers.from_codes([0, 0, 1], [0, 1, 1], [1, 1, 0], n_items=2)
    >>> analyze_lfs(v).overlap.tolist(), analyze_lfs(v).polarity
    ([0.5, 0.5], ((1,), (0, 1)))
    """
    a = votes.without_abstains().deduplicate(keep="last")
    n, m, k = a.n_items, a.n_labelers, a.n_classes
    denom = float(max(n, 1))
    n_votes = np.bincount(a.labeler, minlength=m).astype(np.int64)
    per_item = np.bincount(a.item, minlength=n)
    counts = a.label_counts()  # (n, k)
    # other LFs voting on the same item, and those voting another class
    others = per_item[a.item] - 1
    disagree = others + 1 - counts[a.item, a.label]
    overlap = np.bincount(a.labeler, weights=(others > 0), minlength=m) / denom
    conflict = np.bincount(a.labeler, weights=(disagree > 0), minlength=m) / denom
    used = np.zeros((m, max(k, 1)), dtype=bool)
    used[a.labeler, a.label] = True
    polarity = tuple(tuple(int(c) for c in np.flatnonzero(row)) for row in used)
    n_gold = np.zeros(m, dtype=np.int64)
    accuracy = np.full(m, np.nan)
    if gold is not None:
        g = np.asarray(gold, dtype=np.int64)
        if g.shape != (n,):
            raise InvalidInput(f"gold must have shape ({n},), got {g.shape}")
        known = g[a.item] != ABSTAIN
        n_gold = np.bincount(a.labeler[known], minlength=m).astype(np.int64)
        right = np.bincount(
            a.labeler[known], weights=(a.label[known] == g[a.item[known]]), minlength=m
        )
        has = n_gold > 0
        accuracy[has] = right[has] / n_gold[has]
    return LFSummary(
        coverage=n_votes / denom,
        overlap=np.asarray(overlap, dtype=np.float64),
        conflict=np.asarray(conflict, dtype=np.float64),
        polarity=polarity,
        n_votes=n_votes,
        empirical_accuracy=accuracy,
        n_gold=n_gold,
        total_coverage=float((per_item > 0).sum() / denom),
    )


def votes_from_matrix(matrix: npt.ArrayLike, n_classes: int) -> Answers:
    """Sparse votes from a dense (n_items, n_lfs) matrix with ``ABSTAIN`` entries.

    For data that ships dense LF outputs (e.g. WRENCH ``weak_labels``).

    Examples
    --------
    >>> votes_from_matrix([[1, -1], [-1, 0]], 2).label.tolist()
    [1, 0]
    """
    mat = np.asarray(matrix, dtype=np.int64)
    if mat.ndim != 2:
        raise InvalidInput(f"matrix must be 2-D (items x LFs), got shape {mat.shape}")
    i, j = np.nonzero(mat != ABSTAIN)
    return Answers(i, j, mat[i, j], mat.shape[0], mat.shape[1], n_classes)
