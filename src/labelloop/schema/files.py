"""Schema files: YAML 1.2 reading with marks, validation into a task type's schema with
every problem located (line, column), and the loaders."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from labelloop.errors import SchemaError
from labelloop.schema._base import (
    _DEFER,
    Loc,
    Problem,
    Schema,
    _describe,
    _loc_str,
    _suggest,
)
from labelloop.schema.tasks import RESERVED_TASKS, TASKS

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
        # check against the task type that knows most of the file's keys (first on ties)
        keys = set(map(str, data))
        cls = max(TASKS.values(), key=lambda c: len(keys & set(c.model_fields)))
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
