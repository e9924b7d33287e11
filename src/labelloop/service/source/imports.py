"""The source stage: import items, existing answers and gold into a project.

Each import is one write transaction: atomic by default (the first invalid row aborts the
whole import and nothing is written), or with ``skip_invalid`` rejected rows go to a file
with their reasons. Memory stays flat: rows stream in batches and deduplication asks the
database (which already holds the earlier batches of the same transaction).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from labelloop.core.identity import is_stub, item_content_hash, item_key, split_declared
from labelloop.core.provenance import canonical_json, sha256_hex
from labelloop.errors import InvalidInput
from labelloop.formats.answers import (
    GOLD_FIELDS,
    AnswerRow,
    answer_format,
    gold_conflict,
    iter_answer_rows,
)
from labelloop.formats.rows import ItemRow, RejectedRow, iter_row_batches
from labelloop.schema import Schema
from labelloop.service.project.schemas import current_schema, declared_fields, ensure_labels
from labelloop.settings import get_settings
from labelloop.store import repo
from labelloop.store.engine import Connection, Store
from labelloop.store.items import NewItem, ensure_items, fill_stub_items, insert_items

Progress = Callable[[int], None]
"""Called with the number of rows processed so far."""

BATCH = 10_000


@dataclass
class ImportReport:
    kind: str
    source: str
    rows: int = 0
    added: int = 0
    duplicates: int = 0
    filled: int = 0
    rejected: int = 0
    rejects_file: str | None = None
    new_items: int = 0
    schema_version: str | None = None
    undeclared_fields: dict[str, int] | None = None
    """Item fields the schema does not declare -> rows that had them (kept as metadata)."""
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _narrow(row: ItemRow, declared: frozenset[str]) -> tuple[ItemRow, dict[str, Any]]:
    """The row with only declared fields as content (hashed) and the rest as its metadata's
    ``undeclared``; and the rest."""
    content, undeclared = split_declared(row.data, declared)
    if not undeclared:
        return row, undeclared
    narrowed = replace(
        row,
        data=content,
        metadata={**row.metadata, "undeclared": undeclared},
        content_hash=item_content_hash(content, row.media),
    )
    return narrowed, undeclared


def _no_declared_field(extra: dict[str, Any], declared: frozenset[str]) -> str:
    return (
        f"saw only fields the schema does not declare {sorted(extra)}; expected at least one "
        f"of its inputs {sorted(declared)} (or a media reference)"
    )


def _raise_rejected(path: Path, rej: RejectedRow) -> NoReturn:
    raise InvalidInput(rej.message, source=str(path), line=rej.line, field=rej.field)


class RejectedRows:
    """Atomic mode raises on the first rejected row; skip mode streams them to a file."""

    def __init__(self, path: Path, skip_invalid: bool, rejects_path: Path | None) -> None:
        self.path = path
        self.skip = skip_invalid
        self.out_path = rejects_path or path.with_name(path.name + ".rejects.jsonl")
        self.count = 0
        self._fh: io.TextIOWrapper | None = None

    def add(self, rej: RejectedRow) -> None:
        if not self.skip:
            _raise_rejected(self.path, rej)
        if self._fh is None:
            self._fh = open(self.out_path, "w", encoding="utf-8")  # noqa: SIM115
        record = {"line": rej.line, "field": rej.field, "message": rej.message, "raw": rej.raw}
        self._fh.write(canonical_json(record) + "\n")
        self.count += 1

    def close(self) -> str | None:
        if self._fh is None:
            return None
        self._fh.close()
        return str(self.out_path)


def import_items(
    store: Store,
    project_name: str | None,
    path: Path,
    *,
    format: str | None = None,
    id_field: str | None = None,
    skip_invalid: bool = False,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    max_item_bytes: int | None = None,
) -> ImportReport:
    """Import items from JSONL, CSV, Parquet or a Hugging Face `save_to_disk` folder.

    Items over ``max_item_bytes`` (default: the `LABELLOOP_MAX_ITEM_BYTES` setting) are
    rejected rows."""
    if max_item_bytes is None:
        max_item_bytes = get_settings().max_item_bytes
    report = ImportReport("items", str(path))
    rejects = RejectedRows(path, skip_invalid, rejects_path)
    try:
        with store.write() as conn:
            project = repo.get_project(conn, project_name, lock=True)
            found = current_schema(conn, project)
            schema = None if found is None or found[1].is_open else found[1]
            declared = declared_fields(schema)
            undeclared: Counter[str] = Counter()
            batches = iter_row_batches(
                path,
                format=format,
                id_field=id_field,
                batch_size=BATCH,
                max_item_bytes=max_item_bytes,
            )
            for batch in batches:
                valid: list[ItemRow] = []
                legacy: dict[str, str] = {}
                for row in batch:
                    if isinstance(row, RejectedRow):
                        rejects.add(row)
                        continue
                    extra: dict[str, Any] = {}
                    if declared is not None:
                        full_hash = row.content_hash
                        row, extra = _narrow(row, declared)
                        if extra and not row.data and row.media is None:
                            message = _no_declared_field(extra, declared)
                            rejects.add(RejectedRow(row.line, None, message, canonical_json(extra)))
                            continue
                        if extra:  # items stored before the schema declared inputs: every field
                            legacy[item_key(row.external_id, row.content_hash)] = full_hash
                    problems = schema.check_item(row.data) if schema is not None else []
                    if problems:
                        name, message = problems[0]
                        rejects.add(RejectedRow(row.line, name, message, canonical_json(row.data)))
                        continue
                    undeclared.update(extra.keys())
                    valid.append(row)
                report.rows += len(batch)
                _store_item_batch(conn, project, valid, str(path), report, rejects, legacy)
                if progress is not None:
                    progress(report.rows)
            if schema is not None:
                report.schema_version = schema.version
            if undeclared:
                report.undeclared_fields = dict(undeclared.most_common())
    finally:
        report.rejects_file = rejects.close()
    report.rejected = rejects.count
    store.refresh_statistics(("items",))
    return report


def _store_item_batch(
    conn: Connection,
    project: repo.Project,
    rows: list[ItemRow],
    source: str,
    report: ImportReport,
    rejects: RejectedRows,
    legacy: dict[str, str] | None = None,
) -> None:
    """Store new items, fill stubs, count duplicates. ``legacy``: item key -> the hash the
    row had over all its fields (how items were hashed before the schema declared inputs)."""
    legacy = legacy or {}
    keyed = [(item_key(row.external_id, row.content_hash), row) for row in rows]
    existing = repo.find_item_hashes(conn, project, [k for k, _ in keyed])
    no_id = [row.content_hash for k, row in keyed if row.external_id is None]
    no_id += [legacy[k] for k, row in keyed if row.external_id is None and k in legacy]
    by_content = repo.find_items_by_content(conn, project, no_id) if no_id else {}
    new: dict[str, NewItem] = {}
    fills: list[NewItem] = []
    for key, row in keyed:
        seen_hash = existing.get(key)
        if seen_hash is None and key in new:
            seen_hash = new[key].content_hash
        if seen_hash is not None:
            if seen_hash in (row.content_hash, legacy.get(key)):
                report.duplicates += 1
            elif is_stub(key, seen_hash):
                fills.append(_new_item(key, row, source))
                existing[key] = row.content_hash
                report.filled += 1
            else:
                rejects.add(
                    RejectedRow(
                        row.line,
                        "id",
                        f"item id {row.external_id!r} already exists with different content; "
                        "expected the same content for the same id (ids are immutable)",
                        canonical_json(row.data),
                    )
                )
            continue
        if row.external_id is None and (
            row.content_hash in by_content or legacy.get(key) in by_content
        ):
            report.duplicates += 1
            continue
        new[key] = _new_item(key, row, source)
    insert_items(conn, project, list(new.values()))
    fill_stub_items(conn, project, fills)
    report.added += len(new)


def _new_item(key: str, row: ItemRow, source: str) -> NewItem:
    return NewItem(
        key, row.external_id, row.content_hash, row.data, row.metadata, row.media, source
    )


# ---------------------------------------------------------------- answers and gold


class _Labels:
    """Checks a file's labels against the project's schema (single label or a list)."""

    def __init__(self, conn: Connection, project: repo.Project, path: Path, delimiter: str | None):
        found = current_schema(conn, project)
        self.schema: Schema | None = found[1] if found is not None else None
        self.version_id = found[0] if found is not None else None
        self.open = self.schema is None or self.schema.is_open
        self.path = path
        self.seen: set[str] = set()
        self.sets = self.schema is not None and self.schema.kernels.label_is_list
        if delimiter is not None and not self.sets:
            raise InvalidInput(
                f"--label-delimiter splits multi-label answers, but {self._label_set()}; "
                "expected one label per row (drop --label-delimiter)",
                source=str(path),
            )

    def _label_set(self) -> str:
        if self.schema is None or self.schema.is_open:
            return "the project's open label set is single-label"
        return f"schema {self.schema.version} is {self.schema.task}"

    def check(self, row: AnswerRow) -> Any:
        """The label to store (a string, or a list in label-space order), or a RejectedRow."""
        schema = self.schema
        if schema is not None and self.sets:
            if isinstance(row.label, str):
                how = (
                    'a JSON list of labels like ["a", "b"]'
                    if answer_format(self.path) == "jsonl"
                    else "labels split by --label-delimiter (e.g. --label-delimiter '|')"
                )
                return self._reject(
                    row, f"saw the single label {row.label!r}; {self._label_set()}, expected {how}"
                )
            try:
                return schema.check_value(list(row.label))
            except InvalidInput as exc:
                return self._reject(row, f"{exc.reason} (schema {schema.version})")
        if not isinstance(row.label, str):
            return self._reject(
                row,
                f"saw a list of labels {list(row.label)}; {self._label_set()}, expected one label",
            )
        if schema is not None and not schema.is_open and row.label not in schema.label_space:
            return self._reject(
                row,
                f"label {row.label!r} is not in schema {schema.version} labels "
                f"{list(schema.label_space.labels)}",
            )
        self.seen.add(row.label)
        return row.label

    def version(self) -> int:
        """Schema version id the labels are recorded under (known once a valid row is)."""
        assert self.version_id is not None, "prepare() records the open label set first"
        return self.version_id

    def _reject(self, row: AnswerRow, message: str) -> RejectedRow:
        return RejectedRow(row.line, "label", message, _raw_answer(row))

    def prepare(
        self, conn: Connection, project: repo.Project, rows: Iterator[Any], skip: bool
    ) -> str | None:
        """Before writing: with an open label set, extend it once by every valid row's label
        (so the whole file is recorded under one schema version); returns that version."""
        if self.open:
            for row in rows:
                if isinstance(row, RejectedRow):
                    if not skip:
                        _raise_rejected(self.path, row)
                    continue
                label = self.check(row)
                if isinstance(label, RejectedRow) and not skip:
                    _raise_rejected(self.path, label)
            if self.seen:
                self.version_id, self.schema, _ = ensure_labels(conn, project, self.seen)
        return None if self.schema is None else self.schema.version


def _raw_answer(row: AnswerRow) -> str:
    record: dict[str, Any] = {"task": row.task, "label": row.label}
    if row.worker is not None:
        record["worker"] = row.worker
    if row.time is not None:
        record["time"] = row.time
    return canonical_json(record)


def _parse_time(raw: str | None) -> tuple[int | None, str | None]:
    """`time` is seconds spent (a number) or when the answer was given (ISO-8601);
    :class:`ValueError` says what is wrong."""
    if not raw:
        return None, None
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        if seconds < 0 or seconds != seconds or seconds == float("inf"):
            raise ValueError(f"time {raw!r} is not a valid duration; expected seconds >= 0")
        return round(seconds * 1000), None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"time {raw!r} is neither seconds spent nor an ISO-8601 timestamp"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return None, when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _item_ids_creating_stubs(
    conn: Connection, project: repo.Project, tasks: list[str], source: str, report: ImportReport
) -> dict[str, int]:
    ids, created = ensure_items(conn, project, tasks, source)
    report.new_items += created
    return ids


def import_answers(
    store: Store,
    project_name: str | None,
    path: Path,
    *,
    labeler_kind: str = "human",
    skip_invalid: bool = False,
    rejects_path: Path | None = None,
    label_delimiter: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import `worker,task,label[,time]` rows (CSV or JSONL) as answer events.

    Each worker becomes a labeler of kind ``labeler_kind`` (human, expert, model, llm or
    rule). Unknown task ids become items. A multi-label schema takes a list per row (a JSON
    list, or CSV cells split on ``label_delimiter``), stored in label-space order. Each row's
    idempotency key is derived from its content (and the kind, unless human) and its
    occurrence number, so importing the same file again adds nothing while repeated
    identical rows within a file are kept as published. Atomic, or with ``skip_invalid``
    rejected rows go to a file with their reasons.
    """
    if labeler_kind not in repo.LABELER_KINDS:
        raise InvalidInput(
            f"labeler kind {labeler_kind!r} is unknown; expected one of {list(repo.LABELER_KINDS)}"
        )
    report = ImportReport("answers", str(path))
    rejects = RejectedRows(path, skip_invalid, rejects_path)

    def rows() -> Iterator[Any]:
        return iter_answer_rows(path, label_delimiter=label_delimiter)

    try:
        with store.write() as conn:
            project = repo.get_project(conn, project_name, lock=True)
            labels = _Labels(conn, project, path, label_delimiter)
            report.schema_version = labels.prepare(conn, project, rows(), skip_invalid)
            _write_answers(
                conn, project, path, labels, rows(), rejects, labeler_kind, report, progress
            )
    finally:
        report.rejects_file = rejects.close()
    report.rejected = rejects.count
    report.duplicates = report.rows - report.rejected - report.added
    store.refresh_statistics(("items", "events"))
    return report


def _write_answers(
    conn: Connection,
    project: repo.Project,
    path: Path,
    labels: _Labels,
    rows: Iterator[Any],
    rejects: RejectedRows,
    kind: str,
    report: ImportReport,
    progress: Progress | None,
) -> None:
    seen: Counter[bytes] = Counter()
    batch: list[tuple[AnswerRow, Any, int | None, str | None]] = []
    extra = () if kind == "human" else (kind,)  # human keys stay as they were

    def flush() -> None:
        tasks = [r.task for r, _, _, _ in batch]
        ids = _item_ids_creating_stubs(conn, project, tasks, str(path), report)
        labelers = repo.ensure_labelers(
            conn, project, {(kind, r.worker or "", "1") for r, *_ in batch}
        )
        drafts = []
        for r, label, spent_ms, answered_at in batch:
            shown = label if isinstance(label, str) else canonical_json(label)
            worker = r.worker or ""  # always set in an answers file
            identity = "\x1f".join((worker, r.task, shown, r.time or "", *extra))
            digest = sha256_hex(identity)
            seen[bytes.fromhex(digest[:32])] += 1
            n = seen[bytes.fromhex(digest[:32])]
            drafts.append(
                repo.EventDraft(
                    type="answer",
                    item_id=ids[r.task],
                    labeler_id=labelers[(kind, worker, "1")],
                    label=label,
                    schema_version_id=labels.version(),
                    source="import",
                    time_spent_ms=spent_ms,
                    idempotency_key=f"import:answer:{digest}:{n}",
                    payload={"answered_at": answered_at} if answered_at else None,
                )
            )
        report.added += repo.append_events(  # the item keys are the tasks: not read again
            conn, project.name, drafts, item_keys={item_id: task for task, item_id in ids.items()}
        )
        batch.clear()

    for row in rows:
        report.rows += 1
        if isinstance(row, RejectedRow):
            rejects.add(row)
            continue
        label = labels.check(row)
        if isinstance(label, RejectedRow):
            rejects.add(label)
            continue
        try:
            spent_ms, answered_at = _parse_time(row.time)
        except ValueError as exc:
            rejects.add(RejectedRow(row.line, "time", str(exc), _raw_answer(row)))
            continue
        batch.append((row, label, spent_ms, answered_at))
        if len(batch) >= BATCH:
            flush()
            if progress is not None:
                progress(report.rows)
    if batch:
        flush()
    if progress is not None:
        progress(report.rows)


def import_gold(
    store: Store,
    project_name: str | None,
    path: Path,
    *,
    label_delimiter: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import `task,label` rows (CSV or JSONL) as gold events (the latest gold is current)."""
    report = ImportReport("gold", str(path))
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        labels = _Labels(conn, project, path, label_delimiter)

        def rows() -> Iterator[Any]:
            return iter_answer_rows(
                path, required=GOLD_FIELDS, with_time=False, label_delimiter=label_delimiter
            )

        report.schema_version = labels.prepare(conn, project, rows(), False)
        first: dict[str, tuple[Any, int]] = {}
        for row in rows():
            report.rows += 1
            if isinstance(row, RejectedRow):
                _raise_rejected(path, row)
            label = labels.check(row)
            if isinstance(label, RejectedRow):
                _raise_rejected(path, label)
            prior = first.setdefault(row.task, (label, row.line))
            if prior[0] != label:
                raise gold_conflict(path, row.task, prior, (label, row.line))
        ids = _item_ids_creating_stubs(conn, project, list(first), str(path), report)
        current = repo.current_gold(conn, project, list(ids.values()))
        drafts = [
            repo.EventDraft(
                type="gold",
                item_id=ids[task],
                labeler_id=None,
                label=label,
                schema_version_id=labels.version(),
                source="import",
            )
            for task, (label, _) in first.items()
            if current.get(ids[task]) != label
        ]
        report.added = repo.append_events(conn, project.name, drafts)
        report.duplicates = len(first) - report.added
        if progress is not None:
            progress(report.rows)
    store.refresh_statistics(("items", "events", "gold"))
    return report
