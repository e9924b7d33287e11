"""labelloop: own your labeling operations end to end.

Public names load lazily (PEP 562), so `labelloop` commands that need little start fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

_EXPORTS = {
    "ABSTAIN": "labelloop.core.answers",
    "Answers": "labelloop.core.answers",
    "InvalidInput": "labelloop.errors",
    "LabelSpace": "labelloop.core.answers",
    "LabelloopError": "labelloop.errors",
    "NotFound": "labelloop.errors",
    "Schema": "labelloop.schema",
    "SchemaError": "labelloop.errors",
    "encode_answers": "labelloop.core.answers",
    "load_schema": "labelloop.schema",
    "open_schema": "labelloop.schema",
}

__all__ = [
    "ABSTAIN",
    "Answers",
    "InvalidInput",
    "LabelSpace",
    "LabelloopError",
    "NotFound",
    "Schema",
    "SchemaError",
    "__version__",
    "encode_answers",
    "load_schema",
    "open_schema",
]

if TYPE_CHECKING:
    from labelloop.core.answers import ABSTAIN, Answers, LabelSpace, encode_answers
    from labelloop.errors import InvalidInput, LabelloopError, NotFound, SchemaError
    from labelloop.schema import Schema, load_schema, open_schema


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'labelloop' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
