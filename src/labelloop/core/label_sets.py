"""Multi-label answers: each answer is a *set* of labels, held as a multi-hot row.

:class:`SetAnswers` is the multi-label twin of :class:`~labelloop.core.answers.Answers`:
aligned ``item`` and ``labeler`` code arrays (one entry per answer, never a dense
items x labelers matrix) and a boolean ``present`` matrix of shape (n_answers, n_classes),
dense only over the label set. An empty row is an answer saying "none of the labels apply".

Per-label views turn it into ordinary binary answers (``0`` absent, ``1`` present), so every
single-label kernel (truth inference, kappa) applies to each label as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from labelloop.core.answers import Answers, FloatArray, IntArray
from labelloop.errors import InvalidInput

BoolArray = npt.NDArray[np.bool_]
ABSENT: int = 0
PRESENT: int = 1


@dataclass(frozen=True, eq=False)
class SetAnswers:
    """Sparse multi-label answers: aligned ``item``, ``labeler`` codes and multi-hot rows.

    Parameters
    ----------
    item, labeler : array of int, shape (n_answers,)
        Codes in ``[0, n_items)`` and ``[0, n_labelers)``.
    present : array of bool, shape (n_answers, n_classes)
        ``present[j, k]``: answer ``j`` gives label ``k``.
    n_items, n_labelers : int
        Sizes of the code spaces.

    Examples
    --------
    >>> a = SetAnswers.from_sets([0, 0, 1], [0, 1, 0], [[0, 2], [0], []], n_classes=3)
    >>> a.present.astype(int).tolist()
    [[1, 0, 1], [1, 0, 0], [0, 0, 0]]
    >>> a.per_label(0).label.tolist()
    [1, 1, 0]
    """

    item: IntArray
    labeler: IntArray
    present: BoolArray
    n_items: int
    n_labelers: int

    def __post_init__(self) -> None:
        item = np.ascontiguousarray(self.item, dtype=np.int64)
        labeler = np.ascontiguousarray(self.labeler, dtype=np.int64)
        present = np.ascontiguousarray(self.present, dtype=bool)
        if item.ndim != 1 or labeler.shape != item.shape:
            raise InvalidInput(
                f"item and labeler must be 1-D of one length, got {item.shape} and {labeler.shape}"
            )
        if present.ndim != 2 or present.shape[0] != item.shape[0]:
            raise InvalidInput(
                f"present must have shape (n_answers, n_classes) = ({item.shape[0]}, K), "
                f"got {present.shape}"
            )
        for name, arr, size in (
            ("item", item, self.n_items),
            ("labeler", labeler, self.n_labelers),
        ):
            if arr.size and (arr.min() < 0 or arr.max() >= size):
                raise InvalidInput(
                    f"{name} codes must lie in [0, {size}), got [{int(arr.min())}, {int(arr.max())}]"
                )
        for arr in (item, labeler, present):
            arr.setflags(write=False)
        object.__setattr__(self, "item", item)
        object.__setattr__(self, "labeler", labeler)
        object.__setattr__(self, "present", present)

    @classmethod
    def from_sets(
        cls,
        item: Sequence[int] | npt.ArrayLike,
        labeler: Sequence[int] | npt.ArrayLike,
        sets: Sequence[Sequence[int]],
        *,
        n_classes: int,
        n_items: int | None = None,
        n_labelers: int | None = None,
    ) -> SetAnswers:
        """Build from code arrays and one sequence of class codes per answer."""
        i = np.asarray(item, dtype=np.int64)
        w = np.asarray(labeler, dtype=np.int64)
        present = np.zeros((len(sets), n_classes), dtype=bool)
        rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
        cols = np.fromiter((c for s in sets for c in s), dtype=np.int64, count=rows.shape[0])
        if cols.size and (cols.min() < 0 or cols.max() >= n_classes):
            raise InvalidInput(f"class codes must lie in [0, {n_classes})")
        present[rows, cols] = True
        return cls(
            i,
            w,
            present,
            n_items if n_items is not None else (int(i.max()) + 1 if i.size else 0),
            n_labelers if n_labelers is not None else (int(w.max()) + 1 if w.size else 0),
        )

    def __len__(self) -> int:
        return int(self.item.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.present.shape[1])

    def deduplicate(self, *, keep: Literal["last", "first"] = "last") -> SetAnswers:
        """One answer per (item, labeler): the last (default) or first in array order."""
        # the answers' own positions as labels: deduplicating keeps the rows to keep
        rows = Answers(
            self.item,
            self.labeler,
            np.arange(len(self), dtype=np.int64),
            self.n_items,
            self.n_labelers,
            max(len(self), 1),
        ).deduplicate(keep=keep)
        if len(rows) == len(self):
            return self
        idx = rows.label
        return SetAnswers(
            self.item[idx], self.labeler[idx], self.present[idx], self.n_items, self.n_labelers
        )

    def per_label(self, k: int) -> Answers:
        """Binary answers for label ``k``: ``1`` (present) or ``0`` (absent), 2 classes."""
        return Answers(
            self.item,
            self.labeler,
            self.present[:, k].astype(np.int64),
            self.n_items,
            self.n_labelers,
            2,
        )

    def stacked(self) -> Answers:
        """All labels as one binary problem over (item, label) units.

        Unit ``item * n_classes + k`` is "label k on item"; the labelers stay the same, so a
        model fitted on it shares each labeler's miss and false-add rates across labels.
        """
        k = self.n_classes
        return Answers(
            (self.item[:, None] * k + np.arange(k)[None, :]).ravel(),
            np.repeat(self.labeler, k),
            self.present.astype(np.int64).ravel(),
            self.n_items * k,
            self.n_labelers,
            2,
        )

    def vote_share(self) -> FloatArray:
        """Share of the answers on each item that give each label, shape (n_items, K).

        NaN rows for items without answers.
        """
        total = np.bincount(self.item, minlength=self.n_items).astype(np.float64)
        out = np.empty((self.n_items, self.n_classes), dtype=np.float64)
        for k in range(self.n_classes):  # loop over labels only
            out[:, k] = np.bincount(self.item, weights=self.present[:, k], minlength=self.n_items)
        with np.errstate(invalid="ignore", divide="ignore"):
            return out / total[:, None]


def masi_distance(a: BoolArray, b: BoolArray) -> FloatArray:
    """MASI distance between label sets (Passonneau 2006), row by row.

    ``1 - J * M`` with ``J`` the Jaccard index and ``M`` 1 for equal sets, 2/3 when one set
    contains the other, 1/3 when they overlap otherwise, 0 when disjoint. Two empty sets are
    equal (distance 0).

    Parameters
    ----------
    a, b : array of bool, shape (n, K) (or broadcastable)

    Returns
    -------
    distance : array of float, shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0], [0, 0, 0]], dtype=bool)
    >>> b = np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1], [0, 0, 0]], dtype=bool)
    >>> np.round(masi_distance(a, b), 4).tolist()
    [0.0, 0.6667, 0.8889, 0.0]
    """
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    inter = (a & b).sum(axis=-1).astype(np.float64)
    union = (a | b).sum(axis=-1).astype(np.float64)
    size_a = a.sum(axis=-1)
    size_b = b.sum(axis=-1)
    equal = inter == union
    nested = (inter == size_a) | (inter == size_b)
    m = np.where(equal, 1.0, np.where(nested, 2 / 3, np.where(inter > 0, 1 / 3, 0.0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        jaccard = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return np.asarray(1.0 - jaccard * m, dtype=np.float64)


def distinct_sets(present: BoolArray) -> tuple[BoolArray, IntArray]:
    """The distinct rows of a multi-hot matrix and each row's index among them.

    Examples
    --------
    >>> import numpy as np
    >>> sets, code = distinct_sets(np.array([[1, 0], [0, 1], [1, 0]], dtype=bool))
    >>> sets.astype(int).tolist(), code.tolist()
    ([[0, 1], [1, 0]], [1, 0, 1])
    """
    present = np.asarray(present, dtype=bool)
    if present.shape[0] == 0:
        return present.copy(), np.zeros(0, dtype=np.int64)
    sets, code = np.unique(present, axis=0, return_inverse=True)
    return sets, np.asarray(code, dtype=np.int64).reshape(-1)


SET_UNCERTAINTY: tuple[str, ...] = ("least_confidence", "margin", "entropy")


def score_set_uncertainty(probas: npt.ArrayLike, *, method: str = "entropy") -> FloatArray:
    """Uncertainty of predicted label sets from per-label probabilities (labels independent).

    - ``least_confidence``: ``1 - prod_k max(p_k, 1 - p_k)``, one minus the probability of
      the most likely set;
    - ``margin``: ``1 - min_k |2 p_k - 1|``, how close the least certain label is to 0.5;
    - ``entropy``: ``sum_k H(p_k)`` in nats, the entropy of the set distribution.

    Parameters
    ----------
    probas : array of float, shape (n, n_classes)
        P(label present) per item and label.
    method : {"least_confidence", "margin", "entropy"}

    Returns
    -------
    scores : array of float, shape (n,)
        Higher is more uncertain.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.5, 0.99]])
    >>> np.round(score_set_uncertainty(p, method="least_confidence"), 3).tolist()
    [0.19, 0.505]
    >>> np.round(score_set_uncertainty(p, method="margin"), 2).tolist()
    [0.2, 1.0]
    """
    p = np.clip(np.asarray(probas, dtype=np.float64), 0.0, 1.0)
    if p.ndim != 2:
        raise InvalidInput(f"probas must have shape (n, n_classes), got {p.shape}")
    if method == "least_confidence":
        return np.asarray(1.0 - np.prod(np.maximum(p, 1.0 - p), axis=1), dtype=np.float64)
    if method == "margin":
        if p.shape[1] == 0:
            return np.zeros(p.shape[0], dtype=np.float64)
        return np.asarray(1.0 - np.abs(2.0 * p - 1.0).min(axis=1), dtype=np.float64)
    if method == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -(p * np.log(p) + (1.0 - p) * np.log(1.0 - p))
        return np.asarray(np.nan_to_num(h).sum(axis=1), dtype=np.float64)
    raise InvalidInput(f"method must be one of {list(SET_UNCERTAINTY)}, got {method!r}")
