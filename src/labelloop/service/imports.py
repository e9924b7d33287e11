"""The source stage: import items, existing answers and gold into a project.

Each import is one write transaction: atomic by default (the first invalid row aborts the
whole import and nothing is written), or with ``skip_invalid`` rejected rows go to a file
with their reasons. Memory stays flat: rows stream in batches and deduplication asks the
database (which already holds the earlier batches of the same transaction).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labelloop.core.provenance import canonical_json, content_hash, sha256_hex
from labelloop.errors import InvalidInput
from labelloop.formats.rows import ItemRow, RejectedRow, iter_row_batches
from labelloop.service.schemas import current_schema, ensure_labels
from labelloop.store import repo
from labelloop.store.engine import Store

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
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def stub_hash(key: str) -> str:
    """Content hash of an item known only by its id (created by an answers/gold import)."""
    return content_hash({"stub": key})


def item_row_for(data: dict[str, Any], *, source: str, media: str | None = None) -> dict[str, Any]:
    """Item row for content without an external id (keyed by its content hash)."""
    digest = content_hash({"data": data, "media": media})
    return {
        "key": "sha256:" + digest,
        "external_id": None,
        "content_hash": digest,
        "data": canonical_json(data),
        "meta": "{}",
        "media": media,
        "source": source,
    }


def _raise_rejected(path: Path, rej: RejectedRow) -> None:
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
) -> ImportReport:
    """Import items from JSONL, CSV, Parquet or a Hugging Face `save_to_disk` folder."""
    report = ImportReport("items", str(path))
    rejects = RejectedRows(path, skip_invalid, rejects_path)
    try:
        with store.write() as conn:
            project = repo.get_project(conn, project_name, lock=True)
            found = current_schema(conn, project)
            schema = None if found is None or found[1].is_open else found[1]
            for batch in iter_row_batches(path, format=format, id_field=id_field, batch_size=BATCH):
                valid: list[ItemRow] = []
                for row in batch:
                    if isinstance(row, RejectedRow):
                        rejects.add(row)
                        continue
                    problems = schema.check_item(row.data) if schema is not None else []
                    if problems:
                        name, message = problems[0]
                        rejects.add(RejectedRow(row.line, name, message, canonical_json(row.data)))
                        continue
                    valid.append(row)
                report.rows += len(batch)
                _store_item_batch(conn, project, valid, str(path), report, rejects)
                if progress is not None:
                    progress(report.rows)
    finally:
        report.rejects_file = rejects.close()
    report.rejected = rejects.count
    store.refresh_statistics(("items",))
    return report


def _store_item_batch(
    conn: Any,
    project: repo.Project,
    rows: list[ItemRow],
    source: str,
    report: ImportReport,
    rejects: RejectedRows,
) -> None:
    keyed = [(row.external_id or "sha256:" + row.content_hash, row) for row in rows]
    existing = repo.find_item_hashes(conn, project, [k for k, _ in keyed])
    no_id = [row.content_hash for k, row in keyed if row.external_id is None]
    by_content = repo.find_items_by_content(conn, project, no_id) if no_id else {}
    new: dict[str, dict[str, Any]] = {}
    fills: list[dict[str, Any]] = []
    for key, row in keyed:
        seen_hash = existing.get(key)
        if seen_hash is None and key in new:
            seen_hash = new[key]["content_hash"]
        if seen_hash is not None:
            if seen_hash == row.content_hash:
                report.duplicates += 1
            elif seen_hash == stub_hash(key):
                fills.append(_row_dict(key, row, source))
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
        if row.external_id is None and row.content_hash in by_content:
            report.duplicates += 1
            continue
        new[key] = _row_dict(key, row, source)
    repo.insert_items(conn, project, list(new.values()))
    repo.fill_stub_items(conn, project, fills)
    report.added += len(new)


def _row_dict(key: str, row: ItemRow, source: str) -> dict[str, Any]:
    return {
        "key": key,
        "external_id": row.external_id,
        "content_hash": row.content_hash,
        "data": canonical_json(row.data),
        "meta": canonical_json(row.metadata) if row.metadata else "{}",
        "media": row.media,
        "source": source,
    }


# ---------------------------------------------------------------- answers and gold


@dataclass(frozen=True)
class _CsvRow:
    line: int
    values: dict[str, str]


def _iter_csv(
    path: Path, required: tuple[str, ...], optional: tuple[str, ...]
) -> Iterator[_CsvRow]:
    if not path.is_file():
        raise InvalidInput(f"file not found: {path}")
    try:
        fh = open(path, encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise InvalidInput(f"cannot read file: {exc.strerror}", source=str(path)) from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
        except UnicodeDecodeError:
            raise InvalidInput("not UTF-8 text", source=str(path), line=1) from None
        if header is None:
            raise InvalidInput(
                f"file is empty; expected a header {','.join(required)}", source=str(path)
            )
        header = [h.strip() for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise InvalidInput(
                f"missing column(s) {missing}; header seen {header}, expected "
                f"{','.join(required)}" + (f"[,{','.join(optional)}]" if optional else ""),
                source=str(path),
                line=1,
            )
        wanted = [(c, header.index(c)) for c in (*required, *optional) if c in header]
        line = reader.line_num
        while True:
            start = line + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise InvalidInput("not UTF-8 text", source=str(path), line=start) from None
            except csv.Error as exc:
                raise InvalidInput(f"malformed CSV: {exc}", source=str(path), line=start) from None
            line = reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if len(record) != len(header):
                raise InvalidInput(
                    f"{len(record)} fields, expected {len(header)} as in the header {header}",
                    source=str(path),
                    line=start,
                )
            yield _CsvRow(start, {c: record[i].strip() for c, i in wanted})


def _check_required(path: Path, row: _CsvRow, names: tuple[str, ...]) -> None:
    for name in names:
        if not row.values[name]:
            raise InvalidInput(
                "empty value; expected a non-empty string",
                source=str(path),
                line=row.line,
                field=name,
            )


def _parse_time(path: Path, row: _CsvRow) -> tuple[int | None, str | None]:
    """`time` is seconds spent (a number) or when the answer was given (ISO-8601)."""
    raw = row.values.get("time", "")
    if not raw:
        return None, None
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        if seconds < 0 or seconds != seconds or seconds == float("inf"):
            raise InvalidInput(
                f"time {raw!r} is not a valid duration; expected seconds >= 0",
                source=str(path),
                line=row.line,
                field="time",
            )
        return round(seconds * 1000), None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"time {raw!r} is neither seconds spent nor an ISO-8601 timestamp",
            source=str(path),
            line=row.line,
            field="time",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return None, when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _prepare_labels(
    conn: Any, project: repo.Project, path: Path, required: tuple[str, ...]
) -> tuple[int, str]:
    """First pass: check every label against the schema (or extend the open label set)."""
    labels: set[str] = set()
    first_line: dict[str, int] = {}
    for row in _iter_csv(path, required, ()):
        _check_required(path, row, required)
        label = row.values["label"]
        if label not in labels:
            labels.add(label)
            first_line[label] = row.line
    if not labels:
        raise InvalidInput("file has a header but no rows", source=str(path))
    version_id, schema, unknown = ensure_labels(conn, project, labels)
    if unknown:
        bad = min(unknown, key=lambda x: first_line[x])
        raise InvalidInput(
            f"label {bad!r} is not in schema {schema.version} labels {list(schema.label_space.labels)}",
            source=str(path),
            line=first_line[bad],
            field="label",
        )
    return version_id, schema.version


def _item_ids_creating_stubs(
    conn: Any, project: repo.Project, tasks: list[str], source: str, report: ImportReport
) -> dict[str, int]:
    ids = repo.find_item_ids(conn, project, tasks)
    missing = sorted({t for t in tasks if t not in ids})
    if missing:
        repo.insert_items(
            conn,
            project,
            [
                {
                    "key": t,
                    "external_id": t,
                    "content_hash": stub_hash(t),
                    "data": "{}",
                    "meta": "{}",
                    "media": None,
                    "source": source,
                }
                for t in missing
            ],
        )
        report.new_items += len(missing)
        ids.update(repo.find_item_ids(conn, project, missing))
    return ids


def import_answers(
    store: Store,
    project_name: str | None,
    path: Path,
    *,
    labeler_kind: str = "human",
    progress: Progress | None = None,
) -> ImportReport:
    """Import `worker,task,label[,time]` rows as answer events of human labelers.

    Unknown task ids become items. Each row's idempotency key is derived from its content
    and its occurrence number, so importing the same file again adds nothing while
    repeated identical rows within a file are kept as published.
    """
    report = ImportReport("answers", str(path))
    required = ("worker", "task", "label")
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        version_id, report.schema_version = _prepare_labels(conn, project, path, required)
        seen: Counter[bytes] = Counter()
        batch: list[tuple[_CsvRow, int | None, str | None]] = []

        def flush() -> None:
            tasks = [r.values["task"] for r, _, _ in batch]
            ids = _item_ids_creating_stubs(conn, project, tasks, str(path), report)
            labelers = repo.ensure_labelers(
                conn, project, {(labeler_kind, r.values["worker"], "1") for r, _, _ in batch}
            )
            drafts = []
            for r, spent_ms, answered_at in batch:
                v = r.values
                identity = "\x1f".join((v["worker"], v["task"], v["label"], v.get("time", "")))
                digest = sha256_hex(identity)
                seen[bytes.fromhex(digest[:32])] += 1
                n = seen[bytes.fromhex(digest[:32])]
                drafts.append(
                    repo.EventDraft(
                        type="answer",
                        item_id=ids[v["task"]],
                        labeler_id=labelers[(labeler_kind, v["worker"], "1")],
                        label=v["label"],
                        schema_version_id=version_id,
                        source="import",
                        time_spent_ms=spent_ms,
                        idempotency_key=f"import:answer:{digest}:{n}",
                        payload={"answered_at": answered_at} if answered_at else None,
                    )
                )
            report.added += repo.append_events(conn, project.name, drafts)
            report.rows += len(batch)
            batch.clear()
            if progress is not None:
                progress(report.rows)

        for row in _iter_csv(path, required, ("time",)):
            spent_ms, answered_at = _parse_time(path, row)
            batch.append((row, spent_ms, answered_at))
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()
    report.duplicates = report.rows - report.added
    store.refresh_statistics(("items", "events"))
    return report


def import_gold(
    store: Store,
    project_name: str | None,
    path: Path,
    *,
    progress: Progress | None = None,
) -> ImportReport:
    """Import `task,label` rows as gold events (the latest gold of an item is current)."""
    report = ImportReport("gold", str(path))
    required = ("task", "label")
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        version_id, report.schema_version = _prepare_labels(conn, project, path, required)
        first: dict[str, tuple[str, int]] = {}
        rows = list(_iter_csv(path, required, ()))
        for row in rows:
            task, label = row.values["task"], row.values["label"]
            prior = first.setdefault(task, (label, row.line))
            if prior[0] != label:
                raise InvalidInput(
                    f"task {task!r} has gold {prior[0]!r} (line {prior[1]}) and {label!r}; "
                    "expected one gold label per task",
                    source=str(path),
                    line=row.line,
                    field="label",
                )
        ids = _item_ids_creating_stubs(conn, project, list(first), str(path), report)
        current = repo.current_gold(conn, project, list(ids.values()))
        drafts = [
            repo.EventDraft(
                type="gold",
                item_id=ids[task],
                labeler_id=None,
                label=label,
                schema_version_id=version_id,
                source="import",
            )
            for task, (label, _) in first.items()
            if current.get(ids[task]) != label
        ]
        report.rows = len(rows)
        report.added = repo.append_events(conn, project.name, drafts)
        report.duplicates = len(first) - report.added
        if progress is not None:
            progress(report.rows)
    store.refresh_statistics(("items", "events", "gold"))
    return report
