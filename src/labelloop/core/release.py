"""Dataset versions: the final label per item, stable splits, filters and the diff of two
versions. Pure: records in, records out.

The final label of an item is, in this order, its gold label, its latest correction by a
person, or the aggregate (truth inference over its answers): :data:`LABEL_SOURCES`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labelloop.core.provenance import content_hash

LABEL_SOURCES = ("gold", "correction", "aggregate")
"""Where a release's label comes from, strongest first."""

DEFAULT_SPLITS = (("train", 0.8), ("validation", 0.1), ("test", 0.1))


@dataclass(frozen=True)
class ReleaseLabel:
    """One item of a release."""

    item: str
    """The item key."""
    label: Any
    confidence: float | None
    soft_label: dict[str, float] | None
    source: str
    """One of :data:`LABEL_SOURCES`."""
    event_seq: int | None
    """The gold or correction event behind a person's label (None for the aggregate)."""
    answers: tuple[int, ...]
    """Seqs of the answer events the label rests on (each labeler's last answer)."""
    split: str

    def record(self) -> list[Any]:
        """The canonical form hashed into a release's labels digest."""
        return [
            self.item,
            self.label,
            self.confidence,
            self.soft_label,
            self.source,
            self.event_seq,
            list(self.answers),
            self.split,
        ]


def labels_digest(labels: Sequence[ReleaseLabel]) -> str:
    """SHA-256 over the canonical JSON of every label record, by item key."""
    return content_hash([x.record() for x in sorted(labels, key=lambda x: x.item)])


def assign_split(key: str, splits: Sequence[tuple[str, float]] = DEFAULT_SPLITS) -> str:
    """The split of an item: a fixed function of its key (SHA-256 mapped to [0, 1)), so an
    item stays in its split in every later version whatever else changes.

    Examples
    --------
    >>> assign_split("item-1") == assign_split("item-1")
    True
    >>> assign_split("x", [("all", 1.0)])
    'all'
    """
    point = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64
    edge = 0.0
    for name, fraction in splits:
        edge += fraction
        if point < edge:
            return name
    return splits[-1][0]


def check_splits(splits: Sequence[tuple[str, float]]) -> str | None:
    """Why a split specification is invalid, or None."""
    names = [n for n, _ in splits]
    if not splits:
        return "no splits; expected e.g. train=0.8,validation=0.1,test=0.1"
    if len(set(names)) != len(names):
        return f"split names repeat in {names}"
    if any(not (0 < f <= 1) for _, f in splits):
        return f"split fractions {[f for _, f in splits]}; expected each in (0, 1]"
    total = sum(f for _, f in splits)
    if abs(total - 1) > 1e-9:
        return f"split fractions sum to {total:g}; expected 1"
    return None


@dataclass(frozen=True)
class Change:
    """One item that differs between two releases, and why."""

    item: str
    change: str
    """added, removed or relabeled."""
    before: Any
    after: Any
    causes: tuple[str, ...]
    """Any of: new answers, adjudication (gold or a person's correction), schema change,
    method change, filters (the item was kept or dropped by other filters)."""


def diff_releases(
    a: Mapping[str, ReleaseLabel],
    b: Mapping[str, ReleaseLabel],
    *,
    a_size: int,
    schema_changed: bool,
    method_changed: bool,
    filters_changed: bool,
) -> list[Change]:
    """Items added, removed and relabeled from release ``a`` to ``b`` (by item key), each
    with its causes. ``a_size``: events in ``a``'s checkpoint (events after it are new).

    Examples
    --------
    >>> x = ReleaseLabel("i1", "ham", 1.0, None, "aggregate", None, (1,), "train")
    >>> y = ReleaseLabel("i1", "spam", 1.0, None, "gold", 9, (1,), "train")
    >>> [(c.change, c.causes) for c in diff_releases({"i1": x}, {"i1": y}, a_size=5,
    ...     schema_changed=False, method_changed=False, filters_changed=False)]
    [('relabeled', ('adjudication',))]
    """
    out: list[Change] = []
    for key in sorted(set(a) | set(b)):
        old, new = a.get(key), b.get(key)
        if old is not None and new is not None and old.label == new.label:
            continue
        causes: list[str] = []
        if new is not None and any(s > a_size for s in new.answers):
            causes.append("new answers")
        if new is not None and new.source != "aggregate" and (new.event_seq or 0) > a_size:
            causes.append("adjudication")
        if schema_changed:
            causes.append("schema change")
        if method_changed and "aggregate" in {x.source for x in (old, new) if x is not None}:
            causes.append("method change")
        if filters_changed and (old is None or new is None):
            causes.append("filters")
        if old is None:
            out.append(Change(key, "added", None, _label(new), tuple(causes)))
        elif new is None:
            out.append(Change(key, "removed", old.label, None, tuple(causes)))
        else:
            out.append(Change(key, "relabeled", old.label, new.label, tuple(causes)))
    return out


def _label(x: ReleaseLabel | None) -> Any:
    return None if x is None else x.label
