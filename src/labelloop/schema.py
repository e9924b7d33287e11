"""Label schema and guidelines as code: the YAML file model, its validation and versions.

A project's schema file says what annotators label and how::

    name: sms-spam
    version: "1.2"                  # human version string (required)
    task: single_label              # single_label | multi_label
    description: Spam filter for inbound SMS.      # optional
    inputs:                         # item fields annotators see; import checks rows against them
      - name: text
        type: text                  # text | number | boolean | url | image_url | json
        required: true              # default true
        description: The message body.             # optional
    labels:                         # file order is the label space order (codes, UI order)
      - name: spam
        description: Unsolicited commercial or fraudulent message.
      - name: ham
        description: Anything else.
    instructions: |                 # optional Markdown shown to annotators
      Label the message, not the sender.
    examples:                       # worked examples -> gold items marked as calibration material
      - id: prize-bait              # optional stable id (default: hash of the input)
        input: {text: "WIN a FREE iPhone, reply YES"}
        label: spam                 # multi_label: `labels: [a, b]`
        rationale: Prize bait asking for a reply.
        edge_case: false            # default false

``multi_label`` schemas also take ``min_labels`` (default 0: "none apply" is an answer) and
``max_labels`` (default: no limit). Other task types (``spans``, ``rating``, ``pairwise``,
``ranking``, ``step_labels``) are reserved: a file naming one gets a clear "not supported yet"
problem. Each task type is one :class:`Schema` subclass registered in :data:`TASKS` under its
``task`` value (a discriminated union keyed on ``task``), so adding one is adding a class.

YAML is read with YAML 1.2 core scalars: only ``true``/``false`` are booleans (``yes``, ``no``,
``on``, ``off`` stay strings, so a label called ``no`` is the string "no"), there are no
timestamps, ``012`` is the integer 12 and ``12:30`` is a string. A numeric ``version: 1.10``
is kept as the text "1.10". Duplicate keys in one mapping are reported, not silently merged.

Versions and hashes
-------------------
:attr:`Schema.content_hash` is the SHA-256 of the canonical JSON (sorted keys, no whitespace)
of :meth:`Schema.to_dict`: the *normalized model*, not the file text. Comments, key order,
quoting, flow vs block style, ``|`` vs ``|-`` and surrounding whitespace of texts, and keys
written out with their default value (``required: true``) never change the hash; any change
of meaning (a description, the label order, an example, the version string) does. Keys at
their default are left out of :meth:`~Schema.to_dict`, so an optional key added by a later
labelloop release leaves existing hashes unchanged. The store keeps one schema version per
distinct hash; every label records the hash (and the human ``version``) it was made under.

Projects without a file get an *open* schema (:func:`open_schema`): single-label, label set
inferred from imported answers and gold, ``is_open=True``. Extending the set gives a new hash.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal, NoReturn, get_args

import yaml
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

from labelloop.core.answers import LabelSpace
from labelloop.core.provenance import canonical_json, sha256_hex
from labelloop.errors import InvalidInput, SchemaError

__all__ = [
    "RESERVED_TASKS",
    "TASKS",
    "GoldExample",
    "InputField",
    "LabelDef",
    "MultiLabelExample",
    "MultiLabelSchema",
    "Problem",
    "Schema",
    "SingleLabelExample",
    "SingleLabelSchema",
    "load_schema",
    "open_schema",
    "parse_schema_text",
    "schema_from_dict",
    "validate_schema_text",
]

InputType = Literal["text", "number", "boolean", "url", "image_url", "json"]
Loc = tuple[str | int, ...]

RESERVED_TASKS: tuple[str, ...] = ("spans", "rating", "pairwise", "ranking", "step_labels")
"""Task types the format reserves for later releases; a file naming one is rejected clearly."""

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


class SingleLabelExample(_Example):
    """A worked example of a single-label schema: input, expected ``label``, rationale."""

    label: str

    @field_validator("label", mode="before")
    @classmethod
    def _v_label(cls, v: Any) -> str:
        return _name(v, "a label name")


class MultiLabelExample(_Example):
    """A worked example of a multi-label schema: input, expected ``labels``, rationale."""

    labels: tuple[str, ...]

    @field_validator("labels", mode="before")
    @classmethod
    def _v_labels(cls, v: Any) -> tuple[str, ...]:
        if isinstance(v, str):
            _fail(f"expected a list of label names, saw {_describe(v)} (write [{v}])")
        if not isinstance(v, list | tuple):
            _fail(f"expected a list of label names, saw {_describe(v)}")
        return tuple(_name(x, "a label name") for x in v)


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


class Schema(_Model):
    """A validated, frozen label schema. Concrete task types subclass it (see :data:`TASKS`).

    Build one with :func:`load_schema`, :func:`parse_schema_text`, :func:`schema_from_dict`
    or :func:`open_schema`; constructing a subclass directly runs the same checks.
    Instances are immutable; ``model_copy(update=...)`` skips validation and keeps cached
    hashes, so build a changed schema anew instead.
    """

    TASK: ClassVar[str] = ""
    MIN_LABELS: ClassVar[int] = 1

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


class SingleLabelSchema(_CategoricalSchema):
    """Exactly one label per item."""

    TASK: ClassVar[str] = "single_label"
    MIN_LABELS: ClassVar[int] = 2

    task: Literal["single_label"] = "single_label"
    examples: tuple[SingleLabelExample, ...] = ()

    @classmethod
    def _raw_example_labels(
        cls, loc: Loc, ex: Mapping[str, Any], names: list[str] | None, data: Mapping[str, Any]
    ) -> list[tuple[Loc, str]]:
        label = _raw_name(ex.get("label"))
        if names is None or label is None or label in names:
            return []
        return [((*loc, "label"), _unknown_label_message(label, names))]

    def examples_as_gold(self) -> tuple[GoldExample, ...]:
        return tuple(
            GoldExample(
                example_id=ex.example_id,
                data=copy.deepcopy(ex.input),
                label=ex.label,
                labels=(ex.label,),
                rationale=ex.rationale,
                edge_case=ex.edge_case,
                position=i,
                schema_version=self.version,
                schema_hash=self.content_hash,
            )
            for i, ex in enumerate(self.examples)
        )

    def extended(self, labels: Iterable[str]) -> SingleLabelSchema:
        """Open schemas only: the open schema over this label set plus ``labels``.

        Returns ``self`` (same hash) when nothing is new.
        """
        if not self.is_open:
            raise InvalidInput(
                f"schema {self.name!r} version {self.version} comes from a schema file; its label "
                "set changes only by applying a new file"
            )
        new = [str(x) for x in labels if str(x) not in self.label_space]
        if not new:
            return self
        return open_schema([*self.label_space.labels, *new], name=self.name)


class MultiLabelSchema(_CategoricalSchema):
    """Any subset of the labels per item, within ``min_labels``..``max_labels``."""

    TASK: ClassVar[str] = "multi_label"
    MIN_LABELS: ClassVar[int] = 1

    task: Literal["multi_label"] = "multi_label"
    min_labels: int = 0
    max_labels: int | None = None
    examples: tuple[MultiLabelExample, ...] = ()

    @field_validator("min_labels", "max_labels", mode="before")
    @classmethod
    def _v_bounds(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, int):
            _fail(f"expected a whole number >= 0, saw {_describe(v)}")
        if v < 0:
            _fail(f"expected a whole number >= 0, saw {v}")
        return v

    @staticmethod
    def _raw_bounds(data: Mapping[str, Any]) -> tuple[int | None, int | None]:
        def get(key: str, default: int | None) -> int | None:
            v = data.get(key, default)
            return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None

        return get("min_labels", 0), get("max_labels", None)

    @classmethod
    def _raw_task_options(
        cls, data: Mapping[str, Any], names: list[str] | None
    ) -> list[tuple[Loc, str]]:
        low, high = cls._raw_bounds(data)
        problems: list[tuple[Loc, str]] = []
        if low is not None and high is not None and low > high:
            problems.append((("max_labels",), f"max_labels ({high}) is below min_labels ({low})"))
        if names is not None and data.get("is_open") is not True:
            for key, value in (("min_labels", low), ("max_labels", high)):
                if value is not None and value > len(names):
                    problems.append(
                        ((key,), f"{key} is {value} but the schema has only {len(names)} label(s)")
                    )
            if high == 0:
                problems.append((("max_labels",), "max_labels is 0: no label could ever be given"))
        return problems

    @classmethod
    def _raw_example_labels(
        cls, loc: Loc, ex: Mapping[str, Any], names: list[str] | None, data: Mapping[str, Any]
    ) -> list[tuple[Loc, str]]:
        raw = ex.get("labels")
        if not isinstance(raw, list | tuple):
            return []
        problems: list[tuple[Loc, str]] = []
        seen: set[str] = set()
        for j, item in enumerate(raw):
            label = _raw_name(item)
            if label is None:
                continue
            if label in seen:
                problems.append(((*loc, "labels", j), f"label {label!r} is listed twice"))
            seen.add(label)
            if names is not None and label not in names:
                problems.append(((*loc, "labels", j), _unknown_label_message(label, names)))
        problems.extend(
            ((*loc, "labels"), m) for m in _count_problems(len(raw), *cls._raw_bounds(data))
        )
        return problems

    def check_labels(self, labels: Iterable[str]) -> tuple[str, ...]:
        """A multi-label answer in label-space order; :class:`InvalidInput` when invalid."""
        given = list(labels)
        for label in given:
            self.check_label(label)
        dupes = sorted({x for x in given if given.count(x) > 1})
        if dupes:
            raise InvalidInput(f"labels {dupes} are given more than once", field="labels")
        problems = _count_problems(len(given), self.min_labels, self.max_labels)
        if problems:
            raise InvalidInput(problems[0], field="labels")
        order = self.label_space
        return tuple(sorted(given, key=order.code))

    def examples_as_gold(self) -> tuple[GoldExample, ...]:
        order = self.label_space
        return tuple(
            GoldExample(
                example_id=ex.example_id,
                data=copy.deepcopy(ex.input),
                label=None,
                labels=tuple(sorted(ex.labels, key=order.code)),
                rationale=ex.rationale,
                edge_case=ex.edge_case,
                position=i,
                schema_version=self.version,
                schema_hash=self.content_hash,
            )
            for i, ex in enumerate(self.examples)
        )


def _count_problems(n: int, low: int | None, high: int | None) -> list[str]:
    if low is not None and n < low:
        return [f"expected at least {low} label(s) (min_labels), saw {n}"]
    if high is not None and n > high:
        return [f"expected at most {high} label(s) (max_labels), saw {n}"]
    return []


TASKS: dict[str, type[Schema]] = {
    SingleLabelSchema.TASK: SingleLabelSchema,
    MultiLabelSchema.TASK: MultiLabelSchema,
}
"""Supported task types: ``task`` value -> schema class (the union's discriminator)."""


# --------------------------------------------------------------------------------------------
# Open schema
# --------------------------------------------------------------------------------------------


def open_schema(
    labels: Iterable[str], *, name: str = "open", version: str | None = None
) -> SingleLabelSchema:
    """Schema of a project without a schema file: single-label, label set inferred.

    Labels are de-duplicated and put in natural order (numbers numerically), so the hash
    depends on the set only; a larger set gives a new hash. ``version`` defaults to
    ``open-<number of labels>`` (a project's open label set only grows, so this is unique
    within it).

    Examples
    --------
    >>> s = open_schema(["spam", "ham", "spam"])
    >>> s.is_open, s.version, s.label_space.labels
    (True, 'open-2', ('ham', 'spam'))
    >>> s.extended(["eggs"]).content_hash != s.content_hash
    True
    """
    space = LabelSpace.from_values(str(x) for x in labels)
    return SingleLabelSchema(
        name=name,
        version=version or f"open-{len(space)}",
        is_open=True,
        labels=tuple(LabelDef(name=x, description="") for x in space.labels),
    )


# --------------------------------------------------------------------------------------------
# YAML reading (YAML 1.2 core scalars, marks kept)
# --------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe loader with YAML 1.2 core-schema scalars (no yes/no booleans, no timestamps)."""


_TAG = "tag:yaml.org,2002:"
_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag not in {_TAG + "bool", _TAG + "int", _TAG + "float", _TAG + "timestamp"}
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _TAG + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    _TAG + "int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    _TAG + "float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    if text.startswith("0o"):
        return sign * int(text[2:], 8)
    if text.startswith("0x"):
        return sign * int(text[2:], 16)
    return sign * int(text, 10)


_Loader.add_constructor(_TAG + "int", _construct_int)


def _key_text(node: yaml.Node) -> str | None:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def _node_at(root: yaml.Node | None, loc: Loc, *, key: bool) -> yaml.Node | None:
    """Deepest node along ``loc`` (the key node for the last part when ``key``)."""
    node = root
    for n, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            found: tuple[yaml.Node, yaml.Node] | None = None
            for k, v in node.value:
                if _key_text(k) == str(part):
                    found = (k, v)
            if found is None:
                return node
            if key and n == len(loc) - 1:
                return found[0]
            node = found[1]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            return node
    return node


def _duplicate_keys(
    node: yaml.Node, loc: Loc, out: list[tuple[Loc, yaml.Node, str]], seen: set[int]
) -> None:
    if id(node) in seen:  # aliases may repeat a subtree
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, yaml.Node] = {}
        for k, v in node.value:
            text = _key_text(k)
            if text is not None and text != "<<":
                if text in first:
                    line = first[text].start_mark.line + 1
                    out.append(
                        (
                            (*loc, text),
                            k,
                            f"duplicate key {text!r} (first at line {line}); YAML would keep only the last",
                        )
                    )
                else:
                    first[text] = k
            _duplicate_keys(v, (*loc, text if text is not None else "?"), out, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _duplicate_keys(v, (*loc, i), out, seen)


def _problem_at(
    source: str, root: yaml.Node | None, loc: Loc, message: str, *, key: bool = False
) -> Problem:
    node = _node_at(root, loc, key=key) if root is not None else None
    mark = node.start_mark if node is not None else None
    return Problem(
        source=source,
        location=_loc_str(loc),
        line=mark.line + 1 if mark is not None else None,
        column=mark.column + 1 if mark is not None else None,
        message=message,
    )


def _read_yaml(text: str, source: str) -> tuple[Any, yaml.Node | None, list[Problem]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None, []
        dupes: list[tuple[Loc, yaml.Node, str]] = []
        _duplicate_keys(node, (), dupes, set())
        problems = [
            Problem(source, _loc_str(loc), k.start_mark.line + 1, k.start_mark.column + 1, msg)
            for loc, k, msg in dupes
        ]
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = f"YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}"
        if exc.context and exc.problem and exc.context_mark is not None:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        return None, None, [Problem(source, "", line, column, message)]
    except yaml.YAMLError as exc:  # ReaderError: bad characters
        position = getattr(exc, "position", None)
        line = col = None
        if isinstance(position, int):
            line = text.count("\n", 0, position) + 1
            col = position - (text.rfind("\n", 0, position) + 1) + 1
        return None, None, [Problem(source, "", line, col, f"cannot read YAML: {exc}")]
    finally:
        loader.dispose()
    # Text fields keep a plain numeric scalar's text as written: `version: 1.10` stays "1.10",
    # `description: 0E0` stays "0E0" (YAML 1.2 would read them as numbers).
    if isinstance(data, dict) and isinstance(node, yaml.MappingNode):
        for path in _text_paths(data):
            _keep_scalar_text(data, node, path)
    return data, node, problems


_TEXT_LISTS = {"labels": ("description",), "inputs": ("description",), "examples": ("rationale",)}


def _text_paths(data: dict[str, Any]) -> Iterator[tuple[str | int, ...]]:
    for key in ("version", "description", "instructions"):
        yield (key,)
    for list_key, fields in _TEXT_LISTS.items():
        entries = data.get(list_key)
        if isinstance(entries, list):
            for i, entry in enumerate(entries):
                if isinstance(entry, dict):
                    for name in fields:
                        yield (list_key, i, name)


def _keep_scalar_text(data: Any, node: yaml.Node, path: tuple[str | int, ...]) -> None:
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    value = parent.get(path[-1]) if isinstance(parent, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        scalar = _node_at(node, path, key=False)
        if isinstance(scalar, yaml.ScalarNode):
            parent[path[-1]] = scalar.value


# --------------------------------------------------------------------------------------------
# Validation with locations
# --------------------------------------------------------------------------------------------


def _inner_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in get_args(tp):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _allowed_keys(cls: type[BaseModel], prefix: Loc) -> list[str] | None:
    current: type[BaseModel] | None = cls
    for part in prefix:
        if current is None:
            return None
        if isinstance(part, str):
            info = current.model_fields.get(part)
            current = _inner_model(info.annotation) if info is not None else None
    if current is None:
        return None
    return [k for k in current.model_fields if not (current is cls and k == "is_open")]


_TYPE_WORDS = {
    "string_type": "a string",
    "bool_type": "true or false",
    "int_type": "a whole number",
    "dict_type": "a mapping",
    "tuple_type": "a list",
    "list_type": "a list",
}


def _pydantic_message(err: Any, cls: type[BaseModel]) -> tuple[Loc, str, bool]:
    loc: Loc = tuple(err["loc"])
    kind = err["type"]
    seen = _describe(err.get("input"))
    if kind == "missing":
        return loc[:-1], f"missing required key {loc[-1]!r}", False
    if kind == "extra_forbidden":
        allowed = _allowed_keys(cls, loc[:-1]) or []
        word = str(loc[-1])
        hint = _suggest(word, allowed)
        if not hint and allowed:
            hint = f"; expected one of: {', '.join(allowed)}"
        return loc, f"unknown key {word!r}{hint}", True
    if kind == "labelloop":
        return loc, err["msg"], False
    if kind == "literal_error":
        return loc, f"expected one of {err['ctx']['expected']}, saw {seen}", False
    if kind == "model_type":
        keys = _allowed_keys(cls, loc) or []
        return loc, f"expected a mapping with keys {', '.join(keys)}, saw {seen}", False
    if kind in _TYPE_WORDS:
        return loc, f"expected {_TYPE_WORDS[kind]}, saw {seen}", False
    if loc and loc[-1] == "[key]":
        return loc[:-1], f"keys must be strings, saw {seen}", True
    msg = str(err["msg"]).removeprefix("Value error, ")
    return loc, f"{msg}; saw {seen}", False


def _validate(
    raw: Any, source: str, root: yaml.Node | None, *, from_file: bool
) -> tuple[Schema | None, list[Problem]]:
    problems: list[Problem] = []

    def add(loc: Loc, message: str, *, key: bool = False) -> None:
        problems.append(_problem_at(source, root, loc, message, key=key))

    supported = ", ".join(TASKS)
    if raw is None:
        add(
            (),
            f"the file is empty; expected a mapping with at least name, version, task ({supported}) and labels",
        )
        return None, problems
    if not isinstance(raw, Mapping):
        add(
            (),
            f"expected a mapping (name, version, task, labels, ...) at the top level, saw {_describe(raw)}",
        )
        return None, problems
    data = dict(raw)
    if from_file and "is_open" in data:
        add(
            ("is_open",),
            "unknown key 'is_open' (set by labelloop for projects without a schema file)",
            key=True,
        )
        del data["is_open"]

    cls: type[Schema] | None
    task = data.get("task")
    if "task" not in data:
        add((), f"missing required key 'task' (one of {supported})")
        cls = MultiLabelSchema if {"min_labels", "max_labels"} & data.keys() else SingleLabelSchema
    elif isinstance(task, str) and task in TASKS:
        cls = TASKS[task]
    elif isinstance(task, str) and task in RESERVED_TASKS:
        add(("task",), f"task {task!r} is not supported yet; supported now: {supported}")
        cls = None
    else:
        guess = (
            difflib.get_close_matches(task, list(TASKS), n=1, cutoff=0.6)
            if isinstance(task, str)
            else []
        )
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        add(("task",), f"unknown task {_describe(task)}{hint} (expected one of {supported})")
        cls = TASKS[guess[0]] if guess else None

    if cls is None:  # still check the keys every task shares
        if not (isinstance(task, str) and task in RESERVED_TASKS):  # future keys are unknown
            known = {k for c in TASKS.values() for k in c.model_fields} - {"is_open"}
            for k in data:
                if k not in known:
                    add((str(k),), f"unknown key {k!r}{_suggest(str(k), sorted(known))}", key=True)
        cls = Schema
        data = {k: v for k, v in data.items() if k in Schema.model_fields}
        data["task"] = ""
    else:
        data["task"] = cls.TASK

    model: Schema | None = None
    try:
        model = cls.model_validate(data, context={_DEFER: True})
    except ValidationError as exc:
        for err in exc.errors():
            loc, message, key = _pydantic_message(err, cls)
            if loc[:1] == ("task",):
                continue
            add(loc, message, key=key)
    basis: Mapping[str, Any] = model.model_dump() if model is not None else data
    for loc, message in cls._cross_check(basis):
        add(loc, message)
    if problems:
        model = None
    problems.sort(key=lambda p: (p.line if p.line is not None else 0, p.column or 0))
    return model, problems


def validate_schema_text(text: str, source: str = "<string>") -> list[Problem]:
    """Every problem of a schema file's text, in file order ([] when it is valid)."""
    return _parse(text, source)[1]


def _parse(text: str, source: str) -> tuple[Schema | None, list[Problem]]:
    raw, root, problems = _read_yaml(text, source)
    if problems and raw is None and root is None:
        return None, problems
    model, more = _validate(raw, source, root, from_file=True)
    problems = sorted([*problems, *more], key=lambda p: (p.line or 0, p.column or 0))
    return (None if problems else model), problems


def parse_schema_text(text: str, source: str = "<string>") -> Schema:
    """The schema in ``text``; :class:`SchemaError` listing every problem with its location."""
    model, problems = _parse(text, source)
    if problems or model is None:
        raise SchemaError(source, [str(p) for p in problems])
    return model


def load_schema(path: str | Path) -> Schema:
    """Read and validate a schema file; :class:`SchemaError` listing every problem."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise SchemaError(source, [f"{source}: file not found"]) from None
    except OSError as exc:
        raise SchemaError(
            source, [f"{source}: cannot read the file: {exc.strerror or exc}"]
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise SchemaError(
            source, [f"{source}:{line}: expected UTF-8 text, saw byte 0x{raw[exc.start]:02x}"]
        ) from None
    return parse_schema_text(text, source)


def schema_from_dict(data: Mapping[str, Any], source: str = "<stored schema>") -> Schema:
    """Rebuild a schema from :meth:`Schema.to_dict` output (e.g. read back from the store)."""
    model, problems = _validate(data, source, None, from_file=False)
    if problems or model is None:
        raise SchemaError(source, [str(p) for p in problems])
    return model
