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

from typing import Any, cast

from labelloop import registry
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

AGGREGATORS = registry.aggregators
"""Registry: versioned name -> estimator class (see :mod:`labelloop.registry`)."""


def resolve_name(name: str) -> str:
    """Full registry name of ``name``; a bare name (``dawid_skene``) means its latest version."""
    return AGGREGATORS.resolve(name).key


def make_aggregator(name: str, **params: Any) -> Aggregator:
    """Build a registered aggregator by (versioned or bare) name with its parameters.

    Raises :class:`labelloop.errors.NotFound` listing the known names, and
    :class:`labelloop.errors.InvalidInput` for a parameter the aggregator does not take or
    whose value is not of the type of its default (a number where a number is expected, ...).
    """
    return cast(Aggregator, AGGREGATORS.make(name, **params))


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
