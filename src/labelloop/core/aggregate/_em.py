"""EM engine shared by the confusion-matrix family (Dawid-Skene, one-coin, MACE, auto).

In all of these the probability of an answer depends only on the labeler, the given label
and the true class: ``P(label = y | true = k, labeler = w) = pi[w, k, y]``. The E-step is
then a sparse matrix product ``A @ log_pi`` where ``A`` (shape (n_items, n_labelers * K))
has one entry per answer at column ``labeler * K + label``: for every item it sums the
gathered log confusion entries of its answers. The M-step's sufficient statistics are
``A.T @ T`` (expected counts of (labeler, given, true)). Both are single passes over the
answers in compiled code; no dense items x labelers matrix, no Python loop over answers.

Convergence is tested on the quantity EM actually increases: the (penalized) marginal
log-likelihood ``sum_i log sum_k p_k prod_answers pi[w, k, y]`` (with clamped items at
their gold class) plus the log prior of the parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from labelloop.core.aggregate._base import FitInput
from labelloop.core.answers import Answers, FloatArray


@dataclass(frozen=True)
class Design:
    """Sparse incidence of answers: rows = items, columns = ``labeler * K + label``."""

    a: sp.csr_matrix
    n_items: int
    n_labelers: int
    n_classes: int
    answered: np.ndarray  # bool (n_items,)
    per_labeler_label: FloatArray  # (n_labelers, K) answer counts

    @classmethod
    def build(cls, answers: Answers) -> Design:
        k = answers.n_classes
        n_items, n_lab = answers.n_items, answers.n_labelers
        col = answers.labeler * k + answers.label
        order = np.argsort(answers.item, kind="stable")
        counts = np.bincount(answers.item, minlength=n_items)
        indptr = np.zeros(n_items + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        n_cols = n_lab * k
        idx_dtype = np.int32 if max(n_cols, len(answers)) < 2**31 - 1 else np.int64
        mat = sp.csr_matrix(
            (
                np.ones(len(answers), dtype=np.float64),
                col[order].astype(idx_dtype),
                indptr.astype(idx_dtype),
            ),
            shape=(n_items, n_cols),
        )
        per = np.bincount(col, minlength=n_cols).astype(np.float64).reshape(n_lab, k)
        return cls(mat, n_items, n_lab, k, counts > 0, per)

    def expected_counts(self, post: FloatArray) -> FloatArray:
        """``N[w, y, k]`` = expected number of answers ``y`` by ``w`` on items of class ``k``.

        Shape (n_labelers, K, K) from posteriors of shape (n_items, K).
        """
        k = self.n_classes
        out: FloatArray = np.asarray(self.a.T @ post).reshape(self.n_labelers, k, k)
        return out

    def item_scores(self, log_pi_t: FloatArray) -> FloatArray:
        """Per item and class, the sum over its answers of ``log pi[w, k, y]``.

        ``log_pi_t`` has shape (n_labelers * K, K): row ``w * K + y``, column ``k``.
        Returns shape (n_items, K).
        """
        out: FloatArray = np.asarray(self.a @ log_pi_t)
        return out


def softmax_rows(scores: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Row softmax (in place on ``scores``) and each row's log-normalizer."""
    _n, k = scores.shape
    top = scores[:, 0].copy()
    for c in range(1, k):
        np.maximum(top, scores[:, c], out=top)
    top[~np.isfinite(top)] = 0.0
    scores -= top[:, None]
    np.exp(scores, out=scores)
    total = scores[:, 0].copy()
    for c in range(1, k):
        total += scores[:, c]
    scores /= total[:, None]
    return scores, np.log(total) + top


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
    post: FloatArray
    params: MStepResult
    n_iter: int
    converged: bool
    log_likelihood: float
    objective: float
    history: list[float]


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
    post = init_post
    counted = design.answered | fi.known
    rows_known = np.flatnonzero(fi.known)
    gold_known = fi.gold[rows_known]
    prev = -np.inf
    history: list[float] = []
    converged = False
    params = m_step(design.expected_counts(post), post[counted].sum(axis=0))
    ll = -np.inf
    obj = -np.inf
    it = 0
    while it < max_iter:
        it += 1
        scores = design.item_scores(params.log_pi_t)
        scores += params.log_prior[None, :]
        known_scores = scores[rows_known, gold_known].copy()
        post, lognorm = softmax_rows(scores)
        if rows_known.size:
            lognorm[rows_known] = known_scores
            post[rows_known] = 0.0
            post[rows_known, gold_known] = 1.0
        # items without answers carry no evidence (their normalizer is log 1 = 0)
        ll = float(lognorm[counted].sum())
        obj = ll + params.log_param_prior
        history.append(obj)
        if obj - prev <= tol * n_answers:
            converged = True
            break
        prev = obj
        params = m_step(design.expected_counts(post), post[counted].sum(axis=0))
    return EMResult(post, params, it, converged, ll, obj, history)
