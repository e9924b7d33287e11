"""labelloop: own your labeling operations end to end."""

from labelloop.core import ABSTAIN, Answers, LabelSpace, encode_answers
from labelloop.errors import InvalidInput, LabelloopError, NotFound, SchemaError
from labelloop.schema import Schema, load_schema, open_schema

__version__ = "0.1.0.dev0"

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
