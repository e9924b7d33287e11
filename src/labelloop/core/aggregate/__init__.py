"""Truth inference: estimate each item's class and each labeler's reliability from answers.

Estimators follow scikit-learn conventions (parameters in ``__init__``, ``fit`` returns
self, results end in ``_``). Every estimator accepts known gold labels to clamp. Names in
the registry carry a version: :func:`make_aggregator` builds one by name.

Examples
--------
>>> from labelloop.core.answers import Answers
>>> a = Answers.from_codes([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2], [1, 1, 0, 0, 0, 1])
>>> make_aggregator("majority_vote.v1").fit(a).labels_.tolist()
[1, 0]
>>> sorted(AGGREGATORS)[:3]
['auto.v1', 'auto.v2', 'auto.v3']
"""

from __future__ import annotations

import types
import typing
from typing import Any

from labelloop.core.aggregate._base import Aggregator, GoldLike, argmax_tiebreak
from labelloop.core.aggregate.auto import AutoCommittee, HierarchicalDawidSkene
from labelloop.core.aggregate.dawid_skene import MACE, DawidSkene, OneCoinDawidSkene
from labelloop.core.aggregate.glad import GLAD
from labelloop.core.aggregate.selection import AnchoredAutoAggregator, AutoAggregator, Selection
from labelloop.core.aggregate.voting import (
    MajorityVote,
    Wawa,
    WeightedMajorityVote,
    ZeroBasedSkill,
)
from labelloop.errors import InvalidInput, NotFound

AGGREGATORS: dict[str, type[Aggregator]] = {
    cls.name: cls
    for cls in (
        MajorityVote,
        WeightedMajorityVote,
        Wawa,
        ZeroBasedSkill,
        DawidSkene,
        OneCoinDawidSkene,
        MACE,
        GLAD,
        HierarchicalDawidSkene,
        AutoCommittee,
        AutoAggregator,
        AnchoredAutoAggregator,
    )
}
"""Registry: versioned name -> estimator class."""


def resolve_name(name: str) -> str:
    """Full registry name of ``name``; a bare name (``dawid_skene``) means its latest version."""
    if name in AGGREGATORS:
        return name
    versions = sorted(
        (n for n in AGGREGATORS if n.rsplit(".v", 1)[0] == name),
        key=lambda n: int(n.rsplit(".v", 1)[1]),
    )
    if versions:
        return versions[-1]
    raise NotFound(f"unknown aggregator {name!r}; known: {', '.join(sorted(AGGREGATORS))}")


def make_aggregator(name: str, **params: Any) -> Aggregator:
    """Build a registered aggregator by (versioned or bare) name with its parameters.

    Raises :class:`labelloop.errors.NotFound` listing the known names, and
    :class:`labelloop.errors.InvalidInput` when a parameter's value is not of the type of its
    default (a number where a number is expected, ...). An unknown parameter name raises the
    constructor's ``TypeError``.
    """
    full = resolve_name(name)
    cls = AGGREGATORS[full]
    hints = typing.get_type_hints(cls.__init__)
    for key, value in params.items():
        if key in hints and not _fits(value, hints[key]):
            raise InvalidInput(
                f"{full}: parameter {key}={value!r}: expected {_describe(hints[key])}"
            )
    return cls(**params)


def _members(hint: Any) -> tuple[Any, ...]:
    """The alternatives of a union hint (``int | None``), or the hint itself."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits ``hint``; kinds this does not know (arrays, ...) always fit."""
    for member in _members(hint):
        if typing.get_origin(member) is typing.Literal:
            if any(type(value) is type(v) and value == v for v in typing.get_args(member)):
                return True
        elif member is bool:
            if isinstance(value, bool):
                return True
        elif member is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return True
        elif member is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return True
        elif member is str:
            if isinstance(value, str):
                return True
        elif member is type(None):
            if value is None:
                return True
        else:
            return True
    return False


def _describe(hint: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    parts: list[str] = []
    for member in _members(hint):
        if typing.get_origin(member) is typing.Literal:
            parts.extend(repr(v) for v in typing.get_args(member))
        elif member is type(None):
            parts.append("null")
        else:
            parts.append(names.get(member, str(member)))
    return " or ".join(parts)


__all__ = [
    "AGGREGATORS",
    "GLAD",
    "MACE",
    "Aggregator",
    "AnchoredAutoAggregator",
    "AutoAggregator",
    "AutoCommittee",
    "DawidSkene",
    "GoldLike",
    "HierarchicalDawidSkene",
    "MajorityVote",
    "OneCoinDawidSkene",
    "Selection",
    "Wawa",
    "WeightedMajorityVote",
    "ZeroBasedSkill",
    "argmax_tiebreak",
    "make_aggregator",
    "resolve_name",
]

import labelloop.core.label_model  # noqa: E402,F401  (registers label_model.v1)
