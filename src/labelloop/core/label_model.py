"""Label model: truth inference over labeling-function votes with abstains.

Why not plain Dawid-Skene
-------------------------
Crowd workers answer (almost) every item they see; labeling functions (LFs) mostly
abstain and usually vote a single class (a keyword LF votes ``spam`` or nothing). On votes
alone such an LF always "agrees with itself": its accuracy is not identifiable, and a
confusion-matrix model drifts toward labelling everything with the class most LFs vote.
What identifies it is *when it fires*: a spam keyword fires on many spam items and few ham
items. The label model therefore models abstaining too (as Snorkel's generative model does):

``P(LF j votes y | true class k) = theta[j, y]``   if ``y == k`` (fires on its own class),
``P(LF j votes y | true class k) = phi[j, y]``     if ``y != k`` (fires on another class),
``P(LF j abstains | k) = 1 - theta[j, k] - sum_{y != k} phi[j, y]``,

LFs conditionally independent given the true class, class balance ``p`` (estimated, uniform,
or given). This "one-vs-rest" parameterization has two numbers per (LF, class it votes):
few enough to fit from a few hundred items, and it handles single-polarity LFs naturally.

Abstain evidence per LF or per class
-----------------------------------
Read literally, that model multiplies one abstain term per LF, as if the LFs voting a class
fired independently given it. Keyword LFs usually do not: the rules of one class split its
phrasings between them ("how many", "when", "how much" for numbers) and seldom fire
together, so on a number item where one of them fires every silent sibling counts against
the class. Over EM iterations that evidence can turn a 99 %-precise LF into an
anti-indicator of its own class (seen on WRENCH TREC's train split). ``abstain_model="class"``
therefore takes the abstain evidence per class:

``score_k = log p_k + sum_{votes (j, y)} log P(j votes y | k)
+ sum_{c: no LF voted c} log (1 - g[c, k])``,

with ``g[c, k] = P(some LF votes c | true class k)`` estimated directly (so it is right
whatever the dependence among a class's LFs), and no abstain term for a class that got a
vote (its silent LFs are explained by the one that fired). The default, ``abstain_model="lf"``,
keeps the per-LF terms of the literal model, ``log p_k + sum_j log P(abstain_j | k) +
sum_{votes} [log P(y | k) - log P(abstain_j | k)]``. Which is better is an empirical matter:
with one EM step from majority vote (the default fit, no labels to select with) per-LF
evidence did as well or better on the WRENCH sets and the demo; selected on a labelled dev
set over up to 100 EM steps (:func:`select_label_model`), per-class evidence scored better
on TREC's and YouTube's test splits and the same on chemprot's and sms's (on halves of
valid it was mixed: YouTube up, TREC and chemprot slightly down; benchmarks/README.md).

Abstains are not stored either way: the per-class term is a constant per class minus the
classes that got votes, and the vote terms are a sparse product over the votes (no dense
items x LFs matrix). ``abstain_weight`` scales the abstain evidence (1 = the generative
model, 0 = votes only plus the class balance). Fitted by EM from soft majority vote with
Beta pseudo-counts on each firing rate: ``smoothing`` of them, centred either on an
accurate LF (``prior="accurate"``: ``prior_accuracy`` of them on the LF's own class) or on an
uninformative one (``prior="uninformative"``: at the LF's firing rate over all items, for
its own class and the others alike, so an LF earns its weight from the data; this keeps a
broad LF that fires on every class from being read, after a few EM steps, as always firing
on its own class). The per-class rates ``g`` get ``smoothing`` pseudo-items at the class's
overall voted rate.

Examples
--------
>>> from labelloop.core.answers import Answers
>>> votes = Answers.from_codes([0, 0, 1, 2, 2], [0, 1, 0, 1, 2], [1, 1, 1, 0, 0], n_items=4)
>>> model = LabelModel().fit(votes)
>>> model.labels_.tolist(), model.predict(votes).tolist()
([1, 1, 0, -1], [1, 1, 0, 1])
"""

from __future__ import annotations

from typing import ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from labelloop.core.aggregate._base import Aggregator, GoldLike, argmax_tiebreak, prepare
from labelloop.core.answers import ABSTAIN, Answers, FloatArray
from labelloop.errors import InvalidInput

ClassBalance = Literal["estimate", "uniform"] | npt.ArrayLike
Prior = Literal["accurate", "uninformative"]
AbstainModel = Literal["class", "lf"]

_FLOOR = 1e-6


def _incidence(answers: Answers) -> sp.csr_matrix:
    """Rows = items, columns = ``labeler * K + label``; ones at votes (no abstains)."""
    k = answers.n_classes
    col = answers.labeler * k + answers.label
    # CSR straight from item-sorted columns (no COO round trip; repeated votes stay as
    # repeated entries, which products sum like the COO conversion would)
    order = np.argsort(answers.item, kind="stable")
    indptr = np.zeros(answers.n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(answers.item, minlength=answers.n_items), out=indptr[1:])
    return sp.csr_matrix(
        (np.ones(len(answers)), col[order], indptr),
        shape=(answers.n_items, answers.n_labelers * k),
    )


def _class_voted(mat: sp.csr_matrix, k: int) -> FloatArray:
    """``(n_items, K)`` indicator: some LF voted class ``c`` on the item (from the incidence)."""
    n = mat.shape[0]
    out = np.zeros((n, k))
    rows = np.repeat(np.arange(n), np.diff(mat.indptr))
    out[rows, mat.indices % k] = 1.0
    return out


def connected_components(linked: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Component of each node of a symmetric adjacency matrix (diagonal set), shape (m,):
    the smallest node index in its component.

    Every node takes the smallest label among its neighbours, then follows that label's own
    (pointer jumping) until nothing changes; labels only decrease and stay inside the
    component, so the fixed point is the component's minimum. Dense, for the m x m graphs
    of LFs (cheaper than a sparse graph library call at this size).

    Examples
    --------
    >>> import numpy as np
    >>> linked = np.eye(4, dtype=bool); linked[1, 3] = linked[3, 1] = True
    >>> connected_components(linked).tolist()
    [0, 1, 2, 1]
    """
    m = linked.shape[0]
    group = np.arange(m, dtype=np.int64)
    while True:
        smallest = np.where(linked, group[None, :], m).min(axis=1)
        if (smallest == group).all():
            return group
        group = smallest[smallest]


_DENSE_FIRING_MAX = 4_000_000
"""Up to this many item x LF cells, LF co-firing is counted on a dense matrix."""


def lf_group_weights(votes: Answers, threshold: float | None) -> FloatArray:
    """Evidence weight of each LF, shape (n_labelers,): ``1 / size`` of its correlated group.

    LFs ``i`` and ``j`` are linked when they vote the same set of classes and the
    correlation of their firing indicators over items (phi coefficient; 0 for LFs that
    fire independently) exceeds ``threshold``; groups are the connected components.
    ``threshold=None`` gives all ones.

    Examples
    --------
    >>> from labelloop.core.answers import Answers
    >>> a = Answers.from_codes([0, 0, 1, 1, 2], [0, 1, 0, 1, 2], [1, 1, 1, 1, 0])
    >>> lf_group_weights(a, 0.5).tolist()
    [0.5, 0.5, 1.0]
    """
    m = votes.n_labelers
    if threshold is None or m == 0:
        return np.ones(m)
    a = votes.without_abstains()
    n = max(a.n_items, 1)
    if a.n_items * m <= _DENSE_FIRING_MAX:  # small: a dense 0/1 matrix is ~10x cheaper
        dense = np.zeros((a.n_items, m))
        dense[a.item, a.labeler] = 1.0
        both = (dense.T @ dense) / n  # P(i and j fire)
    else:
        fire = sp.csr_matrix((np.ones(len(a)), (a.item, a.labeler)), shape=(a.n_items, m))
        fire.sum_duplicates()
        fire.data[:] = 1.0
        both = np.asarray((fire.T @ fire).todense()) / n
    rate = np.diag(both).copy()  # P(i fires)
    spread = np.sqrt(rate * (1.0 - rate))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (both - rate[:, None] * rate[None, :]) / (spread[:, None] * spread[None, :])
    used = np.zeros((m, max(votes.n_classes, 1)), dtype=bool)
    used[a.labeler, a.label] = True
    same = (used[:, None, :] == used[None, :, :]).all(axis=2)
    linked = np.nan_to_num(corr) > threshold
    linked &= same
    np.fill_diagonal(linked, True)
    group = connected_components(linked)
    size = np.bincount(group, minlength=m)
    return np.asarray(1.0 / size[group], dtype=np.float64)


class LabelModel(Aggregator):
    """Generative label model over LF votes with abstains (``label_model.v1``).

    See the module notes for the model.

    Parameters
    ----------
    class_balance : "estimate", "uniform" or array of float, shape (K,)
        Prior over classes: re-estimated by EM (default), uniform, or given (e.g. from a
        labelled dev set).
    max_iter : int
        Maximum EM iterations. The default, one M-step from majority vote and one E-step,
        is the most robust without labelled data; :func:`select_label_model` picks it,
        the class balance and ``abstain_weight`` on a labelled dev set.
    tol : float
        Stop when the log-likelihood gains less than ``tol`` per item.
    abstain_weight : float
        Weight of the evidence carried by abstains (0 = votes only).
    smoothing : float
        Beta pseudo-counts (pseudo-items) on each firing rate.
    prior_accuracy : float
        With ``prior="accurate"``: share of the pseudo-counts on the LF's own class (its
        prior accuracy when voting).
    prior : "accurate" or "uninformative"
        Centre of the pseudo-counts: an accurate LF (``prior_accuracy``), or an LF that
        fires at its overall rate whatever the class (``theta == phi``; ``prior_accuracy``
        is then unused).
    correlation_threshold : float or None
        Correlated LFs: LFs voting the same classes whose firing indicators correlate
        above this are grouped (transitively), and each LF of a group of size
        ``g`` carries ``1 / g`` of the evidence, so near-duplicate rules are not counted
        ``g`` times. ``None`` (default) treats all LFs as conditionally independent.
    abstain_model : "lf" or "class"
        Abstain evidence per LF (the literal independent model, default) or per class
        ("no LF voted c"; what :data:`SELECTION_GRID` uses); see the module notes.
    random_state : int or None
        Unused (deterministic); accepted for a uniform interface.

    Attributes
    ----------
    labels_ : array of int, shape (n_items,)
        ``ABSTAIN`` for items without votes or gold (use :meth:`predict` to label them
        by the class balance).
    probas_ : array of float, shape (n_items, K)
    theta_, phi_ : array of float, shape (n_labelers, K)
        Firing rates on the voted class's own items / on other classes' items.
    class_voted_ : array of float, shape (K, K)
        ``[c, k]``: probability that some LF votes ``c`` on an item of class ``k`` (the
        per-class abstain evidence; fitted with either ``abstain_model``).
    class_balance_ : array of float, shape (K,)
    skills_ : array of float, shape (n_labelers,)
        Estimated accuracy of each LF when it votes.
    n_iter_, converged_, log_likelihood_

    Examples
    --------
    >>> from labelloop.core.answers import Answers
    >>> a = Answers.from_codes([0, 1, 1, 2], [0, 0, 1, 1], [1, 1, 0, 0], n_items=3)
    >>> m = LabelModel(max_iter=10).fit(a)
    >>> m.probas_.shape, m.skills_.shape
    ((3, 2), (2,))
    """

    name: ClassVar[str] = "label_model.v1"
    _param_names: ClassVar[tuple[str, ...]] = (
        "class_balance",
        "max_iter",
        "tol",
        "abstain_weight",
        "smoothing",
        "prior_accuracy",
        "prior",
        "correlation_threshold",
        "abstain_model",
        "random_state",
    )

    theta_: FloatArray
    phi_: FloatArray
    class_voted_: FloatArray
    class_balance_: FloatArray
    lf_weights_: FloatArray

    def __init__(
        self,
        class_balance: ClassBalance = "estimate",
        max_iter: int = 1,
        tol: float = 1e-6,
        abstain_weight: float = 0.5,
        smoothing: float = 1.0,
        prior_accuracy: float = 0.9,
        correlation_threshold: float | None = None,
        prior: Prior = "accurate",
        abstain_model: AbstainModel = "lf",
        random_state: int | None = None,
    ) -> None:
        self.class_balance = class_balance
        self.max_iter = max_iter
        self.tol = tol
        self.abstain_weight = abstain_weight
        self.smoothing = smoothing
        self.prior_accuracy = prior_accuracy
        self.correlation_threshold = correlation_threshold
        self.prior = prior
        self.abstain_model = abstain_model
        self.random_state = random_state

    def _fixed_balance(self, k: int) -> FloatArray | None:
        cb = self.class_balance
        if isinstance(cb, str):
            if cb == "estimate":
                return None
            if cb == "uniform":
                return np.full(k, 1.0 / k)
            raise InvalidInput(
                f"class_balance must be 'estimate', 'uniform' or an array, got {cb!r}"
            )
        arr = np.asarray(cb, dtype=np.float64)
        if arr.shape != (k,) or (arr < 0).any() or arr.sum() <= 0:
            raise InvalidInput(
                f"class_balance must be {k} non-negative numbers, got {arr.tolist()}"
            )
        arr = np.maximum(arr / arr.sum(), _FLOOR)
        return np.asarray(arr / arr.sum(), dtype=np.float64)

    def _scores(
        self, a_mat: sp.csr_matrix, n_lab: int, k: int, voted: FloatArray | None = None
    ) -> FloatArray:
        """Log-scores (n_items, K) under the current parameters; ``voted`` (per-class
        abstains only) as from :func:`_class_voted`, computed here when not given."""
        eye = np.eye(k, dtype=bool)
        probs = np.where(eye[None], self.theta_[:, None, :], self.phi_[:, None, :])  # [j,k,y]
        w = self.lf_weights_[:, None]
        log_votes = np.log(np.maximum(probs, 1e-12)) * w[:, :, None]
        if self.abstain_model == "class":
            rows = log_votes.transpose(0, 2, 1)
            scores = np.asarray(a_mat @ rows.reshape(n_lab * k, k))
            if voted is None:
                voted = _class_voted(a_mat, k)
            log_silent = np.log(np.maximum(1.0 - self.class_voted_, _FLOOR)) * self.abstain_weight
            scores += log_silent.sum(axis=0)[None, :] - voted @ log_silent
        else:
            absent = np.maximum(1.0 - probs.sum(axis=2), _FLOOR)  # [j, k]
            log_abs = np.log(absent) * self.abstain_weight * w
            rows = (log_votes - log_abs[:, :, None]).transpose(0, 2, 1)
            scores = np.asarray(a_mat @ rows.reshape(n_lab * k, k))
            scores += log_abs.sum(axis=0)[None, :]
        scores += np.log(self.class_balance_)[None, :]
        return scores

    def fit(self, answers: Answers, gold: GoldLike = None) -> Self:
        """Fit by EM; ``gold`` (item codes with known classes) is clamped."""
        if self.abstain_model not in ("class", "lf"):
            raise InvalidInput(f"abstain_model must be 'class' or 'lf', got {self.abstain_model!r}")
        fi = prepare(answers, gold)
        a = fi.answers
        k, n, n_lab = a.n_classes, a.n_items, a.n_labelers
        mat = _incidence(a)
        voted = _class_voted(mat, k)
        voted_rate = voted.mean(axis=0) if n else np.zeros(k)
        col = a.labeler * k + a.label
        # posteriors are kept class-major, shape (K, n_items): row reductions over K
        # contiguous vectors instead of n_items short rows
        post_t = np.zeros((k, n))
        np.add.at(post_t, (a.label, a.item), 1.0)
        total = post_t.sum(axis=0)
        post_t = np.where(total > 0, post_t / np.maximum(total, 1.0), 1.0 / k)
        rows = np.flatnonzero(fi.known)
        gold_rows = fi.gold[rows]
        if rows.size:
            post_t[:, rows] = 0.0
            post_t[gold_rows, rows] = 1.0
        fixed = self._fixed_balance(k)
        self.lf_weights_ = lf_group_weights(a, self.correlation_threshold)
        votes = np.bincount(col, minlength=n_lab * k).astype(np.float64).reshape(n_lab, k)
        s = float(self.smoothing)
        if self.prior == "accurate":
            prior_on = np.full((n_lab, k), s * float(self.prior_accuracy))
            prior_off = np.full((n_lab, k), s * (1.0 - float(self.prior_accuracy)))
        elif self.prior == "uninformative":
            prior_on = prior_off = s * votes / max(n, 1)
        else:
            raise InvalidInput(f"prior must be 'accurate' or 'uninformative', got {self.prior!r}")
        prev = -np.inf
        ll = -np.inf
        converged = False
        it = 0
        while it < self.max_iter:
            it += 1
            mass = post_t.sum(axis=1)
            # expected votes of LF j for class y on items whose class is y
            on = np.bincount(col, weights=post_t[a.label, a.item], minlength=n_lab * k)
            on = on.reshape(n_lab, k)
            self.theta_ = (on + prior_on) / (mass[None, :] + s)
            self.phi_ = (votes - on + prior_off) / (n - mass[None, :] + s)
            # [c, k]: items of class k on which some LF voted c (post_t @ voted is [k, c])
            self.class_voted_ = (post_t @ voted + s * voted_rate[None, :]).T / (mass[None, :] + s)
            if fixed is None:
                self.class_balance_ = (mass + 1.0) / (n + k)
            else:
                self.class_balance_ = fixed
            post_t = np.ascontiguousarray(self._scores(mat, n_lab, k, voted).T)
            top = post_t.max(axis=0)
            post_t -= top
            np.exp(post_t, out=post_t)
            z = post_t.sum(axis=0)
            post_t /= z
            if rows.size:
                post_t[:, rows] = 0.0
                post_t[gold_rows, rows] = 1.0
            ll = float((np.log(z) + top).sum())
            if ll - prev <= self.tol * max(n, 1):
                converged = True
                break
            prev = ll
        post = np.ascontiguousarray(post_t.T)
        self.probas_ = post
        labels = argmax_tiebreak(post)
        # the aggregator contract: no answers and no gold -> ABSTAIN (``probas_`` still
        # holds the class balance there; :meth:`predict` labels such items by it)
        labels[~((np.bincount(a.item, minlength=n) > 0) | fi.known)] = ABSTAIN
        self.labels_ = labels
        self.n_iter_ = it
        self.converged_ = converged
        self.log_likelihood_ = ll
        fire = self.class_balance_[None, :] * self.theta_
        wrong = (1.0 - self.class_balance_)[None, :] * self.phi_
        with np.errstate(invalid="ignore", divide="ignore"):
            skill = fire.sum(axis=1) / (fire.sum(axis=1) + wrong.sum(axis=1))
        skill[votes.sum(axis=1) == 0] = np.nan
        self.skills_ = skill
        return self

    def predict_proba(self, answers: Answers) -> FloatArray:
        """Posteriors (n_items, K) of new items' votes under the fitted parameters."""
        a = answers.without_abstains()
        k = a.n_classes
        if k != self.theta_.shape[1] or a.n_labelers != self.theta_.shape[0]:
            raise InvalidInput(
                f"answers have {a.n_labelers} labelers and {k} classes; the model was fitted "
                f"on {self.theta_.shape[0]} and {self.theta_.shape[1]}"
            )
        scores = self._scores(_incidence(a), a.n_labelers, k)
        scores -= scores.max(axis=1, keepdims=True)
        post = np.exp(scores)
        post /= post.sum(axis=1, keepdims=True)
        return np.asarray(post, dtype=np.float64)

    def predict(self, answers: Answers) -> npt.NDArray[np.int64]:
        """Most probable class of each item (lowest code on exact ties)."""
        labels = argmax_tiebreak(self.predict_proba(answers))
        labels[labels < 0] = ABSTAIN
        return labels


SELECTION_GRID: tuple[dict[str, object], ...] = tuple(
    {
        "class_balance": cb,
        "max_iter": it,
        "abstain_weight": aw,
        "correlation_threshold": 0.5,
        "prior": "uninformative",
        "smoothing": 10.0,
        "abstain_model": "class",
    }
    for cb in ("estimate", "uniform", "dev")
    for it in (1, 3, 10, 100)
    for aw in (1.0, 0.5)
)
"""Configurations tried by :func:`select_label_model` (``"dev"`` = dev-set class balance)."""


def score_labels(gold: npt.ArrayLike, pred: npt.ArrayLike, *, metric: str = "accuracy") -> float:
    """``accuracy`` or ``f1`` (binary, class 1 positive) of predicted codes against gold."""
    g = np.asarray(gold, dtype=np.int64)
    p = np.asarray(pred, dtype=np.int64)
    if metric == "accuracy":
        return float((g == p).mean()) if g.size else float("nan")
    if metric == "f1":
        tp = float(((p == 1) & (g == 1)).sum())
        fp = float(((p == 1) & (g != 1)).sum())
        fn = float(((p != 1) & (g == 1)).sum())
        return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)
    raise InvalidInput(f"metric must be 'accuracy' or 'f1', got {metric!r}")


def select_label_model(
    train: Answers,
    dev: Answers,
    dev_gold: npt.ArrayLike,
    *,
    metric: str = "accuracy",
    grid: tuple[dict[str, object], ...] = SELECTION_GRID,
) -> tuple[LabelModel, list[tuple[dict[str, object], float]]]:
    """Fit every configuration of ``grid`` on ``train`` votes, keep the best on ``dev``.

    ``dev`` holds the same LFs' votes on labelled items (``dev_gold``, shape (n_dev,));
    the first configuration wins ties. Returns the fitted best model and every
    (configuration, dev score).

    Examples
    --------
    >>> from labelloop.core.answers import Answers
    >>> a = Answers.from_codes([0, 1, 1, 2], [0, 0, 1, 1], [1, 1, 0, 0], n_items=3)
    >>> best, scores = select_label_model(a, a, [1, 1, 0])
    >>> len(scores) == len(SELECTION_GRID)
    True
    """
    gold = np.asarray(dev_gold, dtype=np.int64)
    k = train.n_classes
    balance = np.bincount(gold[gold >= 0], minlength=k).astype(np.float64) + 1.0
    results: list[tuple[dict[str, object], float]] = []
    best: tuple[float, LabelModel] | None = None
    for config in grid:
        params = dict(config)
        if isinstance(params.get("class_balance"), str) and params["class_balance"] == "dev":
            params["class_balance"] = balance / balance.sum()
        model = LabelModel(**params).fit(train)  # type: ignore[arg-type]
        value = score_labels(gold, model.predict(dev), metric=metric)
        results.append((config, value))
        if best is None or value > best[0]:
            best = (value, model)
    if best is None:
        raise InvalidInput("grid must hold at least one configuration")
    return best[1], results
