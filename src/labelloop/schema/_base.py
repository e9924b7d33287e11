"""What every task type shares: problems, value checks, input fields, labels, examples and
the :class:`Schema` base (hash, item checks) with the categorical machinery.

One module per task type (``single_label``, ``multi_label``) subclasses it; ``tasks`` maps
``task:`` values to them; ``files`` reads and validates YAML files.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Literal, NoReturn

import numpy as np
import numpy.typing as npt
from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from labelloop import registry
from labelloop.core.answers import LabelSpace
from labelloop.core.provenance import canonical_json, sha256_hex
from labelloop.errors import InvalidInput

InputType = Literal["text", "number", "boolean", "url", "image_url", "json"]
Loc = tuple[str | int, ...]

_DEFER = "labelloop.schema.defer_cross_checks"
_URL_SCHEMES = ("http", "https", "s3", "gs")
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One problem in a schema file: where (path and line/column, 1-based) and what."""

    source: str
    location: str
    line: int | None
    column: int | None
    message: str

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        return (
            f"{where}: {self.location}: {self.message}"
            if self.location
            else f"{where}: {self.message}"
        )


def _loc_str(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


def _describe(value: Any) -> str:
    """Short rendering of a seen value for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if not value.strip():
            return "an empty string" if not value else "a blank string"
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def _suggest(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def _fail(message: str) -> NoReturn:
    raise PydanticCustomError("labelloop", "{message}", {"message": message})


# --------------------------------------------------------------------------------------------
# Value checks shared by model validation, cross checks and check_item
# --------------------------------------------------------------------------------------------


def _name(value: Any, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        _fail(f"expected {what} (a string), saw {_describe(value)}")
    if not value.strip():
        _fail(f"expected a non-empty {what}, saw {_describe(value)}")
    if value != value.strip():
        _fail(f"{what} must not start or end with whitespace, saw {value!r}")
    if any(ord(c) < 32 for c in value):
        _fail(f"{what} must not contain control characters, saw {value!r}")
    if len(value) > 200:
        _fail(f"{what} must be at most 200 characters, saw {len(value)}")
    return value


def _text(value: Any, *, required: bool) -> str:
    if not isinstance(value, str):
        _fail(f"expected a string, saw {_describe(value)}")
    text: str = value.replace("\r\n", "\n").strip()
    if required and not text:
        _fail("expected a non-empty string, saw an empty string")
    return text


def _raw_name(value: Any) -> str | None:
    """A name as the model would store it, or None when the model would reject it."""
    try:
        return _name(value, "name")
    except PydanticCustomError:
        return None


_EXPECTED: dict[str, str] = {
    "text": "a non-empty string",
    "number": "a number",
    "boolean": "true or false",
    "url": "an http(s), s3 or gs URL",
    "image_url": "an http(s), s3 or gs URL or a data:image/ URL",
    "json": "a JSON value",
}


def _is_url(value: str, *, image: bool) -> bool:
    if image and value.startswith("data:image/"):
        return True
    parts = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#\s]+)", value)
    if parts is None or re.search(r"\s", value):
        return False
    return parts.group(1).lower() in _URL_SCHEMES


def _check_value(kind: str, value: Any, *, from_text: bool) -> tuple[Any, str | None]:
    """(normalized value, None) when ``value`` fits ``kind``, else (value, message)."""
    expected = _EXPECTED[kind]
    bad = f"expected {expected}, saw {_describe(value)}"
    if kind == "text":
        return (value, None) if isinstance(value, str) and value.strip() else (value, bad)
    if kind == "number":
        if from_text and isinstance(value, str):
            text = value.strip()
            try:
                value = int(text)
            except ValueError:
                try:
                    value = float(text)
                except ValueError:
                    return value, bad
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value, bad
        if isinstance(value, float) and not math.isfinite(value):
            return value, f"expected a finite number, saw {value!r}"
        return value, None
    if kind == "boolean":
        if from_text and isinstance(value, str):
            low = value.strip().lower()
            if low in _TRUE:
                return True, None
            if low in _FALSE:
                return False, None
        return (value, None) if isinstance(value, bool) else (value, bad)
    if kind in ("url", "image_url"):
        if isinstance(value, str) and _is_url(value.strip(), image=kind == "image_url"):
            return value, None
        return value, bad
    # json
    if from_text and isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            return value, f"expected JSON text, saw {_describe(value)} ({exc.msg})"
    try:
        canonical_json(value)
    except (TypeError, ValueError):
        return value, (
            "expected a JSON value (string, number, boolean, null, list, mapping; "
            f"no NaN/Infinity), saw {_describe(value)}"
        )
    return value, None


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check_fields(
    fields: Sequence[InputField], data: Any, *, from_text: bool
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    if not isinstance(data, Mapping):
        return {}, [("", f"expected a mapping of field names to values, saw {_describe(data)}")]
    out = dict(data)
    problems: list[tuple[str, str]] = []
    for spec in fields:
        expected = _EXPECTED[spec.type]
        if spec.name not in data:
            if spec.required:
                problems.append((spec.name, f"missing required field (expected {expected})"))
            continue
        value = data[spec.name]
        if _is_blank(value) and not spec.required:
            out[spec.name] = None
            continue
        normalized, message = _check_value(spec.type, value, from_text=from_text)
        if message:
            problems.append((spec.name, message))
        else:
            out[spec.name] = normalized
    return out, problems


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputField(_Model):
    """One item field annotators see (``inputs[i]``)."""

    name: str
    type: InputType = "text"
    required: StrictBool = True
    description: str = ""

    @field_validator("name", mode="before")
    @classmethod
    def _v_name(cls, v: Any) -> str:
        return _name(v, "an input field name")

    @field_validator("description", mode="before")
    @classmethod
    def _v_description(cls, v: Any) -> str:
        return _text(v, required=False)


class LabelDef(_Model):
    """One label (``labels[i]``): its name and when to use it."""

    name: str
    description: str

    @field_validator("name", mode="before")
    @classmethod
    def _v_name(cls, v: Any) -> str:
        return _name(v, "a label name")

    @field_validator("description", mode="before")
    @classmethod
    def _v_description(cls, v: Any) -> str:
        return _text(v, required=False)  # non-empty enforced for file schemas (cross check)


class _Example(_Model):
    id: str | None = None
    input: dict[str, Any]
    rationale: str
    edge_case: StrictBool = False

    @field_validator("id", mode="before")
    @classmethod
    def _v_id(cls, v: Any) -> str | None:
        return None if v is None else _name(v, "an example id")

    @field_validator("input", mode="before")
    @classmethod
    def _v_input(cls, v: Any) -> dict[str, Any]:
        if not isinstance(v, Mapping):
            _fail(f"expected a mapping of input field names to values, saw {_describe(v)}")
        if not v:
            _fail("expected at least one input field, saw an empty mapping")
        for key in v:
            if not isinstance(key, str):
                _fail(f"input field names must be strings, saw {_describe(key)}")
        _, message = _check_value("json", dict(v), from_text=False)
        if message:
            _fail(f"input values must be JSON values (no NaN/Infinity, dates or binary): {message}")
        return dict(v)

    @field_validator("rationale", mode="before")
    @classmethod
    def _v_rationale(cls, v: Any) -> str:
        return _text(v, required=True)

    @property
    def example_id(self) -> str:
        """The explicit ``id``, else ``ex-`` + 16 hex digits of the input's hash."""
        return self.id or "ex-" + sha256_hex(canonical_json(self.input))[:16]


@dataclass(frozen=True)
class GoldExample:
    """A worked example as a gold item for the store, marked as calibration material."""

    example_id: str
    """Stable id: the example's ``id``, else ``ex-`` + hash of its input."""
    data: dict[str, Any]
    label: str | None
    """The expected label (single-label tasks); ``None`` for multi-label tasks."""
    labels: tuple[str, ...]
    """The expected labels (always set; one element for single-label tasks)."""
    rationale: str
    edge_case: bool
    position: int
    schema_version: str
    schema_hash: str
    calibration: bool = True


@dataclass(frozen=True)
class TaskKernels:
    """What a task type's labels are in the core and which core kernels they go through.

    The service asks a schema's task type (``schema.kernels``) instead of testing its class,
    so adding a task type adds a module, not branches in every use case.
    """

    answers: Literal["codes", "sets"]
    """Core form of one answer: a class code (:class:`~labelloop.core.answers.Answers`) or a
    multi-hot row over the label set (:class:`~labelloop.core.label_sets.SetAnswers`)."""
    aggregators: Literal["aggregator", "set_aggregator"]
    """Kind of the truth-inference registry in :mod:`labelloop.registry`."""
    default_aggregator: str
    """What ``auto`` means for this task type (a name in that registry)."""
    agreement: tuple[str, ...]
    """Agreement coefficients reported for it."""
    training_target: Literal["class", "multi_hot"]
    """What a model labeler learns: one class per item, or one yes/no per label (one-vs-rest)."""

    @property
    def label_is_list(self) -> bool:
        """Whether a label, as users write and the store keeps it, is a list of names."""
        return self.answers == "sets"

    def aggregator_registry(self) -> registry.Registry:
        """The registry named by :attr:`aggregators`."""
        return registry.registry(self.aggregators)


class Schema(_Model):
    """A validated, frozen label schema. Concrete task types subclass it (see :data:`TASKS`).

    Build one with :func:`load_schema`, :func:`parse_schema_text`, :func:`schema_from_dict`
    or :func:`open_schema`; constructing a subclass directly runs the same checks.
    Instances are immutable; ``model_copy(update=...)`` skips validation and keeps cached
    hashes, so build a changed schema anew instead.
    """

    TASK: ClassVar[str] = ""
    MIN_LABELS: ClassVar[int] = 1
    kernels: ClassVar[TaskKernels]
    """The task type's core form and kernels (set by each task type)."""

    task: str
    name: str
    version: str
    description: str = ""
    instructions: str = ""
    inputs: tuple[InputField, ...] = ()
    is_open: StrictBool = False

    @field_validator("name", mode="before")
    @classmethod
    def _v_name(cls, v: Any) -> str:
        return _name(v, "a schema name")

    @field_validator("version", mode="before")
    @classmethod
    def _v_version(cls, v: Any) -> str:
        return _name(v, "a version string")

    @field_validator("description", "instructions", mode="before")
    @classmethod
    def _v_text(cls, v: Any) -> str:
        return _text(v, required=False)

    @model_validator(mode="after")
    def _v_cross(self, info: ValidationInfo) -> Schema:
        if info.context and info.context.get(_DEFER):
            return self
        problems = type(self)._cross_check(self.model_dump())
        if problems:
            _fail("; ".join(f"{_loc_str(loc)}: {msg}" if loc else msg for loc, msg in problems))
        return self

    # -- cross-field checks, lenient so they also run on raw (partly invalid) file data --

    @classmethod
    def _cross_check(cls, data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
        problems: list[tuple[Loc, str]] = []
        cls._raw_inputs(data, problems)
        return problems

    @staticmethod
    def _raw_inputs(
        data: Mapping[str, Any], problems: list[tuple[Loc, str]]
    ) -> list[InputField] | None:
        """Input fields that validate (duplicates reported); None when any entry is invalid."""
        raw = data.get("inputs", ())
        if not isinstance(raw, list | tuple):
            return None
        fields: list[InputField] = []
        complete = True
        seen: dict[str, int] = {}
        for i, entry in enumerate(raw):
            if isinstance(entry, InputField):
                entry = entry.model_dump()
            if isinstance(entry, Mapping):
                name = _raw_name(entry.get("name"))
                if name is not None:
                    if name in seen:
                        problems.append(
                            (
                                ("inputs", i, "name"),
                                f"duplicate input field {name!r} (first at inputs[{seen[name]}])",
                            )
                        )
                    else:
                        seen[name] = i
            try:
                fields.append(InputField.model_validate(entry))
            except ValidationError:
                complete = False
        return fields if complete else None

    # -- public API --

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 (hex) of :meth:`canonical_json`: identifies this schema version."""
        return sha256_hex(self.canonical_json())

    @property
    def short_hash(self) -> str:
        """First 12 hex digits of :attr:`content_hash`, for display."""
        return self.content_hash[:12]

    def to_dict(self) -> dict[str, Any]:
        """Normalized JSON-ready form (keys at their default left out; ``task`` always kept)."""
        body = self.model_dump(mode="json", exclude_defaults=True)
        body["task"] = self.task
        return body

    def canonical_json(self) -> str:
        """Canonical JSON of :meth:`to_dict` (what :attr:`content_hash` hashes; store this)."""
        return canonical_json(self.to_dict())

    @cached_property
    def label_space(self) -> LabelSpace:
        """The label codebook, in file order."""
        raise NotImplementedError(f"task {self.task!r} has no label space")

    def _unknown_label(self, label: Any) -> NoReturn:
        names = list(self.label_space.labels)
        hint = _suggest(label, names) if isinstance(label, str) else ""
        raise InvalidInput(
            f"label {_describe(label)} is not in schema {self.name!r} version {self.version} "
            f"labels {names}{hint}",
            field="label",
        )

    def check_label(self, label: str) -> str:
        """``label`` when it is in the label set, else :class:`InvalidInput` naming the set."""
        if not isinstance(label, str) or label not in self.label_space:
            self._unknown_label(label)
        return label

    # -- label codec: the label as users write it (and the store keeps it) <-> core arrays --

    def check_value(self, value: Any) -> Any:
        """A label as written by a user, validated into its stored form; :class:`InvalidInput`."""
        raise NotImplementedError(f"task {self.task!r} has no label codec")

    def encode(self, values: Sequence[Any]) -> tuple[np.ndarray, npt.NDArray[np.bool_]]:
        """Stored labels (decoded JSON) -> core arrays and a mask of the ones that fit.

        Shapes: (n,) class codes (``ABSTAIN`` where unfit) for ``answers="codes"``;
        (n, n_classes) bool rows for ``answers="sets"``.
        """
        raise NotImplementedError(f"task {self.task!r} has no label codec")

    def decode(self, value: Any) -> Any:
        """One core value (a class code, or a multi-hot row) -> its stored label."""
        raise NotImplementedError(f"task {self.task!r} has no label codec")

    def check_item(
        self, data: Mapping[str, Any], *, from_text: bool = False
    ) -> list[tuple[str, str]]:
        """Problems of an item's data against :attr:`inputs` as ``(field, message)``; [] if fine.

        Fields not declared in ``inputs`` are allowed (item metadata). A blank optional field
        counts as absent. With ``from_text=True`` (CSV cells) numbers, booleans and JSON may
        arrive as text and are parsed.
        """
        return _check_fields(self.inputs, data, from_text=from_text)[1]

    def coerce_item(self, data: Mapping[str, Any], *, from_text: bool = False) -> dict[str, Any]:
        """Item data with declared fields parsed/normalized; :class:`InvalidInput` listing all problems."""
        out, problems = _check_fields(self.inputs, data, from_text=from_text)
        if problems:
            raise InvalidInput("; ".join(f"{f}: {m}" if f else m for f, m in problems))
        return out

    def examples_as_gold(self) -> tuple[GoldExample, ...]:
        """Worked examples as gold records (calibration material), in file order."""
        return ()


class _CategoricalSchema(Schema):
    """Shared by the classification tasks: a label set and worked examples."""

    labels: tuple[LabelDef, ...]

    @cached_property
    def label_space(self) -> LabelSpace:
        return LabelSpace(tuple(label.name for label in self.labels))

    def label(self, name: str) -> LabelDef:
        """The definition of one label (:class:`InvalidInput` when unknown)."""
        for label in self.labels:
            if label.name == name:
                return label
        self._unknown_label(name)

    @classmethod
    def _cross_check(cls, data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
        problems: list[tuple[Loc, str]] = []
        inputs = cls._raw_inputs(data, problems)
        is_open = data.get("is_open") is True
        names = cls._raw_labels(data, problems, is_open=is_open)
        problems.extend(cls._raw_task_options(data, names))
        raw = data.get("examples", ())
        if not isinstance(raw, list | tuple):
            return problems
        ids: dict[str, int] = {}
        seen_inputs: dict[str, int] = {}
        for i, ex in enumerate(raw):
            if isinstance(ex, BaseModel):
                ex = ex.model_dump()
            if not isinstance(ex, Mapping):
                continue
            loc: Loc = ("examples", i)
            ex_id = _raw_name(ex.get("id")) if ex.get("id") is not None else None
            if ex_id is not None:
                if ex_id in ids:
                    problems.append(
                        (
                            (*loc, "id"),
                            f"duplicate example id {ex_id!r} (first at examples[{ids[ex_id]}])",
                        )
                    )
                else:
                    ids[ex_id] = i
            value = ex.get("input")
            if isinstance(value, Mapping) and value:
                try:
                    key = canonical_json(dict(value))
                except (TypeError, ValueError):
                    key = None
                if key is not None:
                    if key in seen_inputs:
                        problems.append(
                            (
                                (*loc, "input"),
                                f"same input as examples[{seen_inputs[key]}]; each worked example needs its own input",
                            )
                        )
                    else:
                        seen_inputs[key] = i
                if inputs:
                    problems.extend(_example_input_problems((*loc, "input"), value, inputs))
            problems.extend(cls._raw_example_labels(loc, ex, names, data))
        return problems

    @classmethod
    def _raw_labels(
        cls, data: Mapping[str, Any], problems: list[tuple[Loc, str]], *, is_open: bool
    ) -> list[str] | None:
        """Label names in order (duplicates reported); None when some entry is unusable."""
        raw = data.get("labels")
        if not isinstance(raw, list | tuple):
            return None
        names: list[str] = []
        complete = True
        first: dict[str, int] = {}
        for i, entry in enumerate(raw):
            if isinstance(entry, LabelDef):
                entry = entry.model_dump()
            if not isinstance(entry, Mapping):
                complete = False
                continue
            name = _raw_name(entry.get("name"))
            if name is None:
                complete = False
            elif name in first:
                problems.append(
                    (
                        ("labels", i, "name"),
                        f"duplicate label {name!r} (first at labels[{first[name]}])",
                    )
                )
            else:
                first[name] = i
                names.append(name)
            desc = entry.get("description")
            if not is_open and isinstance(desc, str) and not desc.strip():
                problems.append(
                    (
                        ("labels", i, "description"),
                        "expected a non-empty description saying when to use this label, saw an empty string",
                    )
                )
        if (
            complete
            and not is_open
            and len(names) < cls.MIN_LABELS
            and not any(p[0][:1] == ("labels",) for p in problems)
        ):
            shown = f" ({', '.join(map(repr, names))})" if names else ""
            problems.append(
                (
                    ("labels",),
                    f"a {cls.TASK} schema needs at least {cls.MIN_LABELS} label(s), saw {len(names)}{shown}",
                )
            )
        return names if complete else None

    @classmethod
    def _raw_task_options(
        cls, data: Mapping[str, Any], names: list[str] | None
    ) -> list[tuple[Loc, str]]:
        return []

    @classmethod
    def _raw_example_labels(
        cls, loc: Loc, ex: Mapping[str, Any], names: list[str] | None, data: Mapping[str, Any]
    ) -> list[tuple[Loc, str]]:
        return []


def _unknown_label_message(label: str, names: list[str]) -> str:
    return f"label {label!r} is not in the label set {names}{_suggest(label, names)}"


def _example_input_problems(
    loc: Loc, value: Mapping[str, Any], inputs: list[InputField]
) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    declared = [f.name for f in inputs]
    for key in value:
        if isinstance(key, str) and key not in declared:
            problems.append(
                (
                    (*loc, key),
                    f"unknown input field {key!r}{_suggest(key, declared)} (the schema's inputs are {declared})",
                )
            )
    for field, message in _check_fields(inputs, value, from_text=False)[1]:
        if field in value:
            problems.append(((*loc, field), message))
        else:
            problems.append((loc, f"input field {field!r}: {message}"))
    return problems
