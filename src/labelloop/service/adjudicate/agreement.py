"""Agreement of a project's answers: `labelloop agreement` without a file.

The same report as for a file (:func:`labelloop.service.adjudicate.agreement_files.agreement_of`): the
workers are the project's labelers (answers and corrections, in chain order, so ``keep``
last is a labeler's latest), the tasks its item keys, the labels its current schema's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from labelloop.core.answers import Answers, IntArray
from labelloop.core.disagreement import SchemaGapReport
from labelloop.errors import InvalidInput
from labelloop.formats.answers import AnswerTable
from labelloop.service.adjudicate.agreement_files import agreement_of
from labelloop.service.project.schemas import require_schema
from labelloop.store import listing, repo
from labelloop.store.engine import Store


def labeler_id(kind: str, name: str, version: str) -> str:
    """How a labeler is named in the report: ``kind:name``, with ``@version`` unless 1."""
    return f"{kind}:{name}" if version == "1" else f"{kind}:{name}@{version}"


def row_codes(
    rows: Sequence[listing.AnswerRow],
) -> tuple[list[str], list[str], IntArray, IntArray]:
    """Sorted item keys and labeler ids (:func:`labeler_id`) of answer rows, and each row's
    item code and labeler code (positions in those lists)."""
    item_ids = sorted({r.item for r in rows})
    labeler_ids = sorted({labeler_id(r.kind, r.name, r.version) for r in rows})
    item_code = {k: i for i, k in enumerate(item_ids)}
    labeler_code = {k: i for i, k in enumerate(labeler_ids)}
    items = np.fromiter((item_code[r.item] for r in rows), dtype=np.int64, count=len(rows))
    labelers = np.fromiter(
        (labeler_code[labeler_id(r.kind, r.name, r.version)] for r in rows),
        dtype=np.int64,
        count=len(rows),
    )
    return item_ids, labeler_ids, items, labelers


def agreement_project(
    store: Store,
    project_name: str | None,
    *,
    kinds: Sequence[str] | None = None,
    **options: Any,
) -> tuple[dict[str, Any], SchemaGapReport | None, AnswerTable]:
    """Agreement of the project's answers (of labelers of ``kinds``; default all kinds).

    ``options`` as for :func:`~labelloop.service.adjudicate.agreement_files.agreement_of`. Answers whose
    label is not in the current schema (made under an earlier version) are left out and
    counted in ``skipped_answers``.
    """
    wanted = tuple(dict.fromkeys(kinds)) if kinds else None
    bad = [k for k in wanted or () if k not in repo.LABELER_KINDS]
    if bad:
        raise InvalidInput(f"labeler kind {bad[0]!r}; expected one of {list(repo.LABELER_KINDS)}")
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        _, schema = require_schema(conn, project, needed_for="agreement on the project's answers")
        rows = listing.answer_rows(conn, project, kinds=wanted)
    if schema.kernels.label_is_list:  # the task type keeps sets: set distance, kappa per label
        from labelloop.service.adjudicate.agreement_sets import agreement_sets_of

        about: dict[str, Any] = {"project": project.name, "schema_version": schema.version}
        about["kinds"] = list(wanted) if wanted else None
        return agreement_sets_of(rows, schema, about, **options)
    space = schema.label_space
    kept = [r for r in rows if isinstance(r.label, str) and r.label in space]
    if not kept:
        of = "" if wanted is None else f" of {'/'.join(wanted)} labelers"
        raise InvalidInput(
            f"project {project.name!r} has no answers{of} with a label of schema "
            f"{schema.version} {list(space.labels)} (saw {len(rows):,} answers in all)"
        )
    item_ids, labeler_ids, item_code, labeler_code = row_codes(kept)
    answers = Answers(
        item_code,
        labeler_code,
        np.fromiter((space.code(r.label) for r in kept), dtype=np.int64, count=len(kept)),
        len(item_ids),
        len(labeler_ids),
        len(space),
    )
    table = AnswerTable(answers, item_ids, labeler_ids, space)
    head = {
        "project": project.name,
        "schema_version": schema.version,
        "kinds": list(wanted) if wanted else None,
        "skipped_answers": len(rows) - len(kept),
    }
    return agreement_of(table, head, **options)
