"""Labeling functions: rules as labelers (``kind = "rule"``).

Write LFs in a plain Python module::

    from labelloop.labelers.rules import ABSTAIN, labeling_function

    @labeling_function()
    def has_link(text):
        return "spam" if "http" in text.lower() else ABSTAIN

An LF receives one item's text (the configured field; the whole item dict when the field
is ``None``) plus its ``resources`` as keyword arguments, and returns a label name from the
schema, a class code, ``ABSTAIN`` (-1) or ``None`` (also abstain). Its ``version`` is the
SHA-256 of its source and resources, so an unchanged LF re-applied adds nothing.

:func:`apply_lfs` runs LFs over many items in batches on a pool of forked worker processes
(one per core): per batch, per LF, one list comprehension over the texts. A crashing LF
records the item and the exception and goes on with the next item; other LFs are not
affected.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import multiprocessing
import os
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from labelloop.core.answers import ABSTAIN, LabelSpace
from labelloop.core.provenance import canonical_json
from labelloop.errors import InvalidInput
from labelloop.labelers._base import import_user_file

__all__ = [
    "ABSTAIN",
    "LFFailure",
    "LFVotes",
    "LabelingFunction",
    "apply_lfs",
    "labeling_function",
    "load_lfs",
]


@dataclass(frozen=True, eq=False)
class LabelingFunction:
    """A named rule; call it on one input to get a label, a code, ``ABSTAIN`` or ``None``."""

    name: str
    fn: Callable[..., Any]
    resources: Mapping[str, Any] = field(default_factory=dict)
    version: str = ""
    kind: ClassVar[str] = "rule"

    def __call__(self, x: Any) -> Any:
        return self.fn(x, **self.resources)

    def provenance(self) -> dict[str, Any]:
        """What produced this rule's answers: kind, name, version (hash of source and resources)."""
        return {"kind": self.kind, "name": self.name, "version": self.version}

    def __repr__(self) -> str:
        return f"LabelingFunction(name={self.name!r}, version={self.version!r})"


def _source_version(fn: Callable[..., Any], resources: Mapping[str, Any]) -> str:
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        source = repr(code.co_code) if code is not None else repr(fn)
    try:
        res = canonical_json(dict(resources))
    except (TypeError, ValueError):
        res = repr(sorted((k, repr(v)) for k, v in resources.items()))
    digest = hashlib.sha256(f"{source}\n{res}".encode()).hexdigest()
    return digest[:16]


def labeling_function(
    name: str | None = None, *, resources: Mapping[str, Any] | None = None
) -> Callable[[Callable[..., Any]], LabelingFunction]:
    """Decorator turning a function into a :class:`LabelingFunction`.

    Use it with parentheses: ``@labeling_function()`` or ``@labeling_function("name")``.
    """
    if callable(name):
        raise TypeError(
            f"@labeling_function must be called with parentheses: write "
            f"'@labeling_function()' above 'def {getattr(name, '__name__', '?')}', "
            "not '@labeling_function'"
        )
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise TypeError(f"labeling function name must be a non-empty string; got {name!r}")
    res = dict(resources or {})

    def wrap(fn: Callable[..., Any]) -> LabelingFunction:
        if not callable(fn):
            raise TypeError(f"@labeling_function() decorates a function; got {fn!r}")
        lf_name = name or fn.__name__
        return LabelingFunction(lf_name, fn, res, _source_version(fn, res))

    return wrap


def load_lfs(path: str | Path) -> list[LabelingFunction]:
    """The labeling functions defined at the top level of a Python file, in file order."""
    p = Path(path)
    module = import_user_file(p, "labeling functions")
    lfs = [v for v in vars(module).values() if isinstance(v, LabelingFunction)]
    if not lfs:
        raise InvalidInput(
            f"{p}: no labeling functions found; expected functions decorated with "
            "@labeling_function()"
        )
    seen: dict[str, int] = {}
    for lf in lfs:
        seen[lf.name] = seen.get(lf.name, 0) + 1
    dupes = sorted(n for n, c in seen.items() if c > 1)
    if dupes:
        raise InvalidInput(f"{p}: labeling function names must be unique; repeated: {dupes}")
    return lfs


@dataclass(frozen=True)
class LFFailure:
    """One LF call that raised: LF name, item position, exception text."""

    lf: str
    item: int
    error: str


@dataclass
class LFVotes:
    """Non-abstain votes: aligned ``item`` (position), ``lf`` (index), ``label`` (code)."""

    item: npt.NDArray[np.int64]
    lf: npt.NDArray[np.int64]
    label: npt.NDArray[np.int64]
    n_items: int
    failures: list[LFFailure]


class _BadLabel(Exception):
    def __init__(self, lf: str, item: int, value: Any) -> None:
        super().__init__(lf, item, value)
        self.lf, self.item, self.value = lf, item, value


def _codebook(space: LabelSpace) -> dict[Any, int]:
    book: dict[Any, int] = {None: ABSTAIN, ABSTAIN: ABSTAIN}
    for code, lab in enumerate(space.labels):
        book[lab] = code
        book[code] = code
    return book


# set in the parent before forking; workers inherit them
_STATE: dict[str, Any] = {}


def _run_lf(
    lf: LabelingFunction, texts: Sequence[Any], offset: int, failures: list[LFFailure]
) -> list[Any]:
    fn, res = lf.fn, lf.resources
    try:
        if res:
            return list(map(functools.partial(fn, **res), texts))
        return list(map(fn, texts))
    except Exception:  # slow path: find the failing items, keep going
        out: list[Any] = []
        for i, t in enumerate(texts):
            try:
                out.append(fn(t, **res))
            except Exception as exc:
                failures.append(LFFailure(lf.name, offset + i, f"{type(exc).__name__}: {exc}"))
                out.append(None)
        return out


_Part = tuple[int, int, list[tuple[Any, Any]], list[LFFailure]]


def _apply_batch(job: tuple[int, int]) -> _Part:
    offset, stop = job
    texts = _STATE["inputs"][offset:stop]
    lfs: list[LabelingFunction] = _STATE["lfs"]
    book: dict[Any, int] = _STATE["book"]
    failures: list[LFFailure] = []
    per_lf: list[tuple[Any, Any]] = []
    for lf in lfs:
        results = _run_lf(lf, texts, offset, failures)
        hits = [i for i, v in enumerate(results) if v != ABSTAIN and v is not None]
        codes = np.empty(len(hits), dtype=np.int16)
        for n, i in enumerate(hits):
            value = results[i]
            try:
                code = book[value]
            except (KeyError, TypeError):
                raise _BadLabel(lf.name, offset + i, value) from None
            if isinstance(value, bool):
                raise _BadLabel(lf.name, offset + i, value)
            codes[n] = code
        per_lf.append((np.asarray(hits, dtype=np.int32) + offset, codes))
    return offset, len(texts), per_lf, failures


def _batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(start + size, n)


def apply_lfs(
    lfs: Sequence[LabelingFunction],
    inputs: Sequence[Any],
    label_space: LabelSpace,
    *,
    item_names: Sequence[str] | None = None,
    n_jobs: int | None = None,
    batch_size: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> LFVotes:
    """Apply ``lfs`` to every input; votes as aligned arrays, failures listed.

    ``n_jobs`` worker processes (default: the machine's cores; 1 = in this process).
    A value outside ``label_space`` raises :class:`InvalidInput` naming the LF, the item
    (``item_names[pos]`` when given), the value and the label set. ``progress`` is called
    with the number of inputs finished after each batch.
    """
    if not lfs:
        raise InvalidInput("no labeling functions to apply")
    n = len(inputs)
    jobs = n_jobs if n_jobs is not None else (os.cpu_count() or 1)
    _STATE["lfs"] = list(lfs)
    _STATE["book"] = _codebook(label_space)
    _STATE["inputs"] = inputs  # workers are forked: they inherit the inputs, not a copy per job
    parts: list[tuple[int, list[tuple[Any, Any]]]] = []
    failures: list[LFFailure] = []
    try:
        if jobs <= 1 or n <= batch_size:
            results: Iterator[_Part] = map(_apply_batch, _batches(n, batch_size))
            _collect(results, parts, failures, progress)
        else:
            size = min(batch_size, max(1000, -(-n // (jobs * 4))))
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(jobs) as pool:
                _collect(
                    pool.imap_unordered(_apply_batch, _batches(n, size)), parts, failures, progress
                )
    except _BadLabel as bad:
        who = item_names[bad.item] if item_names is not None else f"#{bad.item}"
        raise InvalidInput(
            f"labeling function {bad.lf!r} returned {bad.value!r} on item {who}; expected "
            f"one of {list(label_space.labels)}, a class code 0..{len(label_space) - 1}, "
            "ABSTAIN (-1) or None"
        ) from None
    finally:
        _STATE.clear()
    parts.sort(key=lambda p: p[0])
    items, lf_idx, labels = [], [], []
    for j in range(len(lfs)):
        for _, per_lf in parts:
            pos, codes = per_lf[j]
            items.append(pos.astype(np.int64))
            labels.append(codes.astype(np.int64))
            lf_idx.append(np.full(len(pos), j, dtype=np.int64))
    empty = np.zeros(0, dtype=np.int64)
    return LFVotes(
        item=np.concatenate(items) if items else empty,
        lf=np.concatenate(lf_idx) if lf_idx else empty,
        label=np.concatenate(labels) if labels else empty,
        n_items=n,
        failures=sorted(failures, key=lambda f: (f.item, f.lf)),
    )


def _collect(
    results: Iterator[_Part],
    parts: list[tuple[int, list[tuple[Any, Any]]]],
    failures: list[LFFailure],
    progress: Callable[[int], None] | None,
) -> None:
    for offset, size, per_lf, fails in results:
        parts.append((offset, per_lf))
        failures.extend(fails)
        if progress is not None:
            progress(size)
