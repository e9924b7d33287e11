"""Production model telemetry in: predictions become answers of model labelers.

Each record attaches to the item with the same content (created when new, deduplicated by
content hash against items imported before, whatever their key; when the schema declares
``inputs``, only those input fields are content and the others go to a new item's metadata)
and becomes an ``answer``
event of the labeler (kind ``model``, name = ``model``, version = ``model_version``), source
``model``, with the confidence, probabilities, request id and timestamp in its payload.
Idempotency keys come from (model, version, request id), or without a request id from
(model, version, content, prediction, timestamp): importing the same records again adds
nothing. One write transaction, streamed in batches of 10,000 records (memory stays flat);
atomic by default (the first invalid record aborts and names its line and field), or with
``skip_invalid`` rejected records go to a file with their reasons.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

from labelloop.core.identity import item_content_hash, item_key, split_declared
from labelloop.core.provenance import canonical_json
from labelloop.errors import InvalidInput
from labelloop.formats.rows import RejectedRow
from labelloop.formats.telemetry import (
    TelemetryRecord,
    iter_telemetry_batches,
    iter_telemetry_batches_parallel,
    validate_record,
)
from labelloop.schema import Schema
from labelloop.service.project.schemas import current_schema, declared_fields, ensure_labels
from labelloop.service.source.imports import BATCH, Progress, RejectedRows
from labelloop.store import repo
from labelloop.store.engine import Connection, Store
from labelloop.store.items import NewItem, insert_items_returning_ids

MAX_REPORTED_REJECTIONS = 100


@dataclass
class TelemetryReport:
    source: str
    rows: int = 0
    added: int = 0
    duplicates: int = 0
    new_items: int = 0
    matched_items: int = 0
    rejected: int = 0
    rejects_file: str | None = None
    schema_version: str | None = None
    undeclared_fields: dict[str, int] | None = None
    """Input fields the schema does not declare -> records that had them (item metadata)."""
    models: list[str] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "telemetry records"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _raw(rec: TelemetryRecord) -> str:
    obj: dict[str, Any] = {
        "input": rec.data,
        "prediction": rec.prediction,
        "model": rec.model,
        "model_version": rec.model_version,
        "timestamp": rec.timestamp,
    }
    if rec.probabilities is not None:
        obj["probabilities"] = rec.probabilities
    else:
        obj["confidence"] = rec.confidence
    if rec.request_id is not None:
        obj["request_id"] = rec.request_id
    return canonical_json(obj)


def _key(rec: TelemetryRecord, input_hash: str) -> str:
    """Idempotency key; ``input_hash`` is the hash over the whole input as read."""
    if rec.request_id is not None:
        ident = "\x1f".join(("r", rec.model, rec.model_version, rec.request_id))
    else:
        ident = "\x1f".join(
            ("c", rec.model, rec.model_version, input_hash, rec.prediction, rec.timestamp)
        )
    return "telemetry:" + sha256(ident.encode("utf-8")).hexdigest()[:32]  # 128 bits


class _Sink:
    """Stores batches of valid records inside one write transaction."""

    def __init__(
        self, conn: Connection, project: repo.Project, source: str, report: TelemetryReport
    ):
        self.conn = conn
        self.project = project
        self.source = source
        self.report = report
        found = current_schema(conn, project)
        self.closed: Schema | None = None if found is None or found[1].is_open else found[1]
        self.version_id = None if found is None else found[0]
        self.declared = declared_fields(self.closed)
        self.undeclared: Counter[str] = Counter()
        if self.closed is not None:
            report.schema_version = self.closed.version
        self.models: set[tuple[str, str]] = set()

    def _narrow(self, records: list[TelemetryRecord]) -> dict[int, tuple[str, dict[str, Any]]]:
        """Keep only declared input fields as item content (re-hashed); returns, per record
        (by ``id``) that had others, its hash over the whole input and the other fields."""
        narrowed: dict[int, tuple[str, dict[str, Any]]] = {}
        if self.declared is None:
            return narrowed
        for r in records:
            content, undeclared = split_declared(r.data, self.declared)
            if undeclared:
                self.undeclared.update(undeclared.keys())
                narrowed[id(r)] = (r.content_hash, undeclared)
                r.data = content
                r.data_json = canonical_json(content)
                r.content_hash = item_content_hash(content, data_json=r.data_json)
        return narrowed

    def _labels_ok(self, rec: TelemetryRecord, reject: Any) -> bool:
        assert self.closed is not None
        space = self.closed.label_space
        names = list(space.labels)
        bad_field = None
        if rec.prediction not in space:
            bad_field, bad = "prediction", rec.prediction
        elif rec.probabilities is not None:
            for label in rec.probabilities:
                if label not in space:
                    bad_field, bad = f"probabilities.{label}", label
                    break
        if bad_field is None:
            return True
        reject(
            RejectedRow(
                rec.line,
                bad_field,
                f"label {bad!r} is not in schema {self.closed.version} labels {names}",
                _raw(rec),
            )
        )
        return False

    def store(self, records: list[TelemetryRecord], reject: Any) -> None:
        conn, project, report = self.conn, self.project, self.report
        if self.closed is not None:
            records = [r for r in records if self._labels_ok(r, reject)]
            version_id = self.version_id
        else:
            labels: set[str] = set()
            for r in records:
                labels.add(r.prediction)
                if r.probabilities is not None:
                    labels.update(r.probabilities)
            version_id, schema, _ = ensure_labels(conn, project, labels)
            report.schema_version = schema.version
        if not records:
            return
        narrowed = self._narrow(records)
        hashes = {r.content_hash for r in records} | {full for full, _ in narrowed.values()}
        found = repo.find_items_by_content(conn, project, list(hashes))
        ids = {h: v[0] for h, v in found.items()}
        item_keys = {item_id: key for item_id, key in found.values()}
        for r in records if narrowed else ():  # stored before the schema declared inputs:
            full = narrowed.get(id(r), (None,))[0]  # their hash is the whole input's
            if r.content_hash not in ids and full in ids:
                ids[r.content_hash] = ids[full]
        new: dict[str, NewItem] = {}
        kept: list[TelemetryRecord] = []
        for r in records:
            h = r.content_hash
            if h in ids:
                kept.append(r)
                continue
            if h not in new:
                if self.closed is not None:
                    problems = self.closed.check_item(r.data)
                    if problems:
                        name, message = problems[0]
                        reject(RejectedRow(r.line, f"input.{name}", message, _raw(r)))
                        continue
                undeclared = narrowed.get(id(r), ("", {}))[1]
                meta = {"undeclared": undeclared} if undeclared else {}
                new[h] = NewItem(
                    item_key(None, h), None, h, r.data, meta, None, self.source, r.data_json
                )
            kept.append(r)
        report.matched_items += len(set(ids.values()))
        if new:
            created = insert_items_returning_ids(conn, project, list(new.values()))
            for h, item in new.items():
                ids[h] = item_id = created[item.key]
                item_keys[item_id] = item.key
            report.new_items += len(new)
        identities = {("model", r.model, r.model_version) for r in kept}
        labelers = repo.ensure_labelers(conn, project, identities)
        self.models.update((m, v) for _, m, v in identities)
        assert version_id is not None
        keys = [_key(r, narrowed[id(r)][0] if id(r) in narrowed else r.content_hash) for r in kept]
        # records already stored (a re-import, a retry) are dropped here, before their
        # drafts are built; append_events then skips only repeats within the batch
        stored = repo.existing_idempotency_keys(conn, project, keys)
        drafts = [
            repo.EventDraft(
                type="answer",
                item_id=ids[r.content_hash],
                labeler_id=labelers[("model", r.model, r.model_version)],
                label=r.prediction,
                schema_version_id=version_id,
                source="model",
                idempotency_key=key,
                payload={
                    "confidence": r.confidence,
                    "probabilities": r.probabilities,
                    "request_id": r.request_id,
                    "timestamp": r.timestamp,
                },
            )
            for r, key in zip(kept, keys, strict=True)
            if key not in stored
        ]
        report.added += repo.append_events(
            conn, project.name, drafts, keys_checked=True, item_keys=item_keys
        )


def import_telemetry(
    store: Store,
    project_name: str | None,
    path: Path,
    *,
    skip_invalid: bool = False,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    parallel: bool = False,
) -> TelemetryReport:
    """Import a JSONL file of production predictions (see :mod:`labelloop.formats.telemetry`).

    ``parallel`` parses and validates in a child process, overlapping the database work
    (saves ~13 us of ~80 us CPU per record in this process; it helps when a second core is
    idle and hurts on a saturated machine, so it is off by default).
    """
    report = TelemetryReport(str(path))
    rejects = RejectedRows(path, skip_invalid, rejects_path)
    try:
        with store.write() as conn:
            project = repo.get_project(conn, project_name, lock=True)
            sink = _Sink(conn, project, f"telemetry {path}", report)
            reader = iter_telemetry_batches_parallel if parallel else iter_telemetry_batches
            for batch in reader(path, BATCH):
                valid: list[TelemetryRecord] = []
                for row in batch:
                    if isinstance(row, RejectedRow):
                        rejects.add(row)
                    else:
                        valid.append(row)
                report.rows += len(batch)
                sink.store(valid, rejects.add)
                if progress is not None:
                    progress(report.rows)
    finally:
        report.rejects_file = rejects.close()
    report.rejected = rejects.count
    report.duplicates = report.rows - report.rejected - report.added
    report.models = sorted(f"{m}@{v}" for m, v in sink.models)
    report.undeclared_fields = dict(sink.undeclared.most_common()) or None
    store.refresh_statistics(("items", "events"))
    return report


def _batched(records: Iterable[Any]) -> Iterator[list[tuple[int, Any]]]:
    batch: list[tuple[int, Any]] = []
    for position, obj in enumerate(records, 1):
        batch.append((position, obj))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def ingest_telemetry(
    store: Store,
    project_name: str | None,
    records: Iterable[Any],
    *,
    skip_invalid: bool = False,
    source: str = "api",
) -> TelemetryReport:
    """Ingest already-parsed records (e.g. a request body); "line" = 1-based position.

    Atomic by default (:class:`InvalidInput` names the first bad record's position and field);
    with ``skip_invalid`` the valid ones are stored and up to 100 rejections are reported.
    """
    report = TelemetryReport(source)
    rejected: list[RejectedRow] = []

    def reject(row: RejectedRow) -> None:
        if not skip_invalid:
            raise InvalidInput(row.message, source=source, line=row.line, field=row.field)
        rejected.append(row)
        if len(report.rejections) < MAX_REPORTED_REJECTIONS:
            report.rejections.append({"line": row.line, "field": row.field, "message": row.message})

    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        sink = _Sink(conn, project, f"telemetry {source}", report)
        for batch in _batched(records):
            valid: list[TelemetryRecord] = []
            for position, obj in batch:
                row = validate_record(obj, position)
                if isinstance(row, RejectedRow):
                    reject(row)
                else:
                    valid.append(row)
            report.rows += len(batch)
            sink.store(valid, reject)
    report.rejected = len(rejected)
    report.duplicates = report.rows - report.rejected - report.added
    report.models = sorted(f"{m}@{v}" for m, v in sink.models)
    report.undeclared_fields = dict(sink.undeclared.most_common()) or None
    store.refresh_statistics(("items", "events"))
    return report
