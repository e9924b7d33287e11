"""Shared pieces of model labelers: text extraction, label checks, version hashes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from labelloop.core.answers import FloatArray
from labelloop.core.provenance import content_hash, sha256_hex
from labelloop.errors import Conflict, InvalidInput


def extract_texts(texts: Sequence[str] | Sequence[Mapping[str, Any]], text_field: str) -> list[str]:
    """Texts from strings or item dicts (``item[text_field]``); one clear error per bad row."""
    if isinstance(texts, str):
        raise InvalidInput("expected a sequence of texts or item dicts; got a single string")
    out: list[str] = []
    for i, t in enumerate(texts):
        if isinstance(t, str):
            out.append(t)
        elif isinstance(t, Mapping):
            if text_field not in t:
                raise InvalidInput(
                    f"item {i} has no field {text_field!r}; fields seen: {sorted(t)[:10]}"
                )
            value = t[text_field]
            if not isinstance(value, str):
                raise InvalidInput(
                    f"item {i} field {text_field!r} must be text; got {type(value).__name__}"
                )
            out.append(value)
        else:
            raise InvalidInput(f"item {i} must be a string or a dict; got {type(t).__name__}")
    return out


def check_labels(labels: Sequence[str], n: int) -> tuple[str, ...]:
    """Validate training labels; return the sorted distinct classes."""
    labels = list(labels)
    if len(labels) != n:
        raise InvalidInput(f"got {n} texts but {len(labels)} labels; expected one label per text")
    if n == 0:
        raise InvalidInput("no training examples; expected at least one text per class")
    bad = next((lab for lab in labels if not isinstance(lab, str)), None)
    if bad is not None:
        raise InvalidInput(f"labels must be strings; got {bad!r} ({type(bad).__name__})")
    classes = tuple(sorted(set(labels)))
    if len(classes) < 2:
        raise InvalidInput(
            f"need at least 2 distinct labels to train a model; got only {list(classes)}"
        )
    return classes


def training_version(params: str, texts: Sequence[str], labels: Sequence[str]) -> str:
    """Content hash of (estimator parameters, sorted (text hash, label) pairs): 16 hex chars."""
    pairs = sorted(zip((sha256_hex(t) for t in texts), labels, strict=True))
    return content_hash({"params": params, "data": pairs})[:16]


def params_repr(estimator: Any) -> str:
    """A deterministic description of an estimator's parameters."""
    get = getattr(estimator, "get_params", None)
    if get is None:
        return repr(estimator)
    params = get(deep=True)
    return repr(sorted((k, repr(v)) for k, v in params.items()))


def not_trained(name: str) -> Conflict:
    return Conflict(f"labeler {name!r} is not trained yet; call fit(texts, labels) first")


def reorder_columns(
    probas: FloatArray, model_classes: Sequence[Any], classes: Sequence[str]
) -> FloatArray:
    """Columns of ``probas`` (in ``model_classes`` order) rearranged to ``classes`` order."""
    out = np.zeros((probas.shape[0], len(classes)), dtype=np.float64)
    where = {c: j for j, c in enumerate(classes)}
    for j, c in enumerate(model_classes):
        out[:, where[str(c)]] = probas[:, j]
    return out
