"""Task type ``single_label``: exactly one label per item (and the open schema of projects
without a file)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import field_validator

from labelloop.core.answers import ABSTAIN, IntArray, LabelSpace
from labelloop.errors import InvalidInput
from labelloop.schema._base import (
    GoldExample,
    LabelDef,
    Loc,
    TaskKernels,
    _CategoricalSchema,
    _describe,
    _Example,
    _name,
    _raw_name,
    _unknown_label_message,
)


class SingleLabelExample(_Example):
    """A worked example of a single-label schema: input, expected ``label``, rationale."""

    label: str

    @field_validator("label", mode="before")
    @classmethod
    def _v_label(cls, v: Any) -> str:
        return _name(v, "a label name")


class SingleLabelSchema(_CategoricalSchema):
    """Exactly one label per item."""

    TASK: ClassVar[str] = "single_label"
    MIN_LABELS: ClassVar[int] = 2

    kernels: ClassVar[TaskKernels] = TaskKernels(
        answers="codes",
        aggregators="aggregator",
        default_aggregator="auto",
        agreement=(
            "percent_agreement",
            "cohen_kappa_mean",
            "fleiss_kappa",
            "krippendorff_alpha",
        ),
        training_target="class",
    )

    task: Literal["single_label"] = "single_label"
    examples: tuple[SingleLabelExample, ...] = ()

    def check_value(self, value: Any) -> str:
        """One label name of the set (a list is refused)."""
        if not isinstance(value, str):
            raise InvalidInput(
                f"expected one label, saw {_describe(value)} (schema {self.version} is "
                "single_label)",
                field="label",
            )
        return self.check_label(value)

    def encode(self, values: Sequence[Any]) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        """Class codes, shape (n,): ``ABSTAIN`` for values that are not a label of the set."""
        space = self.label_space
        codes = np.fromiter(
            (space.code(v) if isinstance(v, str) and v in space else ABSTAIN for v in values),
            dtype=np.int64,
            count=len(values),
        )
        return codes, codes != ABSTAIN

    def decode(self, value: Any) -> str:
        return self.label_space.labels[int(value)]

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
