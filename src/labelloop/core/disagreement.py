"""Where labelers disagree, and what the guidelines should say about it.

Three views on disagreement, all from sparse answers:

* :func:`find_confused_pairs`: class pairs that co-occur on the same item most (off-diagonal
  cells of Krippendorff's coincidence matrix), as a share of all disagreement and relative to
  chance. These are the label pairs whose boundary the guidelines leave open.
* :func:`score_item_entropy` / :func:`find_uncertain_items`: items with the highest entropy of
  the posterior from any aggregator (``probas``), or of the vote distribution: the concrete
  edge cases to turn into worked examples.
* :func:`find_deviant_labelers`: labelers whose confusion matrix (their answers against a
  reference: the others' votes on the same item, or a posterior) differs most from the
  pooled one, with shrinkage so that a labeler with five answers is not flagged for noise.

:func:`schema_gap_report` bundles them into a frozen :class:`SchemaGapReport` whose
:meth:`~SchemaGapReport.to_text` says which label pairs need guideline edge-case examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from labelloop.core.agreement import (
    AgreementResult,
    LabelAgreement,
    RandomState,
    agreement_per_label,
    coincidence_matrix,
    krippendorff_alpha,
)
from labelloop.core.answers import Answers, FloatArray, IntArray
from labelloop.errors import InvalidInput


@dataclass(frozen=True)
class ConfusedPair:
    """Two classes given to the same items by different labelers.

    Attributes
    ----------
    class_a, class_b : int
        Class codes, ``class_a < class_b``.
    coincidences : float
        ``o[a, b] + o[b, a]`` of the coincidence matrix: pairable answer pairs that split
        between the two classes (each item weighs ``1 / (m - 1)`` per pair, as in alpha).
    share : float
        Fraction of all off-diagonal coincidences (all disagreement) on this pair.
    ratio_to_chance : float
        ``o[a, b] / e[a, b]``: how much more often than by chance (from the classes'
        frequencies) the two classes meet on one item; > 1 means systematically confused.
    excess : float
        ``(o[a, b] + o[b, a] - 2 e[a, b])`` over all off-diagonal coincidences: the share of
        disagreement on this pair beyond what chance predicts (negative when below chance).
    """

    class_a: int
    class_b: int
    coincidences: float
    share: float
    ratio_to_chance: float
    excess: float


def find_confused_pairs(
    answers: Answers,
    *,
    top: int = 10,
    by: Literal["share", "excess", "ratio_to_chance"] = "share",
) -> tuple[ConfusedPair, ...]:
    """Class pairs confused most, from pairwise co-occurrence within items.

    Parameters
    ----------
    answers : Answers
        One answer per (item, labeler); abstains are ignored.
    top : int
        Number of pairs returned (pairs that never meet are never returned).
    by : {"share", "excess", "ratio_to_chance"}
        Ranking: share of all disagreement (default: where the disagreement mass is, so
        where guideline examples settle the most answers), disagreement beyond chance
        (frequent *and* systematic), or observed over chance coincidences (which boundary is
        unclear, whatever the class sizes).

    Returns
    -------
    tuple of ConfusedPair
        Best first.

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 1, 1, 2, 2], [0, 1] * 3, [0, 1, 0, 1, 2, 2])
    >>> [(p.class_a, p.class_b, p.share) for p in find_confused_pairs(a)]
    [(0, 1, 1.0)]
    """
    o = coincidence_matrix(answers)
    k = o.shape[0]
    n_c = o.sum(axis=1)
    n = float(n_c.sum())
    a_idx, b_idx = np.triu_indices(k, k=1)
    pair_mass = o[a_idx, b_idx] + o[b_idx, a_idx]
    total = float(pair_mass.sum())
    expected = np.outer(n_c, n_c)[a_idx, b_idx] / max(n - 1.0, 1.0)
    ratio = np.full(pair_mass.shape, np.nan)
    np.divide(o[a_idx, b_idx], expected, out=ratio, where=expected > 0)
    share = pair_mass / total if total > 0 else np.zeros_like(pair_mass)
    excess = (pair_mass - 2.0 * expected) / total if total > 0 else np.zeros_like(pair_mass)
    if by not in ("excess", "share", "ratio_to_chance"):
        raise InvalidInput(f"by must be 'excess', 'share' or 'ratio_to_chance', got {by!r}")
    key = {"excess": excess, "share": share}.get(by, np.nan_to_num(ratio, nan=-1.0))
    order = np.lexsort((a_idx, -key))
    out: list[ConfusedPair] = []
    for j in order:
        if pair_mass[j] <= 0 or len(out) >= top:
            continue
        out.append(
            ConfusedPair(
                int(a_idx[j]),
                int(b_idx[j]),
                float(pair_mass[j]),
                float(share[j]),
                float(ratio[j]),
                float(excess[j]),
            )
        )
    return tuple(out)


def _entropy(p: FloatArray) -> FloatArray:
    """Row entropies in nats of (n, K) nonnegative rows (normalized here); NaN for empty."""
    s = p.sum(axis=1, keepdims=True)
    q = np.divide(p, s, out=np.zeros_like(p), where=s > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, -q * np.log(q), 0.0)
    h = terms.sum(axis=1)
    h[s[:, 0] <= 0] = np.nan
    return np.asarray(h, dtype=np.float64)


def score_item_entropy(
    answers: Answers | None = None, *, probas: npt.ArrayLike | None = None
) -> FloatArray:
    """Entropy (nats) of each item's posterior, or of its vote distribution.

    Parameters
    ----------
    answers : Answers, optional
        Used for the vote distribution when ``probas`` is not given.
    probas : array of float, shape (n_items, n_classes), optional
        Posterior class probabilities from any aggregator (rows are normalized here).

    Returns
    -------
    array of float, shape (n_items,)
        NaN for items without answers (or an all-zero posterior row).

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 0, 1])
    >>> score_item_entropy(a).round(4).tolist()
    [0.0, 0.6931]
    """
    if probas is not None:
        p = np.asarray(probas, dtype=np.float64)
        if p.ndim != 2:
            raise InvalidInput(f"probas must have shape (n_items, n_classes), got {p.shape}")
        if np.any(p < 0) or not np.all(np.isfinite(p)):
            raise InvalidInput("probas must be finite and nonnegative")
        return _entropy(p)
    if answers is None:
        raise InvalidInput("give answers or probas")
    return _entropy(answers.label_counts())


@dataclass(frozen=True)
class UncertainItems:
    """Items with the highest entropy, best (most uncertain) first.

    Attributes
    ----------
    items : array of int, shape (n,)
        Item codes.
    entropy : array of float, shape (n,)
        Entropy in nats.
    normalized_entropy : array of float, shape (n,)
        Entropy over ``log(n_classes)``, in [0, 1].
    votes : array of float, shape (n, n_classes)
        Vote counts of those items (empty rows when no answers were given).
    """

    items: IntArray
    entropy: FloatArray
    normalized_entropy: FloatArray
    votes: FloatArray

    def __len__(self) -> int:
        return int(self.items.shape[0])


def find_uncertain_items(
    answers: Answers,
    *,
    probas: npt.ArrayLike | None = None,
    top: int = 10,
    min_answers: int = 2,
) -> UncertainItems:
    """The ``top`` items with the highest posterior (or vote) entropy.

    Parameters
    ----------
    answers : Answers
        One answer per (item, labeler).
    probas : array of float, shape (n_items, n_classes), optional
        Posteriors from an aggregator; the vote distribution when absent.
    top : int
        Number of items returned.
    min_answers : int
        Items with fewer answers are skipped (one vote says nothing about ambiguity).

    Returns
    -------
    UncertainItems
        Ties broken by item code.

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 0, 1])
    >>> find_uncertain_items(a, top=1).items.tolist()
    [1]
    """
    votes = answers.label_counts()
    h = score_item_entropy(answers, probas=probas)
    if h.shape[0] != answers.n_items:
        raise InvalidInput(
            f"probas must have {answers.n_items} rows (one per item), got {h.shape[0]}"
        )
    ok = np.isfinite(h) & (votes.sum(axis=1) >= min_answers)
    idx = np.flatnonzero(ok)
    order = idx[np.lexsort((idx, -h[idx]))][: max(top, 0)]
    k = max(answers.n_classes if probas is None else np.shape(probas)[1], 2)
    return UncertainItems(
        items=order.astype(np.int64),
        entropy=h[order],
        normalized_entropy=h[order] / np.log(k),
        votes=votes[order],
    )


class DeviantLabeler(NamedTuple):
    """One row of :class:`LabelerDeviation` (plain Python numbers)."""

    labeler: int
    deviation: float
    n_answers: int
    worst_class: int
    over_given: int
    given_rate: float
    group_rate: float


@dataclass(frozen=True)
class LabelerDeviation:
    """Labelers whose confusion matrix differs most from the pooled one, worst first.

    Attributes
    ----------
    labelers : array of int, shape (n,)
        Labeler codes.
    deviation : array of float, shape (n,)
        Total-variation distance between the labeler's (shrunk) confusion rows and the pooled
        rows, weighted by how often each reference class occurs in their answers; in [0, 1].
    n_answers : array of int, shape (n,)
        Answers of the labeler that had a reference (items with another answer or a posterior).
    worst_class : array of int, shape (n,)
        Reference class on which the labeler deviates most.
    over_given : array of int, shape (n,)
        On that class, the label the labeler gives more often than the group does.
    given_rate, group_rate : array of float, shape (n,)
        On that class, how often the labeler (shrunk) and the group give ``over_given``.
    pooled : array of float, shape (n_classes, n_classes)
        Pooled confusion, rows = reference class, columns = given label, rows sum to 1.
    """

    labelers: IntArray
    deviation: FloatArray
    n_answers: IntArray
    worst_class: IntArray
    over_given: IntArray
    given_rate: FloatArray
    group_rate: FloatArray
    pooled: FloatArray

    def __len__(self) -> int:
        return int(self.labelers.shape[0])

    def rows(self) -> list[DeviantLabeler]:
        """One :class:`DeviantLabeler` per labeler, worst first."""
        return [
            DeviantLabeler(int(w), float(dev), int(n), int(kc), int(og), float(rw), float(rg))
            for w, dev, n, kc, og, rw, rg in zip(
                self.labelers,
                self.deviation,
                self.n_answers,
                self.worst_class,
                self.over_given,
                self.given_rate,
                self.group_rate,
                strict=True,
            )
        ]


def labeler_confusions(
    answers: Answers, *, probas: npt.ArrayLike | None = None
) -> tuple[FloatArray, FloatArray]:
    """Soft confusion counts of every labeler against a per-answer reference.

    The reference of an answer is ``probas[item]`` when given, else the vote distribution of
    the *other* answers on the item (leave-one-out), so a labeler is never compared with
    themself. Answers on items with no other answer (and no posterior) are left out.

    Returns
    -------
    confusion : array of float, shape (n_labelers, n_classes, n_classes)
        ``confusion[w, k, l]`` = reference mass of class ``k`` on answers where ``w`` gave ``l``.
    n_answers : array of float, shape (n_labelers,)
        Answers that had a reference.

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 0], [0, 1, 2], [0, 0, 1])
    >>> labeler_confusions(a)[0][2].tolist()  # labeler 2 said 1 where the others said 0
    [[0.0, 1.0], [0.0, 0.0]]
    """
    a = answers.without_abstains()
    k, n_lab = a.n_classes, a.n_labelers
    if probas is not None:
        p = np.asarray(probas, dtype=np.float64)
        if p.shape != (a.n_items, k):
            raise InvalidInput(f"probas must have shape ({a.n_items}, {k}), got {p.shape}")
        s = p.sum(axis=1, keepdims=True)
        ref = np.divide(p, s, out=np.zeros_like(p), where=s > 0)[a.item]
        has = ref.sum(axis=1) > 0
    else:
        votes = a.label_counts()
        m = votes.sum(axis=1)[a.item]
        ref = votes[a.item]
        ref[np.arange(len(a)), a.label] -= 1.0
        has = m >= 2
        ref = np.divide(ref, (m - 1.0)[:, None], out=np.zeros_like(ref), where=has[:, None])
    lab, y, ref = a.labeler[has], a.label[has], ref[has]
    flat = (lab[:, None] * k * k + np.arange(k)[None, :] * k + y[:, None]).ravel()
    conf = np.bincount(flat, weights=ref.ravel(), minlength=n_lab * k * k)
    n_ans = np.bincount(lab, minlength=n_lab).astype(np.float64)
    return np.asarray(conf, dtype=np.float64).reshape(n_lab, k, k), n_ans


def find_deviant_labelers(
    answers: Answers,
    *,
    probas: npt.ArrayLike | None = None,
    shrinkage: float = 5.0,
    min_answers: int = 1,
    top: int = 10,
) -> LabelerDeviation:
    """Labelers whose confusion matrix deviates most from the pooled confusion.

    Each labeler's confusion row for reference class ``k`` is shrunk toward the pooled row
    with ``shrinkage`` pseudo-answers: ``(C_w[k] + s P[k]) / (C_w[k].sum() + s)``; the
    deviation is the total-variation distance to ``P[k]`` averaged over ``k`` with the
    labeler's reference-class weights. A labeler with few answers therefore needs a larger
    difference to rank high.

    Parameters
    ----------
    answers : Answers
        One answer per (item, labeler).
    probas : array of float, shape (n_items, n_classes), optional
        Posterior used as reference; leave-one-out votes when absent.
    shrinkage : float
        Pseudo-answers pulling each row toward the pooled row (>= 0).
    min_answers : int
        Labelers with fewer referenced answers are skipped.
    top : int
        Labelers returned.

    Returns
    -------
    LabelerDeviation

    Examples
    --------
    >>> items = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    >>> labelers = [0, 1, 2] * 4
    >>> labels = [0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0]  # labeler 2 flips every label
    >>> find_deviant_labelers(Answers.from_codes(items, labelers, labels), top=1).labelers.tolist()
    [2]
    """
    if shrinkage < 0:
        raise InvalidInput(f"shrinkage must be >= 0, got {shrinkage}")
    conf, n_ans = labeler_confusions(answers, probas=probas)
    k = conf.shape[1]
    pooled_counts = conf.sum(axis=0)
    row_tot = pooled_counts.sum(axis=1, keepdims=True)
    pooled = np.divide(
        pooled_counts, row_tot, out=np.full_like(pooled_counts, 1.0 / max(k, 1)), where=row_tot > 0
    )
    rows = conf.sum(axis=2)  # (L, K) reference mass per class
    shrunk = (conf + shrinkage * pooled[None]) / np.maximum(rows + shrinkage, 1e-300)[:, :, None]
    diff = shrunk - pooled[None]
    tv = 0.5 * np.abs(diff).sum(axis=2)  # (L, K)
    weight = np.divide(
        rows,
        rows.sum(axis=1, keepdims=True),
        out=np.zeros_like(rows),
        where=rows.sum(axis=1, keepdims=True) > 0,
    )
    deviation = (weight * tv).sum(axis=1)
    worst = np.argmax(weight * tv, axis=1)
    over = np.argmax(diff[np.arange(conf.shape[0]), worst], axis=1)
    ok = np.flatnonzero(n_ans >= max(min_answers, 1))
    order = ok[np.lexsort((ok, -deviation[ok]))][: max(top, 0)]
    return LabelerDeviation(
        labelers=order.astype(np.int64),
        deviation=deviation[order],
        n_answers=n_ans[order].astype(np.int64),
        worst_class=worst[order].astype(np.int64),
        over_given=over[order].astype(np.int64),
        given_rate=shrunk[order, worst[order], over[order]],
        group_rate=pooled[worst[order], over[order]],
        pooled=pooled,
    )


@dataclass(frozen=True)
class SchemaGapReport:
    """Short report of where the schema leaves labelers guessing.

    Attributes
    ----------
    labels : tuple of str, shape (n_classes,)
        Label names (codes when not given).
    alpha : AgreementResult
        Nominal Krippendorff's alpha over all classes.
    per_label : LabelAgreement
        One-vs-rest alpha per class.
    confused_pairs : tuple of ConfusedPair
        Most confused class pairs, by share of all disagreement.
    uncertain_items : UncertainItems
        Highest-entropy items.
    deviant_labelers : LabelerDeviation
        Labelers whose confusion differs most from the group.
    """

    labels: tuple[str, ...]
    alpha: AgreementResult
    per_label: LabelAgreement
    confused_pairs: tuple[ConfusedPair, ...]
    uncertain_items: UncertainItems
    deviant_labelers: LabelerDeviation

    def to_text(
        self,
        *,
        item_ids: Sequence[str] | None = None,
        labeler_ids: Sequence[str] | None = None,
    ) -> str:
        """Plain-text report; ``item_ids``/``labeler_ids`` name the codes (position = code)."""
        lab = self.labels

        def item_name(i: int) -> str:
            return repr(item_ids[i]) if item_ids is not None else f"item {i}"

        def labeler_name(w: int) -> str:
            return repr(labeler_ids[w]) if labeler_ids is not None else f"labeler {w}"

        out = [
            f"Schema gap report: Krippendorff's alpha (nominal) {self.alpha.value:.3f} "
            f"({self.alpha.band}) over {self.alpha.n_items} items."
        ]
        out.append("")
        out.append("Label pairs that need guideline edge-case examples:")
        if not self.confused_pairs:
            out.append("  none: labelers never split an item between two labels.")
        for n, p in enumerate(self.confused_pairs, 1):
            out.append(
                f"  {n}. {lab[p.class_a]!r} vs {lab[p.class_b]!r}: {p.share:.0%} of all "
                f"disagreement, {p.ratio_to_chance:.1f}x chance -> add worked examples that "
                f"separate {lab[p.class_a]!r} from {lab[p.class_b]!r}."
            )
        weak = [
            (c, float(v)) for c, v in enumerate(self.per_label.alpha) if np.isfinite(v) and v < 0.6
        ]
        out.append("")
        if weak:
            out.append("Labels applied inconsistently (one-vs-rest alpha < 0.6):")
            for c, v in sorted(weak, key=lambda cv: cv[1]):
                out.append(
                    f"  {lab[c]!r}: alpha {v:.3f} ({self.per_label.bands[c]}), "
                    f"{int(self.per_label.n_values[c])} answers"
                )
        else:
            out.append("Every label is applied consistently (one-vs-rest alpha >= 0.6).")
        out.append("")
        out.append("Most ambiguous items (candidates for those examples):")
        u = self.uncertain_items
        if len(u) == 0:
            out.append("  none.")
        for i, h, hn, v in zip(u.items, u.entropy, u.normalized_entropy, u.votes, strict=True):
            votes = ", ".join(
                f"{lab[c]}: {int(v[c])}" for c in np.argsort(-v, kind="stable") if v[c] > 0
            )
            out.append(
                f"  {item_name(int(i))}: entropy {h:.2f} nats ({hn:.0%} of max); votes {votes}"
            )
        out.append("")
        out.append("Labelers whose confusion differs most from the group:")
        d = self.deviant_labelers
        if len(d) == 0:
            out.append("  none.")
        for r in d.rows():
            out.append(
                f"  {labeler_name(r.labeler)}: deviation {r.deviation:.2f} over {r.n_answers} "
                f"answers; on items others call {lab[r.worst_class]!r} they answer "
                f"{lab[r.over_given]!r} {r.given_rate:.0%} of the time (group: {r.group_rate:.0%})"
            )
        return "\n".join(out)


def schema_gap_report(
    answers: Answers,
    *,
    labels: Sequence[str] | None = None,
    probas: npt.ArrayLike | None = None,
    top: int = 5,
    shrinkage: float = 5.0,
    min_labeler_answers: int = 10,
    n_boot: int = 0,
    random_state: RandomState = None,
) -> SchemaGapReport:
    """Confused label pairs, weak labels, ambiguous items and deviant labelers in one record.

    Parameters
    ----------
    answers : Answers
        One answer per (item, labeler).
    labels : sequence of str, shape (n_classes,), optional
        Label names for the text (codes when absent).
    probas : array of float, shape (n_items, n_classes), optional
        Posteriors from an aggregator, for item entropy and as labeler reference.
    top : int
        Entries per section.
    shrinkage, min_labeler_answers
        See :func:`find_deviant_labelers`.
    n_boot, random_state
        Bootstrap of the alpha and per-label alphas (0: no intervals).

    Returns
    -------
    SchemaGapReport

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 1, 1, 2, 2], [0, 1] * 3, [0, 1, 0, 1, 2, 2])
    >>> report = schema_gap_report(a, labels=["cat", "dog", "fox"])
    >>> print(report.to_text().splitlines()[3])
      1. 'cat' vs 'dog': 100% of all disagreement, 2.5x chance -> add worked examples that separate 'cat' from 'dog'.
    """
    k = answers.n_classes
    names = tuple(str(x) for x in labels) if labels is not None else tuple(str(c) for c in range(k))
    if len(names) != k:
        raise InvalidInput(f"labels must have {k} names (one per class), got {len(names)}")
    rng = (
        np.random.default_rng(random_state)
        if not isinstance(random_state, np.random.Generator)
        else random_state
    )
    return SchemaGapReport(
        labels=names,
        alpha=krippendorff_alpha(answers, n_boot=n_boot, random_state=rng),
        per_label=agreement_per_label(answers, n_boot=n_boot, random_state=rng),
        confused_pairs=find_confused_pairs(answers, top=top),
        uncertain_items=find_uncertain_items(answers, probas=probas, top=top),
        deviant_labelers=find_deviant_labelers(
            answers, probas=probas, shrinkage=shrinkage, min_answers=min_labeler_answers, top=top
        ),
    )


__all__ = [
    "ConfusedPair",
    "DeviantLabeler",
    "LabelerDeviation",
    "SchemaGapReport",
    "UncertainItems",
    "find_confused_pairs",
    "find_deviant_labelers",
    "find_uncertain_items",
    "labeler_confusions",
    "schema_gap_report",
    "score_item_entropy",
]
