"""Hierarchical Dawid-Skene, and ``auto.v1``, the former default aggregator.

``auto.v1`` (kept so recorded results can be reproduced; the default is now ``auto.v3``,
:mod:`labelloop.core.aggregate.selection`) needs no gold and no per-dataset tuning. Its pool
was chosen by mean accuracy on the benchmark's own sets and did not hold on unseen sparse
long-tail crowds, where it fell below majority vote. It is a committee of three models with
different biases whose posteriors are averaged (a linear opinion pool):

1. :class:`HierarchicalDawidSkene` -- class-specific confusions, shrunk toward the crowd;
2. :class:`~labelloop.core.aggregate.MACE` -- competence + a per-labeler "spam" label
   distribution (robust to biased low-effort labelers, uniform class prior);
3. :class:`~labelloop.core.aggregate.Wawa` -- agreement-weighted vote.

EM posteriors are usually confident, so where the two EM models agree their answer stands;
where they disagree, the vote-based member decides. No model is best on every crowd: over
the 13 categorical crowd sets of the benchmark full DS wins on some (duck, product,
relevance), one-coin/MACE-type models on others (adult, music_genre, weather), and the
committee tracks the better of them (see ``benchmarks/aggregation.py``).

Hierarchical Dawid-Skene: why
-----------------------------
Full Dawid-Skene is the best model when each labeler gives many answers, but with few
answers per labeler (or many classes) its K x K confusion matrices overfit; one-coin models
are robust but miss class-specific errors and biased labelers. ``auto`` puts a Dirichlet
prior on every row of every labeler's confusion matrix whose mean is a *one-coin matrix for
that labeler with the crowd's error pattern*:

- diagonal: the labeler's overall accuracy ``a_w`` (itself shrunk toward the crowd's mean
  accuracy by ``accuracy_strength`` pseudo-answers);
- off-diagonal of row ``k``: ``(1 - a_w)`` spread like the errors the whole crowd makes on
  class ``k`` (pooled expected confusion);

and whose strength is ``strength`` pseudo-answers per row. A labeler with hundreds of
answers on class ``k`` keeps their own confusion row (full DS); a labeler with three answers
behaves like a one-coin labeler with the crowd's typical confusions. The hyper-parameters
(prior means) are re-estimated from the expected counts at every M-step (empirical Bayes),
so the model needs no gold and no per-dataset tuning. Gold, when given, is clamped.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np

from labelloop.core.aggregate._base import Aggregator, GoldLike, prepare
from labelloop.core.aggregate._em import Design, MStepResult, run_em
from labelloop.core.aggregate.dawid_skene import (
    MACE,
    _EMAggregator,
    _log_prior,
    log_pi_t,
    majority_init,
)
from labelloop.core.aggregate.voting import Wawa
from labelloop.core.answers import Answers, FloatArray


def shrinkage_mean(
    counts: FloatArray, *, accuracy_strength: float, floor: float = 1e-3
) -> FloatArray:
    """Prior mean of each labeler's confusion rows, shape (n_labelers, K, K) ``[w, k, y]``.

    ``counts[w, k, y]`` are expected answer counts (true ``k``, given ``y``).
    """
    n_lab, k, _ = counts.shape
    pooled = counts.sum(axis=0) + floor  # [k, y]
    off = pooled.copy()
    np.fill_diagonal(off, 0.0)
    off_total = off.sum(axis=1, keepdims=True)
    off = np.where(off_total > 0, off / np.where(off_total > 0, off_total, 1.0), 0.0)
    crowd_acc = float(np.trace(pooled) / pooled.sum())
    n_w = counts.sum(axis=(1, 2))
    correct = np.einsum("wkk->w", counts)
    acc = (correct + accuracy_strength * crowd_acc) / (n_w + accuracy_strength)
    if k == 1:
        return np.ones((n_lab, 1, 1))
    mean = (1.0 - acc)[:, None, None] * off[None, :, :]
    idx = np.arange(k)
    mean[:, idx, idx] = acc[:, None]
    return np.asarray(mean, dtype=np.float64)


class HierarchicalDawidSkene(_EMAggregator):
    """Dawid-Skene with empirical-Bayes shrinkage of each confusion row.

    See the module notes for the model. MAP-EM from soft majority vote; stops when the
    penalized log-likelihood gains less than ``tol`` per answer.

    Parameters
    ----------
    strength : float
        Prior pseudo-answers per confusion row (``0`` = plain DS, large = one-coin-like).
    accuracy_strength : float
        Pseudo-answers pulling each labeler's accuracy toward the crowd's.
    max_iter, tol : see :class:`~labelloop.core.aggregate.DawidSkene`.
    random_state : int or None
        Unused (deterministic); accepted for a uniform interface.

    Attributes
    ----------
    labels_, probas_, confusions_ (n_labelers, K, K), priors_ (K,), skills_ (n_labelers,),
    n_iter_, converged_, log_likelihood_, history_

    Examples
    --------
    >>> from labelloop.core.answers import Answers
    >>> a = Answers.from_codes([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2], [1, 1, 0, 0, 0, 1])
    >>> HierarchicalDawidSkene().fit(a).labels_.tolist()
    [1, 0]
    """

    name: ClassVar[str] = "hierarchical_dawid_skene.v1"
    _param_names: ClassVar[tuple[str, ...]] = (
        "strength",
        "accuracy_strength",
        "max_iter",
        "tol",
        "random_state",
    )

    def __init__(
        self,
        strength: float = 4.0,
        accuracy_strength: float = 2.0,
        max_iter: int = 200,
        tol: float = 1e-6,
        random_state: int | None = None,
    ) -> None:
        self.strength = strength
        self.accuracy_strength = accuracy_strength
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def fit(self, answers: Answers, gold: GoldLike = None) -> Self:
        fi = prepare(answers, gold)
        design = Design.build(fi.answers)
        s = float(self.strength)
        state: dict[str, FloatArray] = {}

        def m_step(n: FloatArray, mass: FloatArray) -> MStepResult:
            counts = np.transpose(n, (0, 2, 1))  # [w, k, y]
            mean = shrinkage_mean(counts, accuracy_strength=self.accuracy_strength)
            post = counts + s * mean
            total = post.sum(axis=2, keepdims=True)
            pi = np.where(total > 0, post / np.where(total > 0, total, 1.0), 1.0 / fi.n_classes)
            pi = np.maximum(pi, 1e-300)
            logp, pen = _log_prior(mass, 1.0)
            state["pi"], state["prior"] = pi, np.exp(logp)
            return MStepResult(log_pi_t(pi), logp, pen + s * float((mean * np.log(pi)).sum()))

        res = run_em(
            fi, design, majority_init(fi, design), m_step, max_iter=self.max_iter, tol=self.tol
        )
        self._store(fi, res, state["pi"], state["prior"])
        return self


class AutoCommittee(Aggregator):
    """The former default (``auto.v1``): opinion pool of hierarchical DS, MACE and Wawa.

    Kept so that results recorded under ``auto.v1`` can be reproduced; ``auto.v2``
    (:class:`AutoAggregator`) replaced it because its pool was chosen on the benchmark's own
    sets and fell below majority vote on sparse long-tail crowds.

    ``probas_`` is the mean of the three members' posteriors; ``labels_`` its argmax (an
    exact tie goes to the hierarchical DS posterior, then the lower code). Reliability
    estimates (``skills_``, ``confusions_``, ``priors_``), ``log_likelihood_`` and
    ``history_`` come from the hierarchical DS member; ``n_iter_`` is the sum of the
    members' iterations and ``converged_`` is true when every member converged. Gold, when
    given, is clamped in every member. ``members_`` holds the fitted members.

    Parameters
    ----------
    strength, accuracy_strength : float
        Of the hierarchical DS member.
    max_iter, tol : int, float
        Of both EM members.
    random_state : int or None
        Passed to MACE (whose single start is deterministic anyway).

    Examples
    --------
    >>> from labelloop.core.answers import Answers
    >>> a = Answers.from_codes([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2], [1, 1, 0, 0, 0, 1])
    >>> auto = AutoCommittee().fit(a)
    >>> auto.labels_.tolist(), [type(m).__name__ for m in auto.members_]
    ([1, 0], ['HierarchicalDawidSkene', 'MACE', 'Wawa'])
    """

    name: ClassVar[str] = "auto.v1"
    _param_names: ClassVar[tuple[str, ...]] = (
        "strength",
        "accuracy_strength",
        "max_iter",
        "tol",
        "random_state",
    )

    confusions_: FloatArray
    priors_: FloatArray
    history_: list[float]
    members_: list[Aggregator]

    def __init__(
        self,
        strength: float = 4.0,
        accuracy_strength: float = 2.0,
        max_iter: int = 200,
        tol: float = 1e-6,
        random_state: int | None = None,
    ) -> None:
        self.strength = strength
        self.accuracy_strength = accuracy_strength
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def fit(self, answers: Answers, gold: GoldLike = None) -> Self:
        fi = prepare(answers, gold)
        hds = HierarchicalDawidSkene(
            strength=self.strength,
            accuracy_strength=self.accuracy_strength,
            max_iter=self.max_iter,
            tol=self.tol,
        ).fit(fi.answers, fi.gold)
        mace = MACE(max_iter=self.max_iter, tol=self.tol, random_state=self.random_state).fit(
            fi.answers, fi.gold
        )
        wawa = Wawa().fit(fi.answers, fi.gold)
        members: list[Aggregator] = [hds, mace, wawa]
        probas = (hds.probas_ + mace.probas_ + wawa.probas_) / 3.0
        self._finish(
            fi,
            probas,
            hds.probas_,
            n_iter=sum(m.n_iter_ for m in members),
            converged=all(m.converged_ for m in members),
            log_likelihood=hds.log_likelihood_,
        )
        self.skills_ = hds.skills_
        self.confusions_ = hds.confusions_
        self.priors_ = hds.priors_
        self.history_ = hds.history_
        self.members_ = members
        self.model_ = hds
        return self
