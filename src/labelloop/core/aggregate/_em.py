"""EM engine shared by the confusion-matrix family (Dawid-Skene, one-coin, MACE, auto).

In all of these the probability of an answer depends only on the labeler, the given label
and the true class: ``P(label = y | true = k, labeler = w) = pi[w, k, y]``. The E-step is
then a sparse matrix product ``A @ log_pi`` where ``A`` (shape (n_items, n_labelers * K))
has one entry per answer at column ``labeler * K + label``: for every item it sums the
gathered log confusion entries of its answers. The M-step's sufficient statistics are
``A.T @ T`` (expected counts of (labeler, given, true)). Both are single passes over the
answers in compiled code; no dense items x labelers matrix, no Python loop over answers.

Speed: posteriors are kept class-major (shape (K, n_items), contiguous per class) so the
row softmax runs on contiguous vectors, and the iterations run in float32 (half the memory
traffic); log-likelihoods are accumulated in float64 and the reported posteriors are
returned as float64.

No self-grading: an item whose only answer is one labeler's (and that has no gold) is left
out of the fit (M-step counts, class mass and the log-likelihood; its posterior is still
computed). Its posterior is that labeler's own vote, so counting it would credit the labeler
with agreeing with itself (a model labeler that votes on every item, alone on most of them,
would get a skill near 1 and then outweigh everyone else). When every item is such an item,
they all count (there is nothing else to learn from).

Convergence is tested on the quantity EM actually increases: the (penalized) marginal
log-likelihood ``sum_i log sum_k p_k prod_answers pi[w, k, y]`` (with clamped items at
their gold class) plus the log prior of the parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

try:  # scipy's private linear-time COO -> CSR bucket pass; a stable sort does the same
    from scipy.sparse._sparsetools import coo_tocsr as _coo_tocsr
except ImportError:  # pragma: no cover - private API moved in a future scipy
    _coo_tocsr = None

from labelloop.core.aggregate._base import FitInput
from labelloop.core.answers import Answers, FloatArray


def _csr_by_sort(
    item: npt.NDArray[np.int64],
    col: npt.NDArray[np.int64],
    n_items: int,
    indptr: npt.NDArray[Any],
    indices: npt.NDArray[Any],
    data: npt.NDArray[np.float32],
) -> None:
    """CSR arrays of ones at (item, col), rows in answer order (fills the given arrays)."""
    order = np.argsort(item, kind="stable")
    indptr[0] = 0
    np.cumsum(np.bincount(item, minlength=n_items), out=indptr[1:])
    indices[:] = col[order]
    data[:] = 1.0


@dataclass(frozen=True)
class Design:
    """Sparse incidence of answers: rows = items, columns = ``labeler * K + label``."""

    a: sp.csr_matrix  # float32 ones, shape (n_items, n_labelers * K)
    n_items: int
    n_labelers: int
    n_classes: int
    answered: npt.NDArray[np.bool_]  # (n_items,)
    per_labeler_label: FloatArray  # (n_labelers, K) answer counts

    @classmethod
    def build(cls, answers: Answers) -> Design:
        """Incidence matrix of ``answers`` (abstains must already be removed)."""
        k = answers.n_classes
        n_items, n_lab = answers.n_items, answers.n_labelers
        col = answers.labeler * k + answers.label
        n_cols = n_lab * k
        n = len(answers)
        idx_dtype = np.int32 if max(n_cols, n, n_items) < 2**31 - 1 else np.int64
        indptr = np.empty(n_items + 1, dtype=idx_dtype)
        indices = np.empty(n, dtype=idx_dtype)
        data = np.empty(n, dtype=np.float32)
        if _coo_tocsr is not None:
            # linear-time bucket pass (rows keep answer order) instead of an O(n log n) sort
            _coo_tocsr(
                n_items,
                n_cols,
                n,
                answers.item.astype(idx_dtype),
                col.astype(idx_dtype),
                np.ones(n, dtype=np.float32),
                indptr,
                indices,
                data,
            )
        else:  # pragma: no cover - same result through a stable sort
            _csr_by_sort(answers.item, col, n_items, indptr, indices, data)
        mat = sp.csr_matrix((data, indices, indptr), shape=(n_items, n_cols))
        counts = np.diff(indptr)
        per = np.bincount(col, minlength=n_cols).astype(np.float64).reshape(n_lab, k)
        return cls(mat, n_items, n_lab, k, counts > 0, per)

    def expected_counts(self, post_t: npt.NDArray[np.floating[Any]]) -> FloatArray:
        """``N[w, y, k]`` = expected number of answers ``y`` by ``w`` on items of class ``k``.

        Shape (n_labelers, K, K) from class-major posteriors of shape (K, n_items).
        """
        k = self.n_classes
        counts = np.asarray(self.a.T @ post_t.T, dtype=np.float64)
        return counts.reshape(self.n_labelers, k, k)

    def vote_counts(self) -> FloatArray:
        """Answers per item and label, shape (n_items, K) (the majority-vote tally)."""
        k = self.n_classes
        pick = np.tile(np.eye(k, dtype=np.float32), (self.n_labelers, 1))
        return np.asarray(self.a @ pick, dtype=np.float64)

    def item_scores_t(
        self, log_pi_t: FloatArray, log_prior: FloatArray
    ) -> npt.NDArray[np.floating[Any]]:
        """Class-major log-scores ``log p_k + sum over answers of log pi[w, k, y]``.

        ``log_pi_t`` has shape (n_labelers * K, K): row ``w * K + y``, column ``k``.
        Returns shape (K, n_items), float32.
        """
        scores = np.asarray(self.a @ log_pi_t.astype(np.float32))
        out = np.ascontiguousarray(scores.T)
        out += log_prior.astype(out.dtype)[:, None]
        return out


def softmax_cols(scores_t: npt.NDArray[np.floating[Any]]) -> FloatArray:
    """Softmax over classes of class-major scores (K, n), in place; returns log-normalizers (n,)."""
    top = scores_t.max(axis=0)
    top[~np.isfinite(top)] = 0.0
    scores_t -= top
    np.exp(scores_t, out=scores_t)
    total = scores_t.sum(axis=0)
    scores_t /= total
    lognorm: FloatArray = np.log(total, dtype=np.float64) + top
    return lognorm


@dataclass
class MStepResult:
    """Parameters produced by an M-step."""

    log_pi_t: FloatArray  # (n_labelers * K, K)
    log_prior: FloatArray  # (K,)
    log_param_prior: float  # log density of the parameters under their prior (up to a const)


MStep = Callable[[FloatArray, FloatArray], MStepResult]
"""``m_step(N, class_mass) -> MStepResult``; ``N`` from :meth:`Design.expected_counts`,
``class_mass`` the summed posterior per class over answered or clamped items."""


@dataclass
class EMResult:
    """Outcome of :func:`run_em`; ``post`` has shape (n_items, K), float64."""

    post: FloatArray
    params: MStepResult
    n_iter: int
    converged: bool
    log_likelihood: float
    objective: float
    history: list[float]


class _EStep:
    """E-step with gold clamping, on class-major arrays."""

    def __init__(self, fi: FitInput, design: Design) -> None:
        self.design = design
        self.rows = np.flatnonzero(fi.known)
        self.gold = fi.gold[self.rows]
        solo = (np.diff(design.a.indptr) == 1) & ~fi.known
        if solo.all():  # nothing but solo answers: nothing else to learn from
            solo[:] = False
        counted = (design.answered & ~solo) | fi.known
        self.counted = None if counted.all() else counted
        self.solo = np.flatnonzero(solo) if solo.any() else None

    def counts(self, post_t: npt.NDArray[np.floating[Any]]) -> FloatArray:
        """Expected counts for the M-step, without items answered by one labeler alone."""
        if self.solo is None:
            return self.design.expected_counts(post_t)
        masked = post_t.copy()
        masked[:, self.solo] = 0.0
        return self.design.expected_counts(masked)

    def __call__(self, params: MStepResult) -> tuple[npt.NDArray[np.floating[Any]], float]:
        scores = self.design.item_scores_t(params.log_pi_t, params.log_prior)
        known = scores[self.gold, self.rows].astype(np.float64)
        lognorm = softmax_cols(scores)
        if self.rows.size:
            lognorm[self.rows] = known
            scores[:, self.rows] = 0.0
            scores[self.gold, self.rows] = 1.0
        # an item without answers or gold, or with one labeler's answer alone, is not counted
        ll = float(lognorm.sum() if self.counted is None else lognorm[self.counted].sum())
        return scores, ll

    def mass(self, post_t: npt.NDArray[np.floating[Any]]) -> FloatArray:
        p = post_t if self.counted is None else post_t[:, self.counted]
        return np.asarray(p.sum(axis=1, dtype=np.float64))


def run_em(
    fi: FitInput,
    design: Design,
    init_post: FloatArray,
    m_step: MStep,
    *,
    max_iter: int,
    tol: float,
) -> EMResult:
    """Alternate M and E steps from ``init_post`` until the penalized log-likelihood gains
    less than ``tol`` per answer (or ``max_iter`` iterations).

    ``init_post`` has shape (n_items, K); clamped items are one-hot throughout.
    """
    n_answers = max(int(design.a.nnz), 1)
    e_step = _EStep(fi, design)
    post_t: npt.NDArray[np.floating[Any]] = np.ascontiguousarray(init_post.T, dtype=np.float32)
    params = m_step(e_step.counts(post_t), e_step.mass(post_t))
    prev = -np.inf
    ll = obj = -np.inf
    history: list[float] = []
    converged = False
    it = 0
    while it < max_iter:
        it += 1
        post_t, ll = e_step(params)
        obj = ll + params.log_param_prior
        history.append(obj)
        if obj - prev <= tol * n_answers:
            converged = True
            break
        prev = obj
        params = m_step(e_step.counts(post_t), e_step.mass(post_t))
    post = np.ascontiguousarray(post_t.T, dtype=np.float64)
    return EMResult(post, params, it, converged, ll, obj, history)
