"""Find and fix items: list them by state, show one with its events, correct its label."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from labelloop.core.provenance import content_hash
from labelloop.errors import InvalidInput
from labelloop.service.project.schemas import require_schema
from labelloop.store import listing, repo
from labelloop.store.engine import Store

CORRECTION_SOURCE = "cli"
"""Event source of corrections made with `labelloop correct`."""


def list_items(
    store: Store, project_name: str | None, *, state: str | None = None, limit: int | None = 50
) -> tuple[list[listing.ItemRow], int]:
    """Items in import order, optionally in one state, at most ``limit`` (None: all); and
    how many match in all."""
    if limit is not None and limit < 0:
        raise InvalidInput(f"limit must be 0 (all) or a positive number of items, saw {limit}")
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        return listing.list_items(conn, project, state=state, limit=limit or None)


def show_item(store: Store, project_name: str | None, key: str) -> listing.ItemDetail:
    """One item: data, state, current label, batches and every event with its provenance."""
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        return listing.get_item(conn, project, key)


@dataclass(frozen=True)
class CorrectionReport:
    project: str
    item: str
    label: str
    previous_label: Any
    previous_source: str | None
    labeler: dict[str, str]
    reason: str
    schema_version: str
    recorded: bool
    """False when the same correction (labeler, label, reason, corrected event) was recorded
    already: re-running the command adds nothing."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def correct_item(
    store: Store,
    project_name: str | None,
    key: str,
    label: str,
    *,
    reason: str,
    labeler: str,
    kind: str = "human",
) -> CorrectionReport:
    """Record a person's correction of an item's label, with the reason, as a correction event.

    The label must be in the project's (single-label) schema. The event names the event it
    corrects (the source of the current label: gold, an earlier correction or the latest
    adjudication) and carries the reason and the previous label in its payload. The item's
    current label is then the correction's, until gold or a later correction.
    """
    reason = reason.strip()
    if not reason:
        raise InvalidInput("--reason is empty; expected why the label is corrected")
    name = labeler.strip()
    if not name:
        raise InvalidInput("--labeler is empty; expected the name of the person correcting")
    if kind not in repo.PERSON_KINDS:
        raise InvalidInput(
            f"labeler kind {kind!r}; expected one of {list(repo.PERSON_KINDS)} (a correction is a "
            "person's)"
        )
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        version_id, schema = require_schema(
            conn,
            project,
            needed_for="`labelloop correct`",
            single_label=True,
        )
        schema.check_label(label)
        item_id = listing.resolve_item_key(conn, project, key)
        item_key = listing.get_item_key(conn, item_id)
        previous = listing.current_label_event(conn, project, item_id)
        identity = (kind, name, "1")
        labeler_id = repo.ensure_labelers(conn, project, {identity})[identity]
        payload: dict[str, Any] = {
            "reason": reason,
            "previous_label": None if previous is None else previous.label,
            "corrects": None
            if previous is None
            else {"type": previous.type, "seq": previous.seq, "hash": previous.hash},
        }
        idempotency = "correction:" + content_hash(
            [identity, item_key, label, reason, None if previous is None else previous.hash]
        )
        repeated = (
            previous is not None
            and previous.type == "correction"
            and previous.labeler_id == labeler_id
            and previous.label == label
            and (previous.payload or {}).get("reason") == reason
        )  # this very correction is the current label already
        draft = repo.EventDraft(
            type="correction",
            item_id=item_id,
            labeler_id=labeler_id,
            label=label,
            schema_version_id=version_id,
            source=CORRECTION_SOURCE,
            idempotency_key=idempotency,
            corrects_event_id=None if previous is None else previous.id,
            payload=payload,
        )
        added = 0 if repeated else repo.append_events(conn, project.name, [draft])
    return CorrectionReport(
        project=project.name,
        item=item_key,
        label=label,
        previous_label=None if previous is None else previous.label,
        previous_source=None if previous is None else previous.type,
        labeler={"kind": kind, "name": name, "version": "1"},
        reason=reason,
        schema_version=schema.version,
        recorded=bool(added),
    )
