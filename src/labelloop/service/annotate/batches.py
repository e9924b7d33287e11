"""Batches of work for people: list them and export their items for annotation.

A batch is what `labelloop sample` (kind ``sample``) or `labelloop route` (kinds ``route`` and
``audit``) stored: items in rank order, each with its score, the reason it was chosen and a
status. ``queued`` items wait for a person; ``in_flight`` items are being labeled; an item
is ``done`` once it has a gold label or an answer of a person (the store closes it in the
same transaction that appends the event, see ``repo.close_batch_items``).

Export can hand the items out: with ``claim`` the exported queued items become ``in_flight``
in the same transaction (if the file cannot be written, nothing changes), so the next sample
or route never picks them, and :func:`requeue_batch` returns in-flight items nobody finished.

Export writes the open items (or those of ``statuses``) with everything an annotation tool
needs: the item key as ``task`` (what `labelloop import answers` reads back), the item's
data (only the fields the schema declares in ``inputs``, when it declares any), rank, score,
reason, and the model suggestion only where the batch may show it (an audit is blind).
JSONL keeps the data nested; CSV puts the data's top-level fields in columns (nested values
as JSON text).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labelloop.errors import Conflict, InvalidInput, NotFound
from labelloop.formats.files import atomic_path
from labelloop.service.project.schemas import current_schema, declared_fields
from labelloop.store import repo
from labelloop.store.batches import (
    BATCH_ITEM_STATUSES,
    OPEN_BATCH_ITEM_STATUSES,
    BatchSummary,
    batch_item_ids,
    batch_items,
    batch_summaries,
    set_batch_item_status,
)
from labelloop.store.engine import Connection, Store

EXPORT_FORMATS = ("jsonl", "csv")


@dataclass(frozen=True)
class ExportReport:
    batch_id: int
    out: str
    format: str
    statuses: tuple[str, ...]
    exported: int
    suggestions_shown: int
    claimed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_batches(store: Store, project_name: str | None) -> list[BatchSummary]:
    """Every batch of the project, oldest first, with its item count per status."""
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        return batch_summaries(conn, project)


def _statuses(statuses: Sequence[str] | None) -> tuple[str, ...]:
    chosen = tuple(statuses) if statuses else OPEN_BATCH_ITEM_STATUSES
    bad = [s for s in chosen if s not in BATCH_ITEM_STATUSES]
    if bad:
        raise InvalidInput(
            f"batch item status {bad[0]!r}; expected one of {list(BATCH_ITEM_STATUSES)}"
        )
    return chosen


def _export_format(out: Path, fmt: str | None) -> str:
    chosen = fmt or out.suffix.lower().lstrip(".")
    if chosen not in EXPORT_FORMATS:
        raise InvalidInput(
            f"cannot tell the export format of {out} (saw {chosen or 'no extension'!r}); "
            f"expected a .jsonl or .csv file, or --format {'/'.join(EXPORT_FORMATS)}"
        )
    return chosen


def export_batch(
    store: Store,
    project_name: str | None,
    batch_id: int,
    out: Path,
    *,
    statuses: Sequence[str] | None = None,
    fmt: str | None = None,
    claim: bool = False,
) -> ExportReport:
    """Write the batch's items with the given statuses (default: queued and in flight).

    With ``claim``, the exported ``queued`` items become ``in_flight`` (exported as such), and
    the default is the queued items only: what nobody holds yet. The file is written whole
    or not at all, and a claim only takes effect with the file (if the claim's commit fails
    after the file was renamed into place, the file is removed again, and with it whatever
    ``out`` held before). Raises :class:`NotFound` for a batch that is not the project's.
    """
    chosen = _statuses(statuses if statuses or not claim else ("queued",))
    kind = _export_format(out, fmt)
    written = False
    try:
        with store.write() if claim else store.read() as conn:
            records, claimed = _batch_records(conn, project_name, batch_id, chosen, claim)
            with atomic_path(out) as tmp:
                if kind == "jsonl":
                    _write_jsonl(tmp, records)
                else:
                    _write_csv(tmp, records)
                set_batch_item_status(conn, claimed, "queued", "in_flight")
            written = True
    except BaseException:
        # the file is renamed into place just before the transaction commits; if the commit
        # itself fails, the claim did not happen, so the file must not stay either
        if written:
            out.unlink(missing_ok=True)
        raise
    shown = sum(r["suggestion"] is not None for r in records)
    return ExportReport(batch_id, str(out), kind, chosen, len(records), shown, len(claimed))


def _batch_records(
    conn: Connection, project_name: str | None, batch_id: int, chosen: Sequence[str], claim: bool
) -> tuple[list[dict[str, Any]], list[int]]:
    """The export records of the batch's items in ``chosen`` statuses (by rank), and the
    ids of the queued ones a claim hands out."""
    # a claim holds the project lock (as every writer does): two claims of one batch never
    # hand out the same item twice
    project = repo.get_project(conn, project_name, lock=claim)
    summary = _one_batch(conn, project, batch_id)
    rows = batch_items(conn, batch_id, chosen)
    claimed = [r.id for r in rows if claim and r.status == "queued"]
    if claim and not claimed:
        counts = summary.status
        raise Conflict(
            f"batch {batch_id} has no queued item left to hand out ({counts['in_flight']:,} "
            f"in flight, {counts['done']:,} done of {summary.size:,}); nothing written. "
            f"`labelloop batch requeue {batch_id}` returns unfinished in-flight items; export "
            "without --claim to write them again"
        )
    found = current_schema(conn, project)
    declared = declared_fields(found[1] if found is not None else None)
    records = [
        {
            "task": r.key,
            "data": _shown(r.data, declared),
            "batch": batch_id,
            "kind": summary.kind,
            "rank": r.rank,
            "score": r.score,
            "reason": r.reason,
            "status": "in_flight" if claim and r.status == "queued" else r.status,
            "suggestion": r.suggestion if r.suggestion and r.show_suggestion else None,
        }
        for r in rows
    ]
    return records, claimed


def _shown(data: dict[str, Any], declared: frozenset[str] | None) -> dict[str, Any]:
    """What annotators see: the schema's declared fields when it declares any (items stored
    before it did may hold other fields), else every field."""
    if declared is None:
        return data
    return {name: value for name, value in data.items() if name in declared}


def requeue_batch(store: Store, project_name: str | None, batch_id: int) -> int:
    """Return the batch's in-flight items (handed out, never answered) to the queue."""
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        _one_batch(conn, project, batch_id)
        ids = batch_item_ids(conn, batch_id, "in_flight")
        return set_batch_item_status(conn, ids, "in_flight", "queued")


def _one_batch(conn: Connection, project: repo.Project, batch_id: int) -> BatchSummary:
    found = batch_summaries(conn, project, batch_id)
    if not found:
        known = [s.id for s in batch_summaries(conn, project)]
        raise NotFound(
            f"project {project.name!r} has no batch {batch_id}; batches: {known or 'none'}"
        )
    return found[0]


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False))
            fh.write("\n")


_CSV_FIXED = ("task", "batch", "kind", "rank", "score", "reason", "status")


def _write_csv(path: Path, records: list[dict[str, Any]]) -> None:
    data_cols: dict[str, str] = {}  # data field -> column (prefixed where it would collide)
    reserved = {*_CSV_FIXED, "suggested_label", "suggested_confidence"}
    for rec in records:
        for name in rec["data"]:
            data_cols.setdefault(name, f"data.{name}" if name in reserved else name)
    header = [*_CSV_FIXED, *data_cols.values(), "suggested_label", "suggested_confidence"]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for rec in records:
            data = rec["data"]
            cells = [rec[c] if rec[c] is not None else "" for c in _CSV_FIXED]
            for name in data_cols:
                value = data.get(name)
                cells.append(
                    ""
                    if value is None
                    else value
                    if isinstance(value, str | int | float)
                    else json.dumps(value, ensure_ascii=False)
                )
            sug = rec["suggestion"] or {}
            cells += [sug.get("label", ""), sug.get("confidence", "")]
            writer.writerow(cells)
