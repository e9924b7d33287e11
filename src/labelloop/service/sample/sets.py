"""Sampling for task types whose predictions are label sets: uncertainty from per-label
probabilities (:func:`labelloop.core.label_sets.score_set_uncertainty`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from labelloop.core.answers import FloatArray
from labelloop.core.label_sets import SET_UNCERTAINTY, score_set_uncertainty
from labelloop.errors import InvalidInput
from labelloop.schema import Schema

SET_STRATEGIES: tuple[str, ...] = ("random", "diversity", *SET_UNCERTAINTY)
"""Sampling strategies that apply to label sets."""


def set_uncertainty(
    strategy: str,
    probabilities: Mapping[int, Mapping[str, float]] | None,
    item_ids: Sequence[int],
    schema: Schema,
) -> FloatArray | None:
    """Uncertainty per pool item (shape (n_pool,)) for ``strategy``, or None when it needs
    none or there is no model yet (``probabilities`` None: cold start); an item without
    predictions counts as maximally uncertain (every label at 0.5)."""
    if strategy not in SET_STRATEGIES:
        raise InvalidInput(
            f"strategy {strategy!r} works on one class distribution per item; schema "
            f"{schema.version} is {schema.task}: expected one of {', '.join(SET_STRATEGIES)}"
        )
    if strategy not in SET_UNCERTAINTY or probabilities is None:
        return None
    labels = schema.label_space.labels
    probas = np.full((len(item_ids), len(labels)), 0.5)
    for k, item_id in enumerate(item_ids):
        given = probabilities.get(int(item_id))
        if given:
            probas[k] = [float(given.get(name, 0.5)) for name in labels]
    return score_set_uncertainty(probas, method=strategy)
