"""Shared pieces of labelers: the :class:`Labeler` protocol, text extraction, label checks,
version hashes, user modules."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from labelloop.core.answers import FloatArray
from labelloop.core.provenance import content_hash, sha256_hex
from labelloop.errors import Conflict, InvalidInput


@runtime_checkable
class Labeler(Protocol):
    """What every labeler that is not a person has: an identity and its provenance.

    ``kind`` (``model``, ``llm``, ``rule``, ...), ``name`` and ``version`` identify the
    labeler whose answers these are (one labeler per version: a retrained model or an
    edited rule is a new version); :meth:`provenance` says what produced them, for answer
    events and dataset manifests. Built-ins (``sklearn``, ``embeddings``, ``llm``,
    ``rules``) and plugins are registered in :data:`labelloop.registry.labelers`.
    """

    @property
    def kind(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def provenance(self) -> dict[str, Any]:
        """A JSON-ready description: at least ``kind``, ``name`` and ``version``."""
        ...


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


def import_user_file(path: str | Path, what: str) -> ModuleType:
    """Import a user's Python file (labeling functions, an estimator factory) as a module.

    ``what`` says what the file should define, for the error message. Problems (not a .py
    file, an exception while importing) raise :class:`InvalidInput` in one line.
    """
    p = Path(path)
    if not p.is_file() or p.suffix != ".py":
        raise InvalidInput(f"{p}: expected an existing Python file (.py) defining {what}")
    mod_name = f"labelloop_user_{hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(mod_name, p)
    if spec is None or spec.loader is None:
        raise InvalidInput(f"{p}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module  # pickling (joblib, worker processes) finds it by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's module: report it in one line
        sys.modules.pop(mod_name, None)
        raise InvalidInput(
            f"{p}: importing the module failed: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def load_estimator(spec: str) -> tuple[Any, str]:
    """A scikit-learn estimator from ``FILE.py:NAME`` or ``package.module:NAME``.

    ``NAME`` is an estimator (an object with ``fit`` and ``predict_proba``), an estimator
    class, or a function that takes no arguments and returns one. Returns the estimator
    and ``NAME``.
    """
    source, sep, name = spec.rpartition(":")
    if not sep or not source or not name.isidentifier():
        raise InvalidInput(
            f"estimator {spec!r}: expected FILE.py:NAME or package.module:NAME (NAME an "
            "estimator or a function returning one)"
        )
    if source.endswith(".py"):
        module = import_user_file(source, f"{name!r}")
    else:
        try:
            module = importlib.import_module(source)
        except ImportError as exc:
            raise InvalidInput(f"estimator {spec!r}: cannot import {source!r}: {exc}") from None
    if not hasattr(module, name):
        public = sorted(n for n in vars(module) if not n.startswith("_"))[:15]
        raise InvalidInput(f"estimator {spec!r}: {source} has no {name!r}; names seen: {public}")
    obj = getattr(module, name)
    if isinstance(obj, type) or (not hasattr(obj, "fit") and callable(obj)):
        try:
            obj = obj()
        except Exception as exc:  # the user's factory: report it in one line
            raise InvalidInput(
                f"estimator {spec!r}: calling {name}() failed: {type(exc).__name__}: {exc}"
            ) from exc
    missing = [m for m in ("fit", "predict_proba") if not hasattr(obj, m)]
    if missing:
        raise InvalidInput(
            f"estimator {spec!r}: {name} gives a {type(obj).__name__} without "
            f"{' and '.join(missing)}; expected a scikit-learn classifier with predict_proba "
            "(a Pipeline ending in one is fine)"
        )
    return obj, name
