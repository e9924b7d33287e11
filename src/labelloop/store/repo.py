"""Queries and writes over the tables. Functions take a Connection inside the caller's
transaction and return plain records; the service layer decides transaction boundaries."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select, update

from labelloop.core.provenance import (
    EVENT_TYPES,
    GENESIS,
    HASH_FORMAT,
    canonical_json,
    check_event_type,
    event_hash,
)
from labelloop.errors import Conflict, InvalidInput, NotFound
from labelloop.store import tables as t

CHUNK = 5_000  # keys per IN (...) query; below SQLite's variable limit
PG_CHUNK = 50_000  # values per array of a PostgreSQL lookup (one parameter)


def now_iso() -> str:
    """Current UTC time as fixed-width ISO-8601 text (microseconds), the stored form."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    schema_version_id: int | None
    event_seq: int
    head_hash: str


@dataclass(frozen=True)
class SchemaVersion:
    id: int
    version: str
    content_hash: str
    is_open: bool
    body: dict[str, Any]
    source: str | None
    created_at: str


@dataclass(frozen=True)
class EventDraft:
    """An event to append; the store assigns seq, created_at (unless given) and hashes."""

    type: str  # core.provenance.EVENT_TYPES says which need an item and a label
    item_id: int | None  # None: a project-level event
    labeler_id: int | None
    label: Any
    schema_version_id: int | None  # None only for project-level events
    source: str
    created_at: str | None = None
    time_spent_ms: int | None = None
    suggestion: Any = None
    calibration_score: float | None = None
    idempotency_key: str | None = None
    corrects_event_id: int | None = None
    payload: dict[str, Any] | None = None
    is_calibration: bool = field(default=False)


# ---------------------------------------------------------------- projects


def _project(row: Any) -> Project:
    return Project(row.id, row.name, row.schema_version_id, row.event_seq, row.head_hash)


def create_project(conn: Connection, name: str) -> Project:
    name = name.strip()
    if not name:
        raise InvalidInput("project name is empty; expected a non-empty name")
    if conn.execute(select(t.projects.c.id).where(t.projects.c.name == name)).first():
        raise Conflict(f"project {name!r} already exists")
    conn.execute(
        insert(t.projects).values(
            name=name, created_at=now_iso(), event_seq=0, head_hash=GENESIS, schema_version_id=None
        )
    )
    return get_project(conn, name)


def list_projects(conn: Connection) -> list[Project]:
    rows = conn.execute(select(t.projects).order_by(t.projects.c.id)).all()
    return [_project(r) for r in rows]


def get_project(conn: Connection, name: str | None, *, lock: bool = False) -> Project:
    """The named project, or the only one when ``name`` is None."""
    if name is None:
        projects = list_projects(conn)
        if len(projects) == 1:
            name = projects[0].name
        elif not projects:
            raise NotFound("the workspace has no project; create one with `labelloop init NAME`")
        else:
            names = [p.name for p in projects]
            raise InvalidInput(f"the workspace has {len(names)} projects {names}; pass --project")
    query = select(t.projects).where(t.projects.c.name == name)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        names = [p.name for p in list_projects(conn)]
        raise NotFound(f"project {name!r} does not exist; known projects: {names}")
    return _project(row)


# ---------------------------------------------------------------- schema versions


def add_schema_version(
    conn: Connection,
    project: Project,
    *,
    version: str,
    content_hash: str,
    is_open: bool,
    body: dict[str, Any],
    source: str | None,
) -> tuple[int, bool]:
    """Record a schema version (once per content hash) and make it current.

    Returns (schema_version_id, created).
    """
    sv = t.schema_versions
    row = conn.execute(
        select(sv.c.id).where(sv.c.project_id == project.id, sv.c.content_hash == content_hash)
    ).first()
    created = row is None
    if row is None:
        result = conn.execute(
            insert(sv).values(
                project_id=project.id,
                version=version,
                content_hash=content_hash,
                is_open=is_open,
                body=canonical_json(body),
                source=source,
                created_at=now_iso(),
            )
        )
        version_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    else:
        version_id = int(row.id)
    if project.schema_version_id != version_id:
        conn.execute(
            update(t.projects)
            .where(t.projects.c.id == project.id)
            .values(schema_version_id=version_id)
        )
    return version_id, created


def get_schema_version(conn: Connection, version_id: int) -> SchemaVersion:
    row = conn.execute(select(t.schema_versions).where(t.schema_versions.c.id == version_id)).one()
    return SchemaVersion(
        row.id,
        row.version,
        row.content_hash,
        bool(row.is_open),
        json.loads(row.body),
        row.source,
        row.created_at,
    )


def list_schema_versions(conn: Connection, project: Project) -> list[SchemaVersion]:
    sv = t.schema_versions
    ids = conn.execute(
        select(sv.c.id).where(sv.c.project_id == project.id).order_by(sv.c.id)
    ).scalars()
    return [get_schema_version(conn, i) for i in ids]


# ---------------------------------------------------------------- labelers

LABELER_KINDS = t.LABELER_KINDS
PERSON_KINDS = t.PERSON_KINDS


def ensure_labelers(
    conn: Connection, project: Project, identities: Iterable[tuple[str, str, str]]
) -> dict[tuple[str, str, str], int]:
    """Ids of labelers by (kind, name, version), creating the missing ones."""
    wanted = sorted(set(identities))
    lb = t.labelers
    found: dict[tuple[str, str, str], int] = {}
    rows = conn.execute(
        select(lb.c.id, lb.c.kind, lb.c.name, lb.c.version).where(lb.c.project_id == project.id)
    )
    existing = {(r.kind, r.name, r.version): int(r.id) for r in rows}
    missing = [w for w in wanted if w not in existing]
    if missing:
        stamp = now_iso()
        conn.execute(
            insert(lb),
            [
                {"project_id": project.id, "kind": k, "name": n, "version": v, "created_at": stamp}
                for k, n, v in missing
            ],
        )
        rows = conn.execute(
            select(lb.c.id, lb.c.kind, lb.c.name, lb.c.version).where(lb.c.project_id == project.id)
        )
        existing = {(r.kind, r.name, r.version): int(r.id) for r in rows}
    for w in wanted:
        found[w] = existing[w]
    return found


# ---------------------------------------------------------------- items


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _select_in(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    project: Project,
    column: str,
    values: Iterable[Any],
    order_by: str | None = None,
) -> Iterator[Any]:
    """Rows (``columns``) of the project in ``table`` whose ``column`` is one of ``values``.

    Callers want one row per value (``column`` is unique per project, or the first row by
    ``order_by`` counts). SQLite: driver-level ``IN`` queries of :data:`CHUNK` values each
    (SQLAlchemy would render every one of the thousands of bound values per query, which
    the import paths felt). PostgreSQL: :func:`_probe_sql`, the values in one array.
    """
    if conn.dialect.name == "postgresql":
        sql = _probe_sql(table, columns, column, order_by)
        for chunk in _chunks(sorted(set(values)), PG_CHUNK):
            yield from conn.exec_driver_sql(sql, (list(chunk), project.id))
        return
    head = f"SELECT {', '.join(columns)} FROM {table.name} WHERE project_id = ? AND {column} IN "
    tail = f" ORDER BY {order_by}" if order_by else ""
    for chunk in _chunks(sorted(set(values)), CHUNK):
        sql = f"{head}({', '.join('?' for _ in chunk)}){tail}"
        yield from conn.exec_driver_sql(sql, (project.id, *chunk))


def _probe_sql(table: Table, columns: Sequence[str], column: str, order_by: str | None) -> str:
    """PostgreSQL lookup that probes the ``(project_id, column)`` index once per value,
    whatever the planner believes about the table.

    A LATERAL subquery with ``LIMIT 1`` cannot be turned into a join, so it runs once per
    array element as an index probe. An ``IN (...)`` list plans by statistics instead: while
    a bulk import fills a table in one transaction the statistics say it is (nearly) empty,
    and the planner scanned every row of the project per lookup and filtered by the list,
    or (as a prepared generic plan) compared each row with each of the 5,000 parameters;
    the cost of a batch grew with the table (quadratic imports).
    """
    array = "bigint[]" if table.c[column].type.python_type is int else "text[]"
    order = f" ORDER BY {order_by}" if order_by else ""
    return (
        f"SELECT {', '.join(f's.{c}' for c in columns)} FROM unnest(%s::{array}) AS u(v) "
        f"CROSS JOIN LATERAL (SELECT {', '.join(columns)} FROM {table.name} "
        f"WHERE project_id = %s AND {column} = u.v{order} LIMIT 1) AS s"
    )


def find_item_ids(conn: Connection, project: Project, keys: Sequence[str]) -> dict[str, int]:
    """Ids of the items with these keys (missing keys are absent from the result)."""
    return {k: int(i) for k, i in _select_in(conn, t.items, ("key", "id"), project, "key", keys)}


def find_item_hashes(conn: Connection, project: Project, keys: Sequence[str]) -> dict[str, str]:
    """Content hash of the items with these keys (missing keys are absent)."""
    return dict(_select_in(conn, t.items, ("key", "content_hash"), project, "key", keys))


def current_gold(conn: Connection, project: Project, item_ids: Sequence[int]) -> dict[int, Any]:
    """Current gold label (decoded) of these items, where they have one."""
    rows = _select_in(conn, t.gold, ("item_id", "label"), project, "item_id", item_ids)
    return {int(item_id): json.loads(label) for item_id, label in rows}


def find_items_by_content(
    conn: Connection, project: Project, hashes: Sequence[str]
) -> dict[str, tuple[int, str]]:
    """(id, key) of one item per content hash, for hashes already stored."""
    out: dict[str, tuple[int, str]] = {}
    columns = ("content_hash", "id", "key")
    for digest, item_id, key in _select_in(
        conn, t.items, columns, project, "content_hash", hashes, order_by="id"
    ):
        out.setdefault(digest, (int(item_id), key))
    return out


def bulk_insert_sql(conn: Connection, table: str, columns: Sequence[str]) -> str:
    """A prepared INSERT for the driver's executemany (placeholders in its paramstyle)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(mark for _ in columns)})"


def bulk_insert(
    conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert rows (tuples in ``columns`` order) at driver level, skipping SQLAlchemy's
    per-row parameter processing (which cost more than the hashing and the insert itself).

    SQLite: one executemany of a prepared INSERT. PostgreSQL: ``COPY ... FROM STDIN``
    (an executemany there runs the extended protocol per row: 2-4x the time of COPY).
    The caller has decided which rows are new: COPY has no ``ON CONFLICT``, so a row that
    breaks a constraint aborts the transaction, as the INSERT would.
    """
    if conn.dialect.name != "postgresql":
        rows = rows if isinstance(rows, list) else list(rows)
        if rows:
            conn.exec_driver_sql(bulk_insert_sql(conn, table, columns), rows)
        return
    dbapi: Any = conn.connection.dbapi_connection  # psycopg 3 Connection
    with (
        dbapi.cursor() as cur,
        cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def count(conn: Connection, table: Table, project: Project) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(table).where(table.c.project_id == project.id)
        ).scalar_one()
    )


# ---------------------------------------------------------------- events

HASHED_COLUMNS = (
    "project_id",
    "seq",
    "type",
    "item_id",
    "labeler_id",
    "label",
    "schema_version_id",
    "created_at",
    "time_spent_ms",
    "suggestion",
    "calibration_score",
    "source",
    "idempotency_key",
    "corrects_event_id",
    "payload",
)
"""What a hash-format-1 event's hash covers: every stored column of the first schema except
id, prev_hash and hash (database ids included). New events hash their portable form
(:func:`portable_fields`, core.provenance.PORTABLE_FIELDS)."""

EVENT_COLUMNS = (*HASHED_COLUMNS, "prev_hash", "hash", "hash_format")

_VALID_SHAPES = frozenset(
    (name, has_item, has_label)
    for name, spec in EVENT_TYPES.items()
    for has_item in (False, True)
    for has_label in (False, True)
    if spec.problem(has_item=has_item, has_label=has_label) is None
)


def hashed_fields(row: Any) -> dict[str, Any]:
    """The hashed fields of a stored format-1 event row (mapping or Row)."""
    mapping = row._mapping if hasattr(row, "_mapping") else row
    return {name: mapping[name] for name in HASHED_COLUMNS}


@dataclass(frozen=True)
class ChainKeys:
    """Portable keys of a project's ids, resolved once per batch of events (no per-event
    queries): labeler and schema version ids of the whole project, item keys and event
    hashes of the ids asked for (item keys also of ids asked for earlier in the
    transaction)."""

    project: str
    labelers: dict[int, dict[str, str]]
    schemas: dict[int, dict[str, str]]
    items: dict[int, str]
    events: dict[int, str]


def chain_keys(
    conn: Connection,
    project: Project,
    item_ids: Iterable[int],
    event_ids: Iterable[int],
    item_keys: Mapping[int, str] | None = None,
) -> ChainKeys:
    """Portable keys for events about ``item_ids`` correcting ``event_ids``; ``item_keys``
    are keys of item ids the caller already holds (not read again)."""
    lb, sv = t.labelers, t.schema_versions
    labelers = {
        int(r.id): {"kind": r.kind, "name": r.name, "version": r.version}
        for r in conn.execute(
            select(lb.c.id, lb.c.kind, lb.c.name, lb.c.version).where(lb.c.project_id == project.id)
        )
    }
    schemas = {
        int(r.id): {"name": json.loads(r.body).get("name"), "version": r.version}
        for r in conn.execute(
            select(sv.c.id, sv.c.version, sv.c.body).where(sv.c.project_id == project.id)
        )
    }
    items = _item_keys(conn, project, item_ids, item_keys)
    events = {
        int(i): h for i, h in _select_in(conn, t.events, ("id", "hash"), project, "id", event_ids)
    }
    return ChainKeys(project.name, labelers, schemas, items, events)


_ITEM_KEYS = "labelloop.item_keys"
ITEM_KEY_MEMO = 250_000
"""Most item keys remembered per transaction (about 30-60 MB)."""


def _item_keys(
    conn: Connection,
    project: Project,
    item_ids: Iterable[int],
    given: Mapping[int, str] | None = None,
) -> dict[int, str]:
    """Keys of these item ids (and of others looked up earlier in the same transaction).

    An import appends events about the same items batch after batch; items are never
    deleted and their keys never change, so what one batch looked up serves the next
    instead of being queried again. The memo lives on the connection and is dropped when
    another transaction (or project) uses it. ``given``: keys of ids the caller already
    holds (an import that just looked its items up or inserted them); only ids among
    ``item_ids`` are taken from it, and only the rest are read.
    """
    txn = conn.get_transaction()
    memo = conn.info.get(_ITEM_KEYS)
    if memo is None or memo[0] is not txn or memo[1] != project.id:
        memo = (txn, project.id, {})
        conn.info[_ITEM_KEYS] = memo
    known: dict[int, str] = memo[2]
    wanted = set(item_ids)
    missing = sorted(i for i in wanted if i not in known)
    if len(known) + len(missing) > ITEM_KEY_MEMO:  # bounded memory: start afresh
        known.clear()
        missing = sorted(wanted)
    if given and missing:
        still = []
        for i in missing:
            key = given.get(i)
            if key is None:
                still.append(i)
            else:
                known[i] = key
        missing = still
    for chunk in _chunks(missing):
        lo, hi = chunk[0], chunk[-1]
        rows: Iterable[Any]
        if hi - lo < 2 * len(chunk):  # dense (e.g. items inserted by this import): a range
            rows = conn.execute(
                select(t.items.c.id, t.items.c.key).where(
                    t.items.c.project_id == project.id, t.items.c.id.between(lo, hi)
                )
            )
        else:
            rows = _select_in(conn, t.items, ("id", "key"), project, "id", chunk)
        known.update((int(i), k) for i, k in rows)
    return known


def portable_fields(
    keys: ChainKeys,
    *,
    seq: int,
    type: str,
    item_key: str | None,
    labeler_id: int | None,
    label: str | None,
    schema_version_id: int | None,
    created_at: str,
    time_spent_ms: int | None,
    suggestion: str | None,
    calibration_score: float | None,
    source: str,
    idempotency_key: str | None,
    corrects_event_id: int | None,
    payload: str | None,
) -> dict[str, Any]:
    """The hashed fields of a format-2 event (core.provenance.PORTABLE_FIELDS) from its
    stored columns and its item's key; ``label``, ``suggestion`` and ``payload`` stay their
    canonical JSON text.

    Raises InvalidInput naming an id that is not the project's.
    """
    try:
        return {
            "hash_format": HASH_FORMAT,
            "project": keys.project,
            "seq": seq,
            "type": type,
            "item": item_key,
            "labeler": None if labeler_id is None else keys.labelers[labeler_id],
            "label": label,
            "schema": None if schema_version_id is None else keys.schemas[schema_version_id],
            "created_at": created_at,
            "time_spent_ms": time_spent_ms,
            "suggestion": suggestion,
            "calibration_score": calibration_score,
            "source": source,
            "idempotency_key": idempotency_key,
            "corrects": None if corrects_event_id is None else keys.events[corrects_event_id],
            "payload": payload,
        }
    except KeyError as exc:
        raise InvalidInput(
            f"event {seq} of project {keys.project!r} refers to id {exc.args[0]} that the "
            "project does not hold (labeler, schema version or corrected event)"
        ) from None


def existing_idempotency_keys(conn: Connection, project: Project, keys: Sequence[str]) -> set[str]:
    rows = _select_in(conn, t.events, ("idempotency_key",), project, "idempotency_key", keys)
    return {key for (key,) in rows}


def _upsert(conn: Connection, table: Table, rows: list[dict[str, Any]], key: str) -> None:
    """Insert rows (one per ``key``, all with the same keys), or update every other column
    where ``key`` is stored.

    SQLite: one executemany of ``INSERT ... ON CONFLICT DO UPDATE``. PostgreSQL: COPY into a
    temporary table and one set-based ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``.
    (SQLAlchemy's multi-row VALUES cost about 0.35 ms a row here: 70 s for 200k gold rows.)
    """
    if not rows:
        return
    columns = tuple(rows[0])
    names = ", ".join(columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    on_conflict = f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    values = [tuple(row[c] for c in columns) for row in rows]
    if conn.dialect.name != "postgresql":
        conn.exec_driver_sql(f"{bulk_insert_sql(conn, table.name, columns)} {on_conflict}", values)
        return
    staging = f"upsert_{table.name}"
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {staging} (LIKE {table.name}) ON COMMIT DROP")
    bulk_insert(conn, staging, columns, values)
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {staging} {on_conflict}"
    )
    conn.exec_driver_sql(f"DROP TABLE {staging}")


def _check_drafts(drafts: Sequence[EventDraft]) -> None:
    for d in drafts:
        if (d.type, d.item_id is not None, d.label is not None) not in _VALID_SHAPES:
            problem = check_event_type(
                d.type, has_item=d.item_id is not None, has_label=d.label is not None
            )
            raise InvalidInput(str(problem))
        if d.item_id is not None and d.schema_version_id is None:
            raise InvalidInput(
                f"a {d.type!r} event about an item needs the schema version it was made under; "
                "saw none"
            )


def append_events(
    conn: Connection,
    project_name: str,
    drafts: Sequence[EventDraft],
    *,
    keys_checked: bool = False,
    item_keys: Mapping[int, str] | None = None,
) -> int:
    """Append events to the project's hash chain; returns how many were appended.

    Drafts whose idempotency key is already stored (or repeated within ``drafts``) are
    skipped, so retries never duplicate a label. ``keys_checked``: the caller has just
    dropped drafts whose key is stored (:func:`existing_idempotency_keys`, in this
    transaction), so they are not looked up again (repeats within ``drafts`` are still
    skipped). ``item_keys``: keys of item ids the caller already holds (not read again;
    a wrong key would be hashed as given). A draft whose type does not fit its item
    and label (core.provenance.EVENT_TYPES) is an InvalidInput and nothing is appended.
    New events hash their portable form (hash format 2); item keys, labelers, schema
    versions and corrected events are resolved once for all drafts. The caller's transaction
    must be a write transaction: SQLite's ``BEGIN IMMEDIATE`` or the project row lock on
    PostgreSQL makes the chain head read-modify-write safe under concurrency.
    """
    _check_drafts(drafts)
    project = get_project(conn, project_name, lock=True)
    idem = [d.idempotency_key for d in drafts if d.idempotency_key is not None]
    if idem:  # retries and repeats are skipped before anything is resolved for them
        seen = set() if keys_checked else existing_idempotency_keys(conn, project, idem)
        kept = []
        for d in drafts:
            if d.idempotency_key is not None:
                if d.idempotency_key in seen:
                    continue
                seen.add(d.idempotency_key)
            kept.append(d)
        drafts = kept
    if not drafts:
        return 0
    keys = chain_keys(
        conn,
        project,
        {d.item_id for d in drafts if d.item_id is not None},
        {d.corrects_event_id for d in drafts if d.corrects_event_id is not None},
        item_keys,
    )
    seq = project.event_seq
    prev = project.head_hash
    stamp = now_iso()
    rows: list[tuple[Any, ...]] = []
    gold_rows: list[dict[str, Any]] = []
    state_rows: list[dict[str, Any]] = []
    for d in drafts:
        seq += 1
        label = None if d.label is None else canonical_json(d.label)
        suggestion = None if d.suggestion is None else canonical_json(d.suggestion)
        payload = None if d.payload is None else canonical_json(d.payload)
        created_at = d.created_at or stamp
        item_key = None if d.item_id is None else keys.items.get(d.item_id)
        if item_key is None and d.item_id is not None:
            raise InvalidInput(f"item id {d.item_id} is not an item of project {project.name!r}")
        digest = event_hash(
            portable_fields(
                keys,
                seq=seq,
                type=d.type,
                item_key=item_key,
                labeler_id=d.labeler_id,
                label=label,
                schema_version_id=d.schema_version_id,
                created_at=created_at,
                time_spent_ms=d.time_spent_ms,
                suggestion=suggestion,
                calibration_score=d.calibration_score,
                source=d.source,
                idempotency_key=d.idempotency_key,
                corrects_event_id=d.corrects_event_id,
                payload=payload,
            ),
            prev,
        )
        rows.append(
            (
                project.id,
                seq,
                d.type,
                d.item_id,
                d.labeler_id,
                label,
                d.schema_version_id,
                created_at,
                d.time_spent_ms,
                suggestion,
                d.calibration_score,
                d.source,
                d.idempotency_key,
                d.corrects_event_id,
                payload,
                prev,
                digest,
                HASH_FORMAT,
            )
        )
        prev = digest
        if d.type == "gold":
            gold_rows.append(
                {
                    "item_id": d.item_id,
                    "project_id": project.id,
                    "label": label,
                    "is_calibration": d.is_calibration,
                    "seq": seq,
                }
            )
        elif d.type == "adjudication":
            confidence = (d.payload or {}).get("confidence")
            state_rows.append(
                {
                    "item_id": d.item_id,
                    "project_id": project.id,
                    "label": label,
                    "confidence": confidence,
                    "seq": seq,
                }
            )
    if not rows:
        return 0
    for chunk in _chunks(rows, 10_000):
        bulk_insert(conn, "events", EVENT_COLUMNS, chunk)
    from labelloop.store.checkpoints import extend_tree  # it builds on this module

    extend_tree(conn, project.id, project.event_seq, [r[16] for r in rows])
    conn.execute(
        update(t.projects)
        .where(t.projects.c.id == project.id)
        .values(event_seq=seq, head_hash=prev)
    )
    close_batch_items(conn, project, [(r[2], r[3], r[4]) for r in rows])
    for derived, table in ((gold_rows, t.gold), (state_rows, t.item_state)):
        if derived:
            ids = _event_ids_by_seq(conn, project, [r["seq"] for r in derived])
            latest: dict[int, dict[str, Any]] = {}
            for r in derived:
                r["event_id"] = ids[r.pop("seq")]
                latest[r["item_id"]] = r
            _upsert(conn, table, list(latest.values()), "item_id")
    return len(rows)


def close_batch_items(
    conn: Connection, project: Project, rows: Sequence[tuple[str, int | None, int | None]]
) -> int:
    """Mark queued / in-flight batch items done when appended events label them.

    An item's work is done when it gets a gold label or an answer (or correction) of a
    person (:data:`tables.PERSON_KINDS`), unless adaptive overlap still waits for more
    people (its ``item_work`` is open); model, LLM, rule and aggregate events leave it
    queued; project-level events have no item. ``rows`` are (type, item_id, labeler_id) of
    the appended events. Returns how many batch items were closed.
    """
    bi = t.batch_items
    open_work = conn.execute(
        select(bi.c.id)
        .where(bi.c.project_id == project.id, bi.c.status.in_(t.OPEN_BATCH_ITEM_STATUSES))
        .limit(1)
    ).first()
    if open_work is None:
        return 0
    items = {item for kind, item, _ in rows if kind == "gold" and item is not None}
    answered = [
        (item, labeler)
        for kind, item, labeler in rows
        if kind in ("answer", "correction") and item is not None and labeler is not None
    ]
    if answered:
        people = set(
            conn.execute(
                select(t.labelers.c.id).where(
                    t.labelers.c.project_id == project.id,
                    t.labelers.c.kind.in_(t.PERSON_KINDS),
                )
            ).scalars()
        )
        items.update(item for item, labeler in answered if labeler in people)
    # items under adaptive overlap stay open until enough people answered (item_work)
    items -= _items_in_overlap(conn, project, items)
    closed = 0
    for chunk in _chunks(sorted(items)):
        closed += conn.execute(
            update(bi)
            .where(
                bi.c.project_id == project.id,
                bi.c.status.in_(t.OPEN_BATCH_ITEM_STATUSES),
                bi.c.item_id.in_(chunk),
            )
            .values(status="done")
        ).rowcount
    return closed


def _items_in_overlap(conn: Connection, project: Project, items: set[int]) -> set[int]:
    w = t.item_work
    found: set[int] = set()
    for chunk in _chunks(sorted(items)):
        found.update(
            int(i)
            for i in conn.execute(
                select(w.c.item_id).where(
                    w.c.project_id == project.id, w.c.status == "open", w.c.item_id.in_(chunk)
                )
            ).scalars()
        )
    return found


def _event_ids_by_seq(conn: Connection, project: Project, seqs: Sequence[int]) -> dict[int, int]:
    ev = t.events
    lo, hi = min(seqs), max(seqs)
    rows = conn.execute(
        select(ev.c.seq, ev.c.id).where(
            ev.c.project_id == project.id, ev.c.seq >= lo, ev.c.seq <= hi
        )
    )
    return {int(r.seq): int(r.id) for r in rows}


def iter_events(conn: Connection, project: Project, batch: int = 10_000) -> Iterator[Any]:
    """All events of a project in chain order, streamed in batches by seq (stored rows;
    project-level events have no item_id; :func:`iter_chain` gives their hashed fields)."""
    ev = t.events
    after = 0
    while True:
        rows = conn.execute(
            select(ev)
            .where(ev.c.project_id == project.id, ev.c.seq > after)
            .order_by(ev.c.seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = int(rows[-1].seq)


@dataclass(frozen=True)
class ChainEvent:
    """One stored event as the chain sees it: ``fields`` is what its hash covers (format 1:
    the stored columns; format 2: the portable form)."""

    id: int
    seq: int
    hash_format: int
    fields: dict[str, Any]
    prev_hash: str
    hash: str


def iter_chain(conn: Connection, project: Project, batch: int = 10_000) -> Iterator[ChainEvent]:
    """The project's events in chain order with their hashed fields, streamed in batches;
    item keys and corrected events' hashes come with each batch (joins), labelers and schema
    versions are read once."""
    ev, it = t.events, t.items
    corrected = ev.alias("corrected")
    base = chain_keys(conn, project, (), ())
    query = (
        select(ev, it.c.key.label("item_key"), corrected.c.hash.label("corrects_hash"))
        .select_from(
            ev.outerjoin(it, it.c.id == ev.c.item_id).outerjoin(
                corrected, corrected.c.id == ev.c.corrects_event_id
            )
        )
        .order_by(ev.c.seq)
        .limit(batch)
    )
    after = 0
    while True:
        rows = conn.execute(query.where(ev.c.project_id == project.id, ev.c.seq > after)).all()
        if not rows:
            return
        keys = replace(
            base, events={r.corrects_event_id: r.corrects_hash for r in rows if r.corrects_hash}
        )
        for r in rows:
            if r.hash_format == 1:
                fields = hashed_fields(r)
            else:
                fields = portable_fields(
                    keys,
                    seq=r.seq,
                    type=r.type,
                    item_key=r.item_key,
                    labeler_id=r.labeler_id,
                    label=r.label,
                    schema_version_id=r.schema_version_id,
                    created_at=r.created_at,
                    time_spent_ms=r.time_spent_ms,
                    suggestion=r.suggestion,
                    calibration_score=r.calibration_score,
                    source=r.source,
                    idempotency_key=r.idempotency_key,
                    corrects_event_id=r.corrects_event_id,
                    payload=r.payload,
                )
            yield ChainEvent(int(r.id), int(r.seq), int(r.hash_format), fields, r.prev_hash, r.hash)
        after = int(rows[-1].seq)


def find_event_id_by_hash(conn: Connection, project: Project, digest: str) -> int | None:
    """Id of the project's event whose hash is ``digest``, or None."""
    ev = t.events
    found = conn.execute(
        select(ev.c.id).where(ev.c.project_id == project.id, ev.c.hash == digest)
    ).scalar()
    return None if found is None else int(found)
