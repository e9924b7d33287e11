"""The table of task types: ``task:`` value -> schema class. Adding a task type is adding
one module beside this one and one line here."""

from __future__ import annotations

from labelloop.schema._base import Schema
from labelloop.schema.multi_label import MultiLabelSchema
from labelloop.schema.single_label import SingleLabelSchema

RESERVED_TASKS: tuple[str, ...] = ("spans", "rating", "pairwise", "ranking", "step_labels")
"""Task types the format reserves for later releases; a file naming one is rejected clearly."""

TASKS: dict[str, type[Schema]] = {
    SingleLabelSchema.TASK: SingleLabelSchema,
    MultiLabelSchema.TASK: MultiLabelSchema,
}
"""Supported task types: ``task`` value -> schema class (the union's discriminator)."""
