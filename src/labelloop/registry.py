"""Named, versioned plugins: aggregators, samplers, labelers and exporters, in one style.

Every plugin has a registry name ``NAME.vN`` (``dawid_skene.v1``) and a target
``package.module:attr`` that is imported only when the plugin is used. A bare name
(``dawid_skene``) means its latest version; an unknown name raises
:class:`~labelloop.errors.NotFound` listing the known names (and the closest ones).

Built-in plugins are listed in :data:`BUILTINS`, one table for the whole package: to add
one, add a line there (or call :meth:`Registry.register`). Other packages add theirs
through Python entry points, read lazily the first time a name is not built in::

    [project.entry-points."labelloop.aggregators"]
    "my_method.v1" = "my_package.methods:MyMethod"

Groups: ``labelloop.aggregators``, ``labelloop.samplers``, ``labelloop.labelers`` and
``labelloop.exporters``. A plugin that fails to load is reported by name, never silently
dropped; a third-party name that a built-in already uses is refused.

Examples
--------
>>> from labelloop import registry
>>> registry.aggregators.resolve("dawid_skene").key
'dawid_skene.v1'
>>> registry.samplers.resolve("hybrid").target
'labelloop.core.sampling:select_hybrid'
>>> registry.aggregators.resolve("dawid_skeen")
Traceback (most recent call last):
    ...
labelloop.errors.NotFound: unknown aggregator 'dawid_skeen'; known: ... did you mean 'dawid_skene'?

Pure standard library: the core imports this module, and this module imports plugins only
by name, when one is asked for, so registering never depends on import side effects.
"""

from __future__ import annotations

import importlib
import inspect
import re
import threading
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labelloop.errors import InvalidInput, NotFound

NAME_RE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)\.v(?P<version>[1-9][0-9]*)$")
"""A registry name: lower-case identifier, ``.v``, version number (``dawid_skene.v1``)."""

BUILTIN = "labelloop"
"""The ``origin`` of built-in plugins (third-party ones carry their distribution's name)."""

BUILTINS: dict[str, dict[str, str]] = {
    "aggregator": {
        "majority_vote.v1": "labelloop.core.aggregate.voting:MajorityVote",
        "weighted_majority_vote.v1": "labelloop.core.aggregate.voting:WeightedMajorityVote",
        "wawa.v1": "labelloop.core.aggregate.voting:Wawa",
        "zero_based_skill.v1": "labelloop.core.aggregate.voting:ZeroBasedSkill",
        "dawid_skene.v1": "labelloop.core.aggregate.dawid_skene:DawidSkene",
        "one_coin_dawid_skene.v1": "labelloop.core.aggregate.dawid_skene:OneCoinDawidSkene",
        "mace.v1": "labelloop.core.aggregate.dawid_skene:MACE",
        "glad.v1": "labelloop.core.aggregate.glad:GLAD",
        "hierarchical_dawid_skene.v1": "labelloop.core.aggregate.auto:HierarchicalDawidSkene",
        "auto.v1": "labelloop.core.aggregate.auto:AutoCommittee",
        "auto.v2": "labelloop.core.aggregate.selection:AutoAggregator",
        "auto.v3": "labelloop.core.aggregate.selection:AnchoredAutoAggregator",
        "label_model.v1": "labelloop.core.label_model:LabelModel",
    },
    "set_aggregator": {
        "multi_label_mv.v1": "labelloop.core.aggregate.multilabel:PerLabelMajorityVote",
        "multi_label_ds.v1": "labelloop.core.aggregate.multilabel:PerLabelDawidSkene",
        "multi_label_pooled_ds.v1": "labelloop.core.aggregate.multilabel:PooledDawidSkene",
    },
    "sampler": {
        "random.v1": "labelloop.core.sampling:select_random",
        "least_confidence.v1": "labelloop.core.sampling:select_least_confidence",
        "margin.v1": "labelloop.core.sampling:select_margin",
        "entropy.v1": "labelloop.core.sampling:select_entropy",
        "committee.v1": "labelloop.core.sampling:select_committee",
        "diversity.v1": "labelloop.core.sampling:select_diversity",
        "hybrid.v1": "labelloop.core.sampling:select_hybrid",
        "class_balanced.v1": "labelloop.core.sampling:select_class_balanced",
    },
    "labeler": {
        "sklearn.v1": "labelloop.labelers.sklearn:SklearnLabeler",
        "embeddings.v1": "labelloop.labelers.embeddings:EmbeddingLabeler",
        "llm.v1": "labelloop.labelers.llm:LLMLabeler",
        "rules.v1": "labelloop.labelers.rules:LabelingFunction",
    },
    "exporter": {
        "csv.v1": "labelloop.formats.release_files:CsvExporter",
        "hf.v1": "labelloop.formats.release_files:HfExporter",
        "jsonl.v1": "labelloop.formats.release_files:JsonlExporter",
        "label_studio.v1": "labelloop.formats.release_files:LabelStudioExporter",
        "parquet.v1": "labelloop.formats.release_files:ParquetExporter",
    },
}
"""Built-in plugins per kind: registry name -> ``module:attr`` (imported on first use)."""


def unknown(noun: str, name: str, known: Sequence[str], *, also: Sequence[str] = ()) -> NotFound:
    """``unknown NOUN 'name'; known: a, b; did you mean 'a'?`` (the closest of known + also)."""
    import difflib

    close = difflib.get_close_matches(name, [*also, *known], n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return NotFound(f"unknown {noun} {name!r}; known: {', '.join(known) or 'none'}{hint}")


def split_name(name: str) -> tuple[str, int] | None:
    """``("dawid_skene", 1)`` for ``"dawid_skene.v1"``; None when ``name`` has no version."""
    m = NAME_RE.match(name)
    return None if m is None else (m["name"], int(m["version"]))


@dataclass(frozen=True)
class Plugin:
    """One registered plugin: its kind, versioned name, target and where it comes from."""

    kind: str
    name: str
    """Bare name, e.g. ``dawid_skene``."""
    version: int
    target: str
    """``package.module:attr``, or the ``repr`` of an object registered directly."""
    origin: str = BUILTIN
    """``labelloop`` for built-ins, else the distribution (or caller) that registered it."""

    @property
    def key(self) -> str:
        """The registry name, ``NAME.vN``."""
        return f"{self.name}.v{self.version}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.key,
            "version": self.version,
            "target": self.target,
            "origin": self.origin,
        }


def _import_target(target: str, what: str) -> Any:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidInput(f"{what}: target {target!r} is not of the form package.module:attr")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"{what}: cannot load {target!r}: {type(exc).__name__}: {exc}") from exc
    return obj


class Registry(Mapping[str, Any]):
    """Plugins of one kind, by versioned name; a read-only mapping ``name -> loaded object``.

    Iterating gives every registered name (built-ins, explicit registrations and entry
    points), sorted; ``registry[name]`` imports and returns the target of a full name.
    """

    def __init__(
        self,
        kind: str,
        *,
        noun: str,
        group: str,
        builtins: Mapping[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.noun = noun
        """How error messages call one plugin (``aggregator``, ``sampling strategy``)."""
        self.group = group
        """Entry-point group read for third-party plugins."""
        self._plugins: dict[str, Plugin] = {}
        self._objects: dict[str, Any] = {}
        self._signatures: dict[str, tuple[set[str], dict[str, Any], bool]] = {}
        self._entry_points_read = False
        self.problems: list[str] = []
        """Entry points that could not be registered (bad name, taken name), one line each."""
        self._lock = threading.RLock()
        for key, target in (builtins or {}).items():
            self._add(key, target, BUILTIN)

    # -- registering ------------------------------------------------------------------

    def _add(self, key: str, target: str, origin: str) -> Plugin:
        parts = split_name(key)
        if parts is None:
            raise InvalidInput(
                f"{self.noun} name {key!r} has no version; expected NAME.vN "
                "(lower-case letters, digits and _, e.g. 'my_method.v1')"
            )
        if key in self._plugins:
            have = self._plugins[key]
            raise InvalidInput(
                f"{self.noun} {key!r} is already registered by {have.origin} ({have.target})"
            )
        plugin = Plugin(self.kind, parts[0], parts[1], target, origin)
        self._plugins[key] = plugin
        return plugin

    def register(self, key: str, target: str | Any, *, origin: str = "user") -> Plugin:
        """Register ``target`` (``module:attr``, imported on first use, or the object) as ``key``.

        ``key`` must be versioned (``NAME.vN``) and not taken; raises ``InvalidInput``.
        """
        with self._lock:
            if isinstance(target, str):
                return self._add(key, target, origin)
            described = getattr(target, "__module__", None), getattr(target, "__qualname__", None)
            text = f"{described[0]}:{described[1]}" if all(described) else repr(target)
            plugin = self._add(key, text, origin)
            self._objects[key] = target
            return plugin

    def unregister(self, key: str) -> None:
        """Remove a plugin registered with :meth:`register` (tests, interactive use)."""
        with self._lock:
            plugin = self._plugins.get(key)
            if plugin is None or plugin.origin == BUILTIN:
                raise InvalidInput(f"{self.noun} {key!r} is not a removable registration")
            del self._plugins[key]
            self._objects.pop(key, None)
            self._signatures.pop(key, None)

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        with self._lock:
            if self._entry_points_read:
                return
            import importlib.metadata  # only now: reading installed metadata takes a while

            for ep in importlib.metadata.entry_points(group=self.group):
                origin = ep.dist.name if ep.dist is not None else "entry point"
                try:
                    self._add(ep.name, ep.value, origin)
                except InvalidInput as exc:
                    self.problems.append(f"entry point {ep.name!r} of {origin}: {exc}")
            self._entry_points_read = True

    # -- looking up --------------------------------------------------------------------

    def plugins(self) -> list[Plugin]:
        """Every registered plugin (entry points included), sorted by name and version."""
        self._read_entry_points()
        return sorted(self._plugins.values(), key=lambda p: (p.name, p.version))

    def latest(self) -> list[Plugin]:
        """The latest version of each plugin name (what a bare name resolves to)."""
        out: dict[str, Plugin] = {}
        for p in self.plugins():
            out[p.name] = p
        return list(out.values())

    def resolve(self, name: str) -> Plugin:
        """The plugin ``name`` means: a full name, or a bare name's latest version.

        Raises :class:`NotFound` listing the known names (and the closest, if any).
        """
        if not isinstance(name, str):
            raise InvalidInput(f"{self.noun} name must be a string; got {type(name).__name__}")
        for attempt in range(2):
            found = self._plugins.get(name)
            if found is not None:
                return found
            versions = [p for p in self._plugins.values() if p.name == name]
            if versions:
                return max(versions, key=lambda p: p.version)
            if attempt == 0:
                self._read_entry_points()  # third-party plugins: read only when needed
        bare = sorted({p.name for p in self._plugins.values()})
        raise unknown(self.noun, name, sorted(self._plugins), also=bare)

    def load(self, name: str) -> Any:
        """The object ``name`` resolves to, imported on first use."""
        plugin = self.resolve(name)
        key = plugin.key
        obj = self._objects.get(key)
        if obj is None:
            obj = _import_target(plugin.target, f"{self.noun} {key!r}")
            self._objects[key] = obj
        return obj

    def describe(self, name: str) -> str:
        """The first line of the plugin's docstring, or why it does not load (imports it)."""
        try:
            obj = self.load(name)
        except InvalidInput as exc:
            return f"(does not load: {exc})"
        doc = (inspect.getdoc(obj) or "").strip()
        return doc.splitlines()[0] if doc else ""

    def check_params(self, name: str, params: Mapping[str, Any]) -> None:
        """Raise ``InvalidInput`` for a parameter ``name``'s target does not take, or of the
        wrong type (a number where its default is a number, ...).

        Checked against the target's signature (a class: its constructor; a function: the
        parameters after its positional-only ones) and type hints; kinds the check does not
        know (arrays, objects) are accepted as they are.
        """
        key = self.resolve(name).key
        found = self._signatures.get(key)
        if found is None:
            found = self._signatures[key] = _parameters(self.load(key))
        accepted, hints, open_ended = found
        for param, value in params.items():
            if param not in accepted:
                if open_ended:
                    continue
                raise InvalidInput(
                    f"{key}: unknown parameter {param!r}; expected any of "
                    f"{sorted(accepted) or 'none'}"
                )
            if param in hints and not _fits(value, hints[param]):
                raise InvalidInput(
                    f"{key}: parameter {param}={value!r}: expected {_describe(hints[param])}"
                )

    def make(self, name: str, **params: Any) -> Any:
        """Build the plugin ``name`` with ``params`` (checked by :meth:`check_params`)."""
        self.check_params(name, params)
        return self.load(name)(**params)

    # -- Mapping ----------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        if split_name(key) is None:
            raise KeyError(key)
        self._read_entry_points()
        if key not in self._plugins:
            raise KeyError(key)
        return self.load(key)

    def __iter__(self) -> Iterator[str]:
        return iter([p.key for p in self.plugins()])

    def __len__(self) -> int:
        return len(self.plugins())

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        self._read_entry_points()
        return key in self._plugins

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._plugins)} plugins)"


def _parameters(target: Any) -> tuple[set[str], dict[str, Any], bool]:
    """Names a target accepts by keyword, their type hints, and whether it takes ``**kw``."""
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return set(), {}, True
    accepted: set[str] = set()
    open_ended = False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            open_ended = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            accepted.add(p.name)
    func = getattr(target, "__init__") if isinstance(target, type) else target  # noqa: B009
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # hints naming types only imported for type checking: skip the check
        hints = {}
    return accepted, hints, open_ended


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


aggregators = Registry(
    "aggregator", noun="aggregator", group="labelloop.aggregators", builtins=BUILTINS["aggregator"]
)
"""Truth inference: :class:`labelloop.core.aggregate.Aggregator` subclasses."""

set_aggregators = Registry(
    "set_aggregator",
    noun="multi-label aggregator",
    group="labelloop.set_aggregators",
    builtins=BUILTINS["set_aggregator"],
)
"""Truth inference on label sets (multi-label): ``SetAggregator`` subclasses."""

samplers = Registry(
    "sampler", noun="sampling strategy", group="labelloop.samplers", builtins=BUILTINS["sampler"]
)
"""Batch selection: functions ``fn(pool, budget, /, **options) -> Selection``
(see :class:`labelloop.core.sampling.Pool`)."""

labelers = Registry(
    "labeler", noun="labeler", group="labelloop.labelers", builtins=BUILTINS["labeler"]
)
"""Labelers that are not people: classes following :class:`labelloop.labelers.Labeler`."""

exporters = Registry(
    "exporter", noun="exporter", group="labelloop.exporters", builtins=BUILTINS["exporter"]
)
"""Dataset exporters (the release stage adds the built-ins)."""

REGISTRIES: dict[str, Registry] = {
    r.kind: r for r in (aggregators, set_aggregators, samplers, labelers, exporters)
}
"""Every registry, by kind."""


def registry(kind: str) -> Registry:
    """The registry of ``kind`` (``aggregator``, ``sampler``, ``labeler``, ``exporter``)."""
    found = REGISTRIES.get(kind) or REGISTRIES.get(kind.removesuffix("s"))
    if found is None:
        raise unknown("plugin kind", kind, list(REGISTRIES))
    return found


__all__ = [
    "BUILTINS",
    "REGISTRIES",
    "Plugin",
    "Registry",
    "aggregators",
    "exporters",
    "labelers",
    "registry",
    "samplers",
    "set_aggregators",
    "split_name",
]
