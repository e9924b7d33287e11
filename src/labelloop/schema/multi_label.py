"""Task type ``multi_label``: any subset of the labels per item."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import field_validator

from labelloop.core.label_sets import BoolArray
from labelloop.errors import InvalidInput
from labelloop.schema._base import (
    GoldExample,
    Loc,
    TaskKernels,
    _CategoricalSchema,
    _describe,
    _Example,
    _fail,
    _name,
    _raw_name,
    _unknown_label_message,
)


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


class MultiLabelSchema(_CategoricalSchema):
    """Any subset of the labels per item, within ``min_labels``..``max_labels``."""

    TASK: ClassVar[str] = "multi_label"
    MIN_LABELS: ClassVar[int] = 1

    kernels: ClassVar[TaskKernels] = TaskKernels(
        answers="sets",
        aggregators="set_aggregator",
        # chosen on the tuning seeds of benchmarks/multilabel.py
        default_aggregator="multi_label_pooled_ds.v1",
        agreement=("krippendorff_alpha_masi", "fleiss_kappa_per_label", "cohen_kappa_per_label"),
        training_target="multi_hot",
    )

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

    def check_value(self, value: Any) -> list[str]:
        """A list of label names, returned in label-space order (a bare string is refused)."""
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise InvalidInput(
                f"expected a list of labels, saw {_describe(value)} (schema {self.version} is "
                "multi_label)",
                field="label",
            )
        return list(self.check_labels(value))

    def encode(self, values: Sequence[Any]) -> tuple[BoolArray, npt.NDArray[np.bool_]]:
        """Multi-hot rows, shape (n, n_classes); a value that is not a list of labels of the
        set is unfit (its row is empty and its mask entry False)."""
        space = self.label_space
        present = np.zeros((len(values), len(space)), dtype=bool)
        fit = np.zeros(len(values), dtype=bool)
        for j, value in enumerate(values):
            if isinstance(value, list) and all(isinstance(x, str) and x in space for x in value):
                present[j, [space.code(x) for x in value]] = True
                fit[j] = True
        return present, fit

    def decode(self, value: Any) -> list[str]:
        row = np.asarray(value, dtype=bool)
        return [name for name, on in zip(self.label_space.labels, row, strict=True) if on]

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
