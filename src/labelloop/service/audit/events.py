"""Portable provenance: export a project's event chain as JSONL, verify such a file without a
database, and import it into a fresh project (same head hash on SQLite and PostgreSQL).

File format (JSONL, UTF-8). Line 1 is a header::

    {"labelloop": "events", "file_format": 1, "project": NAME, "events": N,
     "head_hash": HASH, "current_schema": CONTENT_HASH | null,
     "schema_versions": [{"version", "content_hash", "is_open", "body", "source"}, ...]}

Each following line is one event in chain order: exactly the fields its hash covers plus
``prev_hash`` and ``hash``, and ``hash_format``. Format-2 events carry the portable fields
of :data:`labelloop.core.provenance.PORTABLE_FIELDS` (``label``, ``suggestion`` and
``payload`` as their canonical JSON text); format-1 events carry their stored columns
(database ids), which verify but cannot be imported. The header is not hashed: it says how
many events the file should hold (so removed last lines are named) and carries the schema
bodies an import needs (each checked against its content hash).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelloop.core.provenance import (
    GENESIS,
    PORTABLE_FIELDS,
    LineBreak,
    canonical_json,
    find_line_break,
)
from labelloop.errors import Conflict, InvalidInput, NotFound
from labelloop.schema import schema_from_dict
from labelloop.store import repo
from labelloop.store.engine import Connection, Store
from labelloop.store.items import ensure_items

FILE_KIND = "events"
FILE_FORMAT = 1
_LINE_FIELDS = {*PORTABLE_FIELDS, "prev_hash", "hash"}


@dataclass(frozen=True)
class ExportReport:
    project: str
    events: int
    head_hash: str
    path: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class FileVerifyResult:
    path: str
    project: str
    events: int
    ok: bool
    head_hash: str | None = None
    hash_formats: tuple[int, ...] = ()
    line: int | None = None
    reason: str | None = None
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["hash_formats"] = list(self.hash_formats)
        return out


@dataclass(frozen=True)
class ImportEventsReport:
    project: str
    events: int
    head_hash: str
    items_created: int
    labelers: int
    schema_versions: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# ---------------------------------------------------------------- export


def export_events(store: Store, project_name: str | None, path: Path) -> ExportReport:
    """Write the project's chain to ``path`` (header line, then one event per line).

    The file appears only when complete (written beside it, then renamed into place).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        versions = repo.list_schema_versions(conn, project)
        current = next((v for v in versions if v.id == project.schema_version_id), None)
        header = {
            "labelloop": FILE_KIND,
            "file_format": FILE_FORMAT,
            "project": project.name,
            "events": project.event_seq,
            "head_hash": project.head_hash,
            "current_schema": None if current is None else current.content_hash,
            "schema_versions": [
                {
                    "version": v.version,
                    "content_hash": v.content_hash,
                    "is_open": v.is_open,
                    "body": v.body,
                    "source": v.source,
                }
                for v in versions
            ],
        }
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(canonical_json(header) + "\n")
                for event in repo.iter_chain(conn, project):
                    line = {
                        **event.fields,
                        "hash_format": event.hash_format,
                        "prev_hash": event.prev_hash,
                        "hash": event.hash,
                    }
                    fh.write(canonical_json(line) + "\n")
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return ExportReport(project.name, project.event_seq, project.head_hash, str(path))


# ---------------------------------------------------------------- verify (no database)


def _read_header(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
    except FileNotFoundError:
        raise InvalidInput(f"file not found: {path}") from None
    except OSError as exc:  # a directory, no permission, ...
        raise InvalidInput(
            f"{path}: cannot read the file ({exc.strerror or exc}); expected an events JSONL file"
        ) from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("labelloop") != FILE_KIND:
        raise InvalidInput(
            f"{path}, line 1: not an events file header; expected a JSON object with "
            f'"labelloop": "events" (written by `labelloop events export`)'
        )
    if header.get("file_format") != FILE_FORMAT:
        raise InvalidInput(
            f"{path}, line 1: file_format {header.get('file_format')!r} is not supported; "
            f"expected {FILE_FORMAT}"
        )
    return header


def _event_lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(line number, event or None when the line is not a JSON object), header skipped."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        fh.readline()
        for number, text in enumerate(fh, start=2):
            try:
                event = json.loads(text)
            except ValueError:
                event = None
            yield number, event if isinstance(event, dict) else None


def verify_events_file(path: Path) -> FileVerifyResult:
    """Recompute the hash chain of an exported events file (no database); name the first
    bad line and why (altered, prev_hash, missing, reordered, truncated or format)."""
    path = Path(path)
    header = _read_header(path)
    tail: dict[str, Any] = {"count": 0, "hash": None, "formats": set()}

    def lines() -> Iterator[tuple[int, dict[str, Any] | None]]:
        for number, event in _event_lines(path):
            if event is not None:
                tail["formats"].add(event.get("hash_format"))
            yield number, event
            tail["count"] += 1
            tail["hash"] = None if event is None else event.get("hash")

    found: LineBreak | None = find_line_break(
        lines(), expected_events=header.get("events"), expected_head=header.get("head_hash")
    )
    project = str(header.get("project"))
    formats = tuple(sorted(f for f in tail["formats"] if isinstance(f, int)))
    if found is not None:
        return FileVerifyResult(
            str(path),
            project,
            tail["count"],
            False,
            line=found.line,
            reason=found.reason,
            message=found.message,
            hash_formats=formats,
        )
    return FileVerifyResult(
        str(path), project, tail["count"], True, tail["hash"] or GENESIS, formats
    )


# ---------------------------------------------------------------- import


def _schema_ids(
    conn: Connection, project: repo.Project, header: dict[str, Any], path: Path
) -> dict[tuple[str, str], int]:
    """Record the header's schema versions in the project (each body checked against its
    content hash), the current one last; their ids by (name, version)."""
    records: dict[str, dict[str, Any]] = {}
    names: dict[tuple[str, str], str] = {}
    for i, v in enumerate(header.get("schema_versions") or []):
        where = f"{path}, line 1: schema_versions[{i}]"
        try:
            schema = schema_from_dict(v["body"], source=where)
            record = {
                "version": v["version"],
                "content_hash": v["content_hash"],
                "is_open": bool(v["is_open"]),
                "body": v["body"],
                "source": v.get("source"),
            }
        except (KeyError, TypeError):
            raise InvalidInput(
                f"{where}: expected version, content_hash, is_open and body"
            ) from None
        if (schema.content_hash, schema.version) != (record["content_hash"], record["version"]):
            raise InvalidInput(
                f"{where}: body hashes to {schema.content_hash[:12]} version {schema.version!r}; "
                f"the header says {str(record['content_hash'])[:12]} version "
                f"{record['version']!r}"
            )
        if (schema.name, schema.version) in names:
            raise InvalidInput(f"{where}: schema {schema.name!r} version {schema.version!r} twice")
        names[(schema.name, schema.version)] = record["content_hash"]
        records[record["content_hash"]] = record
    current = header.get("current_schema")
    if current is not None and current not in records:
        raise InvalidInput(f"{path}, line 1: current_schema {current!r} is not listed")
    ids: dict[str, int] = {}
    order = [*records] + ([current] if current is not None else [])
    for digest in order:
        project = repo.get_project(conn, project.name)  # add_schema_version reads its current
        ids[digest], _ = repo.add_schema_version(conn, project, **records[digest])
    return {key: ids[digest] for key, digest in names.items()}


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def import_events(store: Store, path: Path) -> ImportEventsReport:
    """Replay an exported chain into a project without events (created when missing).

    The file must verify and hold format-2 events only. Items the project lacks are created
    as id-only stubs by key, labelers and schema versions as needed; the imported chain's
    head hash equals the file's, or nothing is written.
    """
    path = Path(path)
    checked = verify_events_file(path)
    if not checked.ok:
        raise InvalidInput(f"{path} does not verify: {checked.message}; nothing imported")
    if any(f != 2 for f in checked.hash_formats):
        first = next(n for n, e in _event_lines(path) if e and e.get("hash_format") != 2)
        raise InvalidInput(
            f"{path}, line {first}: hash format 1 (database ids) cannot be imported; "
            "expected format-2 events only"
        )
    header = _read_header(path)
    name = str(header["project"])
    items: set[str] = set()
    labelers: set[tuple[str, str, str]] = set()
    for number, event in _event_lines(path):
        assert event is not None  # verified above
        if set(event) != _LINE_FIELDS:
            raise InvalidInput(
                f"{path}, line {number}: fields {sorted(event)}; expected {sorted(_LINE_FIELDS)}"
            )
        if event["item"] is not None:
            items.add(event["item"])
        if event["labeler"] is not None:
            lab = event["labeler"]
            labelers.add((lab["kind"], lab["name"], lab["version"]))
    with store.write() as conn:
        try:
            project = repo.get_project(conn, name, lock=True)
        except NotFound:
            project = repo.create_project(conn, name)
        if project.event_seq:
            raise Conflict(
                f"project {name!r} already has {project.event_seq} events; expected a project "
                "without events to import a chain into"
            )
        schema_ids = _schema_ids(conn, project, header, path)
        item_ids, created = ensure_items(conn, project, sorted(items), f"events {path.name}")
        labeler_ids = repo.ensure_labelers(conn, project, labelers)
        drafts: list[repo.EventDraft] = []
        for number, event in _event_lines(path):
            assert event is not None
            corrects = None
            if event["corrects"] is not None:
                repo.append_events(conn, name, drafts)
                drafts = []
                corrects = _event_id_by_hash(conn, project, event["corrects"], path, number)
            drafts.append(_draft(event, item_ids, labeler_ids, schema_ids, corrects, path, number))
            if len(drafts) >= 10_000:
                repo.append_events(conn, name, drafts)
                drafts = []
        repo.append_events(conn, name, drafts)
        project = repo.get_project(conn, name)
        if project.head_hash != checked.head_hash:
            raise InvalidInput(
                f"{path}: the imported chain ends in {project.head_hash[:12]}, the file in "
                f"{str(checked.head_hash)[:12]}; nothing imported"
            )
    return ImportEventsReport(
        name, project.event_seq, project.head_hash, created, len(labelers), len(schema_ids)
    )


def _event_id_by_hash(
    conn: Connection, project: repo.Project, digest: str, path: Path, line: int
) -> int:
    found = repo.find_event_id_by_hash(conn, project, digest)
    if found is None:
        raise InvalidInput(
            f"{path}, line {line}: corrects {digest[:12]}, which no earlier event has as hash"
        )
    return found


def _draft(
    event: dict[str, Any],
    item_ids: dict[str, int],
    labeler_ids: dict[tuple[str, str, str], int],
    schema_ids: dict[tuple[str, str], int],
    corrects: int | None,
    path: Path,
    line: int,
) -> repo.EventDraft:
    schema = event["schema"]
    labeler = event["labeler"]
    try:
        label, suggestion, payload = (_load(event[k]) for k in ("label", "suggestion", "payload"))
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{path}, line {line}: label, suggestion and payload must be JSON text or null"
        ) from None
    schema_key = None if schema is None else (schema["name"], schema["version"])
    if schema_key is not None and schema_key not in schema_ids:
        raise InvalidInput(
            f"{path}, line {line}: schema {schema_key[0]!r} version {schema_key[1]!r} is not "
            "in the header's schema_versions"
        )
    return repo.EventDraft(
        type=event["type"],
        item_id=None if event["item"] is None else item_ids[event["item"]],
        labeler_id=None
        if labeler is None
        else labeler_ids[(labeler["kind"], labeler["name"], labeler["version"])],
        label=label,
        schema_version_id=None if schema_key is None else schema_ids[schema_key],
        source=event["source"],
        created_at=event["created_at"],
        time_spent_ms=event["time_spent_ms"],
        suggestion=suggestion,
        calibration_score=event["calibration_score"],
        idempotency_key=event["idempotency_key"],
        corrects_event_id=corrects,
        payload=payload,
        is_calibration=event["type"] == "gold"
        and isinstance(payload, dict)
        and payload.get("from") in ("schema", "calibration"),
    )
