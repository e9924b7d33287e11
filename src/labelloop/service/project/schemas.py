"""Use cases around a project's schema: apply a file, extend the open label set, read current."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelloop.core.provenance import content_hash
from labelloop.errors import Conflict, InvalidInput
from labelloop.schema import Schema, load_schema, open_schema, schema_from_dict
from labelloop.store import repo
from labelloop.store.engine import Connection, Store
from labelloop.store.items import insert_items, item_row_for


@dataclass(frozen=True)
class SchemaApplied:
    version_id: int
    version: str
    content_hash: str
    created: bool
    examples_added: int


def current_schema(conn: Connection, project: repo.Project) -> tuple[int, Schema] | None:
    """(version id, schema) in force for the project, or None before any label exists."""
    if project.schema_version_id is None:
        return None
    stored = repo.get_schema_version(conn, project.schema_version_id)
    return stored.id, schema_from_dict(stored.body)


def declared_fields(schema: Schema | None) -> frozenset[str] | None:
    """The item fields a schema declares (its ``inputs``), or None when it declares none:
    then every field of an item is content."""
    if schema is None or not schema.inputs:
        return None
    return frozenset(f.name for f in schema.inputs)


def require_schema(
    conn: Connection, project: repo.Project, *, needed_for: str, single_label: bool = False
) -> tuple[int, Schema]:
    """The schema in force, or a clear error saying what needs it (and that multi-label
    schemas are not supported there when ``single_label``)."""
    found = current_schema(conn, project)
    if found is None:
        raise InvalidInput(
            f"project {project.name!r} has no schema yet; expected one applied with "
            f"`labelloop schema apply FILE` ({needed_for})"
        )
    if single_label and found[1].kernels.label_is_list:
        raise InvalidInput(
            f"schema {found[1].version} is multi_label; {needed_for} supports single_label "
            "schemas only"
        )
    return found


def ensure_labels(
    conn: Connection, project: repo.Project, labels: Iterable[str]
) -> tuple[int, Schema, list[str]]:
    """Schema version to record new labels under; extends an open label set if needed.

    Returns (version id, schema, labels not allowed by a closed schema).
    """
    wanted = sorted(set(labels))
    found = current_schema(conn, project)
    if found is not None and not found[1].is_open:
        allowed = set(found[1].label_space.labels)
        return found[0], found[1], [x for x in wanted if x not in allowed]
    known = list(found[1].label_space.labels) if found is not None else []
    extra = [x for x in wanted if x not in known]
    if found is not None and not extra:
        return found[0], found[1], []
    schema = open_schema([*known, *extra])
    version_id, _ = repo.add_schema_version(
        conn,
        project,
        version=schema.version,
        content_hash=schema.content_hash,
        is_open=True,
        body=schema.to_dict(),
        source=None,
    )
    return version_id, schema, []


def apply_schema_file(store: Store, project_name: str | None, path: Path) -> SchemaApplied:
    """Load a schema file; a changed file becomes a new version, its examples calibration gold.

    Making a version current (new, or an earlier one again) appends a project-level
    ``schema_applied`` event; re-applying the current file changes nothing.
    """
    schema = load_schema(path)
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        return apply_schema(conn, project, schema, path)


def apply_schema(
    conn: Connection, project: repo.Project, schema: Schema, path: Path
) -> SchemaApplied:
    """:func:`apply_schema_file` inside the caller's write transaction (schema loaded)."""
    clash = [
        v
        for v in repo.list_schema_versions(conn, project)
        if v.version == schema.version and v.content_hash != schema.content_hash and not v.is_open
    ]
    if clash:
        raise Conflict(
            f"{path}: schema version {schema.version!r} is already recorded with other "
            f"content ({clash[0].content_hash[:12]}, now {schema.content_hash[:12]}); "
            "expected a new `version` string for a changed file"
        )
    version_id, created = repo.add_schema_version(
        conn,
        project,
        version=schema.version,
        content_hash=schema.content_hash,
        is_open=False,
        body=schema.to_dict(),
        source=str(path),
    )
    if created or project.schema_version_id != version_id:
        repo.append_events(
            conn,
            project.name,
            [
                repo.EventDraft(
                    type="schema_applied",
                    item_id=None,
                    labeler_id=None,
                    label=None,
                    schema_version_id=version_id,
                    source="import",
                    payload={
                        "version": schema.version,
                        "content_hash": schema.content_hash,
                        "new_version": created,
                        "file": str(path),
                    },
                )
            ],
        )
    added = _add_examples_as_gold(conn, project, version_id, schema) if created else 0
    return SchemaApplied(version_id, schema.version, schema.content_hash, created, added)


def _add_examples_as_gold(
    conn: Connection, project: repo.Project, version_id: int, schema: Schema
) -> int:
    examples = list(schema.examples_as_gold())
    if not examples:
        return 0
    declared = declared_fields(schema)
    rows = []
    for ex in examples:
        row = item_row_for(ex.data, source=f"schema {schema.version}", declared=declared)
        meta = {**row.meta, "calibration": True, "example_id": ex.example_id}
        rows.append(row._replace(meta=meta))
    existing = repo.find_item_ids(conn, project, [r.key for r in rows])
    new_rows = {r.key: r for r in rows if r.key not in existing}
    insert_items(conn, project, list(new_rows.values()))
    ids = repo.find_item_ids(conn, project, [r.key for r in rows])
    drafts = []
    for row, ex in zip(rows, examples, strict=True):
        label: Any = ex.label if ex.label is not None else list(ex.labels)
        payload = {
            "from": "schema",
            "example_id": ex.example_id,
            "rationale": ex.rationale,
            "edge_case": ex.edge_case,
        }
        drafts.append(
            repo.EventDraft(
                type="gold",
                item_id=ids[row.key],
                labeler_id=None,
                label=label,
                schema_version_id=version_id,
                source="import",
                idempotency_key="gold:schema:"
                + content_hash([schema.content_hash, row.key, label]),
                payload=payload,
                is_calibration=True,
            )
        )
    return repo.append_events(conn, project.name, drafts)


def schema_history(store: Store, project_name: str | None) -> dict[str, Any]:
    """The current schema (body included) and every recorded version, oldest first."""
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        versions = repo.list_schema_versions(conn, project)
    current = next((v for v in versions if v.id == project.schema_version_id), None)

    def short(v: repo.SchemaVersion) -> dict[str, Any]:
        return {
            "id": v.id,
            "version": v.version,
            "content_hash": v.content_hash,
            "is_open": v.is_open,
            "source": v.source,
            "created_at": v.created_at,
        }

    return {
        "project": project.name,
        "current": None if current is None else {**short(current), "body": current.body},
        "versions": [short(v) for v in versions],
    }
