"""Answers as sparse aligned int arrays plus a codebook.

A set of answers is three aligned 1-D integer arrays ``item``, ``labeler`` and ``label``
(one entry per answer) and the sizes of the three code spaces. ``ABSTAIN`` (-1) as a label
means the labeler looked at the item and declined to vote. There is never a dense
items x labelers matrix.

Repeated answers of one labeler on one item
-------------------------------------------
Arrays keep every answer as given. :meth:`Answers.deduplicate` applies the stated rule used
by the service layer and the CLI before inference and agreement: the labeler's **last**
answer (in array order, which the store makes event order) is the one that counts, because
a later answer by the same labeler supersedes an earlier one. ``keep="first"`` is available
for data whose first answer is the one of record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from labelloop.errors import InvalidInput

ABSTAIN: int = -1
"""Label code meaning "looked, did not vote"."""

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _natural_key(value: str) -> tuple[int, float, str]:
    """Numbers sort numerically and before other strings; others sort as text."""
    if _NUMBER.match(value):
        return (0, float(value), value)
    return (1, 0.0, value)


@dataclass(frozen=True)
class LabelSpace:
    """Codebook mapping label names to codes ``0..K-1``.

    Parameters
    ----------
    labels : tuple of str, shape (K,)
        Label names; the position is the code.

    Examples
    --------
    >>> space = LabelSpace(("ham", "spam"))
    >>> space.encode(["spam", "ham"]).tolist()
    [1, 0]
    >>> space.decode([0, 1, -1])
    ['ham', 'spam', None]
    """

    labels: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        labels = tuple(str(x) for x in self.labels)
        if len(set(labels)) != len(labels):
            dupes = sorted({x for x in labels if labels.count(x) > 1})
            raise InvalidInput(f"label names must be unique; repeated: {dupes}")
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "_index", {name: i for i, name in enumerate(labels)})

    @classmethod
    def from_values(cls, values: Iterable[str]) -> LabelSpace:
        """Codebook of the distinct values, in natural order (numbers numerically)."""
        return cls(tuple(sorted({str(v) for v in values}, key=_natural_key)))

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, label: object) -> bool:
        return label in self._index

    def code(self, label: str) -> int:
        """Code of one label; ``KeyError`` naming the known labels when absent."""
        try:
            return self._index[label]
        except KeyError:
            raise KeyError(f"label {label!r} is not in the label set {list(self.labels)}") from None

    def encode(self, labels: Iterable[str]) -> IntArray:
        """Codes of many labels, shape (n,); ``KeyError`` on the first unknown one."""
        index = self._index
        out: list[int] = []
        for lab in labels:
            code = index.get(lab)
            if code is None:
                return self._raise_unknown(lab)
            out.append(code)
        return np.asarray(out, dtype=np.int64)

    def _raise_unknown(self, label: str) -> IntArray:
        raise KeyError(f"label {label!r} is not in the label set {list(self.labels)}")

    def decode(self, codes: Iterable[int]) -> list[str | None]:
        """Names of codes; ``ABSTAIN`` decodes to ``None``."""
        return [None if int(c) == ABSTAIN else self.labels[int(c)] for c in codes]


@dataclass(frozen=True, eq=False)
class Answers:
    """Sparse answers: aligned ``item``, ``labeler``, ``label`` code arrays.

    Parameters
    ----------
    item, labeler, label : array of int, shape (n_answers,)
        Codes in ``[0, n_items)``, ``[0, n_labelers)`` and ``[0, n_classes)`` (or
        ``ABSTAIN``) respectively.
    n_items, n_labelers, n_classes : int
        Sizes of the code spaces (items or labelers without answers are allowed).

    Examples
    --------
    >>> a = Answers.from_codes([0, 0, 1], [0, 1, 0], [1, 1, 0], n_classes=2)
    >>> a.n_items, a.n_labelers, len(a)
    (2, 2, 3)
    >>> a.label_counts().tolist()
    [[0.0, 2.0], [1.0, 0.0]]
    """

    item: IntArray
    labeler: IntArray
    label: IntArray
    n_items: int
    n_labelers: int
    n_classes: int

    def __post_init__(self) -> None:
        arrays = []
        for name in ("item", "labeler", "label"):
            arr = np.ascontiguousarray(getattr(self, name), dtype=np.int64)
            if arr.ndim != 1:
                raise InvalidInput(f"{name} must be 1-D, got shape {arr.shape}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
            arrays.append(arr)
        n = arrays[0].shape[0]
        if any(a.shape[0] != n for a in arrays):
            raise InvalidInput(
                "item, labeler and label must have the same length, got "
                f"{[a.shape[0] for a in arrays]}"
            )
        for name, arr, size, low in (
            ("item", arrays[0], self.n_items, 0),
            ("labeler", arrays[1], self.n_labelers, 0),
            ("label", arrays[2], self.n_classes, ABSTAIN),
        ):
            if size < 0:
                raise InvalidInput(f"n_{name}s must be >= 0, got {size}")
            if n and (arr.min() < low or arr.max() >= size):
                raise InvalidInput(
                    f"{name} codes must lie in [{low}, {size}), "
                    f"got [{int(arr.min())}, {int(arr.max())}]"
                )

    @classmethod
    def from_codes(
        cls,
        item: Sequence[int] | npt.ArrayLike,
        labeler: Sequence[int] | npt.ArrayLike,
        label: Sequence[int] | npt.ArrayLike,
        *,
        n_items: int | None = None,
        n_labelers: int | None = None,
        n_classes: int | None = None,
    ) -> Answers:
        """Build from code arrays; sizes default to ``max + 1``."""
        i = np.asarray(item, dtype=np.int64)
        w = np.asarray(labeler, dtype=np.int64)
        y = np.asarray(label, dtype=np.int64)

        def size(arr: IntArray, given: int | None) -> int:
            if given is not None:
                return given
            return int(arr.max()) + 1 if arr.size else 0

        return cls(i, w, y, size(i, n_items), size(w, n_labelers), size(y, n_classes))

    def __len__(self) -> int:
        return int(self.item.shape[0])

    def without_abstains(self) -> Answers:
        """Answers whose label is not ``ABSTAIN``."""
        keep = self.label != ABSTAIN
        if keep.all():
            return self
        return self._subset(keep)

    def _subset(self, mask_or_index: npt.NDArray[np.bool_] | IntArray) -> Answers:
        return Answers(
            self.item[mask_or_index],
            self.labeler[mask_or_index],
            self.label[mask_or_index],
            self.n_items,
            self.n_labelers,
            self.n_classes,
        )

    def deduplicate(self, *, keep: Literal["last", "first"] = "last") -> Answers:
        """One answer per (item, labeler): the last (default) or first in array order."""
        if len(self) == 0:
            return self
        key = self.item * max(self.n_labelers, 1) + self.labeler
        if keep == "last":
            rev = key[::-1]
            _, first_in_rev = np.unique(rev, return_index=True)
            idx = len(key) - 1 - first_in_rev
        elif keep == "first":
            _, idx = np.unique(key, return_index=True)
        else:
            raise InvalidInput(f"keep must be 'last' or 'first', got {keep!r}")
        if idx.shape[0] == len(self):
            return self
        return self._subset(np.sort(idx))

    def label_counts(self, weights: FloatArray | None = None) -> FloatArray:
        """Votes per item and class, shape (n_items, n_classes); abstains ignored.

        ``weights`` (shape (n_labelers,)) weighs each labeler's votes.
        """
        a = self.without_abstains()
        flat = a.item * self.n_classes + a.label
        w = None if weights is None else np.asarray(weights, dtype=np.float64)[a.labeler]
        counts = np.bincount(flat, weights=w, minlength=self.n_items * self.n_classes)
        return counts.astype(np.float64).reshape(self.n_items, self.n_classes)

    def answers_per_item(self) -> IntArray:
        """Number of non-abstain answers per item, shape (n_items,)."""
        a = self.without_abstains()
        return np.bincount(a.item, minlength=self.n_items).astype(np.int64)


def encode_answers(
    items: Sequence[str],
    labelers: Sequence[str],
    labels: Sequence[str],
    *,
    label_space: LabelSpace | None = None,
) -> tuple[Answers, list[str], list[str], LabelSpace]:
    """Encode string triples into :class:`Answers`.

    Returns the answers, the item ids and labeler ids (position = code, sorted) and the
    label space (given, or inferred from the values in natural order).

    Examples
    --------
    >>> a, items, workers, space = encode_answers(["t1", "t1"], ["w1", "w2"], ["a", "b"])
    >>> items, workers, space.labels, a.label.tolist()
    (['t1'], ['w1', 'w2'], ('a', 'b'), [0, 1])
    """
    if not (len(items) == len(labelers) == len(labels)):
        raise InvalidInput("items, labelers and labels must have the same length")
    item_ids, item_codes = np.unique(
        np.asarray(items, dtype=object).astype(str), return_inverse=True
    )
    worker_ids, worker_codes = np.unique(
        np.asarray(labelers, dtype=object).astype(str), return_inverse=True
    )
    label_arr = np.asarray(labels, dtype=object).astype(str)
    distinct, label_inv = np.unique(label_arr, return_inverse=True)
    space = label_space or LabelSpace.from_values(distinct.tolist())
    distinct_codes = space.encode(distinct.tolist())
    answers = Answers(
        item_codes.astype(np.int64),
        worker_codes.astype(np.int64),
        distinct_codes[label_inv] if len(label_arr) else np.zeros(0, dtype=np.int64),
        len(item_ids),
        len(worker_ids),
        len(space),
    )
    return answers, item_ids.tolist(), worker_ids.tolist(), space
