"""Portable provenance (hash format 2), format-1 chains, export / verify / import of event
files, and project-level events, on the selected backend."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event, func, insert, select, text, update

from labelloop.core.provenance import event_hash
from labelloop.errors import Conflict, InvalidInput
from labelloop.service.adjudicate.adjudicate import adjudicate
from labelloop.service.audit.events import export_events, import_events, verify_events_file
from labelloop.service.project.schemas import apply_schema_file
from labelloop.service.project.status import project_status, verify_chain
from labelloop.service.source.imports import import_answers, import_gold
from labelloop.store import repo
from labelloop.store import tables as t
from labelloop.store.engine import Store
from labelloop.store.items import NewItem, insert_items

LEGACY = Path(__file__).resolve().parents[1] / "data" / "provenance_v1" / "legacy_0002.sql"
LEGACY_HEAD = "7ad662dd9b2dabbbe84367bb5031b38527b49e0aba7b7e6cc4225500cb1a38d3"

SCHEMA = """\
name: spam
version: "{version}"
task: single_label
inputs:
  - name: text
    type: text
    required: true
labels:
  - name: spam
    description: Unsolicited or fraudulent.
  - name: ham
    description: Anything else.
instructions: Label each message.
examples:
  - input: {{text: "WIN a FREE prize, reply YES"}}
    label: spam
    rationale: Prize bait.
  - input: {{text: "see you at {version}"}}
    label: ham
    rationale: Personal.
"""


def schema_file(folder: Path, version: str = "1.0") -> Path:
    path = folder / f"schema_{version}.yaml"
    path.write_text(SCHEMA.format(version=version), encoding="utf-8")
    return path


def answers_file(folder: Path, rows: list[tuple[str, str, str]], name: str = "a.csv") -> Path:
    path = folder / name
    path.write_text(
        "worker,task,label,time\n" + "".join(f"{w},{t_},{lab},12.5\n" for w, t_, lab in rows)
    )
    return path


ANSWERS = [
    ("ann", "t1", "spam"),
    ("bob", "t1", "spam"),
    ("cat", "t1", "ham"),
    ("ann", "t2", "ham"),
    ("bob", "t2", "ham"),
    ("ann", "t3", "spam"),
]


def build_project(store: Store, folder: Path, name: str | None = None) -> None:
    """Every kind of event: schema_applied, calibration gold, answers, gold, adjudication, a
    correction pointing at an earlier event, a suggestion and calibration score, an alert."""
    apply_schema_file(store, name, schema_file(folder))
    import_answers(store, name, answers_file(folder, ANSWERS))
    gold = folder / "gold.csv"
    gold.write_text("task,label\nt1,spam\n")
    import_gold(store, name, gold)
    adjudicate(store, name, method="majority_vote")
    _correction_and_alert(store, name)


def sqlite_store(path: Path) -> Store:
    store = Store(f"sqlite:///{path}")
    store.migrate()
    with store.write() as conn:
        repo.create_project(conn, "test")
    return store


def head(store: Store, name: str | None = None) -> tuple[int, str]:
    with store.read() as conn:
        project = repo.get_project(conn, name)
    return project.event_seq, project.head_hash


# ---------------------------------------------------------------- format 1


@pytest.mark.sqlite_only
def test_a_format_1_database_written_by_the_old_code_migrates_and_still_verifies(tmp_path):
    db = tmp_path / "legacy.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(LEGACY.read_text())
    store = Store(f"sqlite:///{db}")
    assert not store.is_migrated()
    store.migrate()
    result = verify_chain(store, None)
    assert (result.ok, result.events) == (True, 15)
    assert head(store) == (15, LEGACY_HEAD)
    for sql in ("UPDATE events SET source = 'api'", "DELETE FROM events"):
        with pytest.raises(Exception, match="append-only"), store.write() as conn:
            conn.execute(text(sql))  # the triggers outlive the migration
    # new events (format 2) continue the old chain: a mixed chain verifies
    import_answers(
        store, None, answers_file(tmp_path, [("dan", "t2", "spam"), ("dan", "t9", "ham")])
    )
    with store.read() as conn:
        formats = conn.execute(select(t.events.c.hash_format).order_by(t.events.c.seq)).scalars()
        assert list(formats) == [1] * 15 + [2, 2]
        prev = conn.execute(select(t.events.c.prev_hash).where(t.events.c.seq == 16)).scalar()
    assert prev == LEGACY_HEAD
    assert verify_chain(store, None).ok
    # exported, the mixed chain verifies without the database, but cannot be imported
    path = tmp_path / "legacy.jsonl"
    export_events(store, None, path)
    checked = verify_events_file(path)
    assert (checked.ok, checked.events, checked.hash_formats) == (True, 17, (1, 2))
    fresh = sqlite_store(tmp_path / "fresh.db")
    with pytest.raises(InvalidInput, match=r"line 2: hash format 1 .* cannot be imported"):
        import_events(fresh, path)
    store.dispose()
    fresh.dispose()


def append_format_1(
    conn, project: repo.Project, drafts: list[repo.EventDraft], *, migrated: bool = True
) -> None:
    """Append events exactly as the code before hash format 2 did (commit fad02eb): the hash
    covers the stored columns, database ids included, and names no format (``migrated``:
    the hash_format column exists and says 1)."""
    seq, prev = project.event_seq, project.head_hash
    for d in drafts:
        seq += 1
        row = {
            "project_id": project.id,
            "seq": seq,
            "type": d.type,
            "item_id": d.item_id,
            "labeler_id": d.labeler_id,
            "label": json.dumps(d.label),
            "schema_version_id": d.schema_version_id,
            "created_at": "2026-11-30T10:00:00.000000Z",
            "time_spent_ms": d.time_spent_ms,
            "suggestion": None,
            "calibration_score": None,
            "source": d.source,
            "idempotency_key": None,
            "corrects_event_id": None,
            "payload": None,
        }
        digest = event_hash(row, prev)
        extra = {"hash_format": 1} if migrated else {}
        conn.execute(insert(t.events).values(**row, prev_hash=prev, hash=digest, **extra))
        prev = digest
    conn.execute(
        update(t.projects)
        .where(t.projects.c.id == project.id)
        .values(event_seq=seq, head_hash=prev)
    )


def test_format_1_rows_then_format_2_rows_verify_and_a_changed_format_1_row_is_named(
    store, tmp_path, backend
):
    apply_schema_file(store, None, schema_file(tmp_path))  # 3 format-2 events
    import_answers(store, None, answers_file(tmp_path, ANSWERS[:2]))  # 2 more
    with store.write() as conn:
        project = repo.get_project(conn, None, lock=True)
        ids = repo.find_item_ids(conn, project, ["t1"])
        ann = repo.ensure_labelers(conn, project, [("human", "ann", "1")])[("human", "ann", "1")]
        drafts = [
            repo.EventDraft("answer", ids["t1"], ann, lab, project.schema_version_id, "import")
            for lab in ("spam", "ham", "spam")
        ]
        append_format_1(conn, project, drafts)  # seq 6..8, format 1
    import_answers(store, None, answers_file(tmp_path, [("cat", "t1", "ham")], "b.csv"))
    result = verify_chain(store, None)
    assert (result.ok, result.events) == (True, 9)
    with store.write() as conn:
        conn.execute(
            text(
                "DROP TRIGGER events_no_update ON events"
                if backend == "postgres"
                else "DROP TRIGGER events_no_update"
            )
        )
        conn.execute(text("UPDATE events SET label = '\"ham\"' WHERE seq = 8"))
    broken = verify_chain(store, None)
    assert (broken.ok, broken.broken_seq) == (False, 8)
    assert "altered" in broken.reason


def test_migration_0003_keeps_format_1_rows_verifying_and_the_triggers(database_url, tmp_path):
    from alembic import command
    from alembic.config import Config

    from labelloop.store.engine import MIGRATIONS

    store = Store(database_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.write() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    with store.write() as conn:
        project = repo.create_project(conn, "old")
        version_id, _ = repo.add_schema_version(
            conn,
            project,
            version="open-1",
            content_hash="c" * 64,
            is_open=True,
            body={"name": "open", "version": "open-1"},
            source=None,
        )
        project = repo.get_project(conn, "old")
        insert_items(conn, project, [NewItem(k, k, k * 64, {}, {}, None, None) for k in "ab"])
        ids = repo.find_item_ids(conn, project, ["a", "b"])
        ann = repo.ensure_labelers(conn, project, [("human", "ann", "1")])[("human", "ann", "1")]
        drafts = [repo.EventDraft("answer", ids[k], ann, "x", version_id, "import") for k in "abab"]
        append_format_1(conn, project, drafts, migrated=False)
    store.migrate()
    assert store.is_migrated()
    result = verify_chain(store, "old")
    assert (result.ok, result.events) == (True, 4)
    with store.read() as conn:
        assert set(conn.execute(select(t.events.c.hash_format)).scalars()) == {1}
    for sql in ("UPDATE events SET source = 'api'", "DELETE FROM events"):
        with pytest.raises(Exception, match="append-only"), store.write() as conn:
            conn.execute(text(sql))
    store.dispose()


# ---------------------------------------------------------------- format 2: portable


def test_export_then_import_reproduces_the_chain_on_this_backend(store, tmp_path):
    # the source project lives in SQLite, its ids shifted by another project's rows
    source = Store(f"sqlite:///{tmp_path / 'source.db'}")
    source.migrate()
    with source.write() as conn:
        repo.create_project(conn, "other")
    apply_schema_file(source, "other", schema_file(tmp_path, "9.9"))
    import_answers(source, "other", answers_file(tmp_path, [("zed", "q1", "ham")], "o.csv"))
    with source.write() as conn:
        repo.create_project(conn, "test")
    src = tmp_path / "src"
    src.mkdir()
    build_project(source, src, "test")
    exported = tmp_path / "chain.jsonl"
    report = export_events(source, "test", exported)
    n, digest = head(source, "test")
    assert (report.events, report.head_hash) == (n, digest) and n == 15
    lines = exported.read_text().splitlines()
    assert len(lines) == 1 + n
    types = [json.loads(x)["type"] for x in lines[1:]]
    assert types[0] == "schema_applied" and types[-2:] == ["correction", "alert"]
    correction = json.loads(lines[-2])
    assert correction["corrects"] == json.loads(lines[4])["hash"]  # by hash, not id
    assert correction["labeler"] == {"kind": "human", "name": "ann", "version": "1"}
    assert json.loads(lines[-1])["item"] is None

    imported = import_events(store, exported)
    assert (imported.events, imported.head_hash) == (n, digest)
    assert head(store) == (n, digest)
    assert verify_chain(store, None).ok
    # the same file again, byte for byte, from the other database
    again = tmp_path / "again.jsonl"
    export_events(store, "test", again)
    assert again.read_bytes() == exported.read_bytes()
    # derived state is rebuilt: gold (2 calibration + 1), current labels, labelers
    want, got = project_status(source, "test"), project_status(store, "test")
    for key in ("answers", "gold", "labelers", "events", "stages", "schema"):
        assert got[key] == want[key], key
    with pytest.raises(Conflict, match="already has 15 events"):
        import_events(store, exported)
    source.dispose()


def _correction_and_alert(store: Store, name: str | None) -> None:
    with store.write() as conn:
        project = repo.get_project(conn, name, lock=True)
        ev = t.events
        first = conn.execute(
            select(ev.c.id, ev.c.item_id, ev.c.labeler_id, ev.c.schema_version_id)
            .where(ev.c.project_id == project.id, ev.c.type == "answer")
            .order_by(ev.c.seq)
            .limit(1)
        ).one()
        repo.append_events(
            conn,
            project.name,
            [
                repo.EventDraft(
                    type="correction",
                    item_id=first.item_id,
                    labeler_id=first.labeler_id,
                    label="ham",
                    schema_version_id=first.schema_version_id,
                    source="api",
                    time_spent_ms=4200,
                    suggestion={"label": "spam", "confidence": 0.75},
                    calibration_score=0.875,
                    idempotency_key="fix-1",
                    corrects_event_id=first.id,
                    payload={"why": "misclick"},
                ),
                repo.EventDraft(
                    type="alert",
                    item_id=None,
                    labeler_id=first.labeler_id,
                    label=None,
                    schema_version_id=None,
                    source="api",
                    payload={"alert": "agreement dropped", "kappa": 0.31},
                ),
            ],
        )


def test_the_hash_covers_item_keys_not_ids(store, tmp_path):
    import_answers(store, None, answers_file(tmp_path, ANSWERS))
    assert verify_chain(store, None).ok
    with store.write() as conn:  # items are not append-only; a key changed behind the back
        conn.execute(update(t.items).where(t.items.c.key == "t2").values(key="t2-renamed"))
        seq = conn.execute(
            select(func.min(t.events.c.seq))
            .join(t.items, t.items.c.id == t.events.c.item_id)
            .where(t.items.c.key == "t2-renamed")
        ).scalar_one()
    broken = verify_chain(store, None)
    assert (broken.ok, broken.broken_seq) == (False, seq)


def test_an_exported_file_names_edits_removals_and_swaps(store, tmp_path):
    build_project(store, tmp_path)
    path = tmp_path / "chain.jsonl"
    export_events(store, None, path)
    lines = path.read_text().splitlines(keepends=True)

    def check(name: str, new_lines: list[str]):
        bad = tmp_path / name
        bad.write_text("".join(new_lines))
        return verify_events_file(bad)

    edited = list(lines)
    edited[5] = edited[5].replace('"created_at":"2', '"created_at":"3', 1)  # one byte
    found = check("edit.jsonl", edited)
    assert (found.ok, found.line, found.reason) == (False, 6, "altered")
    found = check("removed.jsonl", lines[:5] + lines[6:])
    assert (found.line, found.reason) == (6, "missing")
    found = check("swapped.jsonl", [*lines[:5], lines[6], lines[5], *lines[7:]])
    assert (found.line, found.reason) == (6, "reordered")
    found = check("tail.jsonl", lines[:-1])
    assert (found.line, found.reason) == (len(lines), "truncated")
    # nothing of a file that does not verify is imported, not even its project
    fresh = sqlite_store(tmp_path / "fresh.db")
    with fresh.write() as conn:
        conn.execute(update(t.projects).values(name="renamed"))
    with pytest.raises(InvalidInput, match="does not verify: line 6: hash does not match"):
        import_events(fresh, tmp_path / "edit.jsonl")
    with fresh.read() as conn:
        assert [p.name for p in repo.list_projects(conn)] == ["renamed"]
    fresh.dispose()


def test_an_import_checks_the_header_schema_bodies(store, tmp_path):
    build_project(store, tmp_path)
    path = tmp_path / "chain.jsonl"
    export_events(store, None, path)
    lines = path.read_text().splitlines(keepends=True)
    header = json.loads(lines[0])
    header["schema_versions"][0]["body"]["instructions"] = "Anything goes."
    path.write_text(json.dumps(header) + "\n" + "".join(lines[1:]))
    assert verify_events_file(path).ok  # the header is not hashed...
    fresh = sqlite_store(tmp_path / "fresh.db")
    with pytest.raises(InvalidInput, match=r"schema_versions\[0\]: body hashes to"):
        import_events(fresh, path)  # ...but each schema body must match its content hash
    assert head(fresh, "test")[0] == 0
    fresh.dispose()


# ---------------------------------------------------------------- project-level events


@pytest.mark.parametrize(
    ("kind", "item", "label", "message"),
    [
        ("alert", True, None, "project-level event; expected no item"),
        ("release", False, "spam", "carries no label"),
        ("answer", False, "spam", "about one item; expected an item"),
        ("gold", True, None, "needs a label"),
        ("relase", False, None, "event type 'relase' is unknown"),
    ],
)
def test_a_bad_event_shape_is_refused_and_nothing_is_appended(
    store, tmp_path, kind, item, label, message
):
    import_answers(store, None, answers_file(tmp_path, ANSWERS[:1]))
    with store.write() as conn:
        project = repo.get_project(conn, None, lock=True)
        item_id = repo.find_item_ids(conn, project, ["t1"])["t1"] if item else None
        good = repo.EventDraft("flag", None, None, None, None, "api", payload={"n": 1})
        bad = repo.EventDraft(kind, item_id, None, label, project.schema_version_id, "api")
        with pytest.raises(InvalidInput, match=message):
            repo.append_events(conn, project.name, [good, bad])
    assert head(store)[0] == 1


def test_schema_apply_writes_a_schema_applied_event_when_the_current_version_changes(
    store, tmp_path
):
    def applied():
        with store.read() as conn:
            return conn.execute(
                select(t.events.c.item_id, t.events.c.label, t.events.c.payload)
                .where(t.events.c.type == "schema_applied")
                .order_by(t.events.c.seq)
            ).all()

    first = schema_file(tmp_path, "1.0")
    apply_schema_file(store, None, first)
    rows = applied()
    assert len(rows) == 1 and rows[0].item_id is None and rows[0].label is None
    payload = json.loads(rows[0].payload)
    assert (payload["version"], payload["new_version"]) == ("1.0", True)
    apply_schema_file(store, None, first)  # unchanged: nothing new
    assert len(applied()) == 1
    apply_schema_file(store, None, schema_file(tmp_path, "2.0"))
    apply_schema_file(store, None, first)  # back to 1.0: current changes, no new version
    assert [json.loads(r.payload)["new_version"] for r in applied()] == [True, True, False]
    assert verify_chain(store, None).ok


def test_readers_of_item_events_ignore_project_level_events(store, tmp_path):
    from labelloop.errors import NotFound
    from labelloop.store.batches import excluded_items
    from labelloop.store.predictions import resolve_model

    build_project(store, tmp_path)
    before = project_status(store, None)
    with store.write() as conn:
        project = repo.get_project(conn, None, lock=True)
        model = repo.ensure_labelers(conn, project, [("model", "clf", "1")])[("model", "clf", "1")]
        repo.append_events(
            conn,
            project.name,
            [
                repo.EventDraft(
                    "labeler_status", None, model, None, None, "model_auto", payload={"on": 0}
                ),
                repo.EventDraft("release", None, None, None, None, "api", payload={"v": 1}),
            ],
        )
    after = project_status(store, None)
    assert after["events"] == before["events"] + 2
    for key in ("answers", "stages", "gold"):
        assert after[key] == before[key]
    with store.read() as conn:
        project = repo.get_project(conn, None)
        with pytest.raises(NotFound, match="no model predictions"):
            resolve_model(conn, project, None)  # a status event is not an answer
        assert None not in excluded_items(conn, project)["auto_accepted"]
    report = adjudicate(store, None, method="majority_vote")
    assert report.items == 3
    assert verify_chain(store, None).ok


def test_an_item_of_another_project_is_refused(store, tmp_path):
    import_answers(store, None, answers_file(tmp_path, ANSWERS[:1]))
    with store.write() as conn:
        other = repo.create_project(conn, "other")
        insert_items(conn, other, [NewItem("x", "x", "x" * 64, {}, {}, None, None)])
        foreign = repo.find_item_ids(conn, other, ["x"])["x"]
        project = repo.get_project(conn, "test", lock=True)
        draft = repo.EventDraft("gold", foreign, None, "spam", project.schema_version_id, "api")
        with pytest.raises(InvalidInput, match=f"item id {foreign} is not an item of project"):
            repo.append_events(conn, "test", [draft])
    assert head(store, "test")[0] == 1


def test_item_keys_stay_right_when_the_memo_starts_afresh(store, tmp_path, monkeypatch):
    monkeypatch.setattr(repo, "ITEM_KEY_MEMO", 3)
    monkeypatch.setattr(repo, "CHUNK", 2)  # dense runs read as ranges, sparse ones by IN
    rows = [(f"w{i % 3}", f"t{i % 7}", "spam" if i % 2 else "ham") for i in range(30)]
    import_answers(store, None, answers_file(tmp_path, rows))
    with store.write() as conn:
        project = repo.get_project(conn, None, lock=True)
        ids = repo.find_item_ids(conn, project, ["t6", "t0", "t3"])
        lab = repo.ensure_labelers(conn, project, [("human", "zed", "1")])[("human", "zed", "1")]
        for key in ("t6", "t0", "t3", "t0"):
            draft = repo.EventDraft(
                "answer", ids[key], lab, "ham", project.schema_version_id, "api"
            )
            repo.append_events(conn, project.name, [draft])
    assert verify_chain(store, None).ok
    path = tmp_path / "chain.jsonl"
    export_events(store, None, path)
    items = [json.loads(x)["item"] for x in path.read_text().splitlines()[1:]]
    assert items[-4:] == ["t6", "t0", "t3", "t0"]


def test_append_events_takes_item_keys_from_the_caller_and_checked_keys(store, tmp_path):
    """``item_keys``: the keys given are hashed (no read of items by id); ``keys_checked``:
    stored keys are not looked up again, repeats within the drafts are still skipped."""
    import_answers(store, None, answers_file(tmp_path, ANSWERS))
    statements: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    with store.write() as conn:
        project = repo.get_project(conn, None, lock=True)
        ids = repo.find_item_ids(conn, project, ["t1", "t2"])
        lab = repo.ensure_labelers(conn, project, [("human", "zed", "1")])[("human", "zed", "1")]
        drafts = [
            repo.EventDraft(
                "answer", ids[key], lab, "ham", project.schema_version_id, "api",
                idempotency_key=f"zed-{n}",
            )
            for key, n in (("t1", 1), ("t2", 2), ("t2", 2))
        ]  # fmt: skip
        event.listen(conn, "before_cursor_execute", capture)
        try:
            added = repo.append_events(
                conn,
                project.name,
                drafts,
                keys_checked=True,
                item_keys={ids["t1"]: "t1", ids["t2"]: "t2"},
            )
        finally:
            event.remove(conn, "before_cursor_execute", capture)
    assert added == 2  # the repeated key once
    reads = [s for s in statements if s.upper().startswith("SELECT")]
    assert not [s for s in reads if "FROM items" in s], reads
    assert not [s for s in reads if "idempotency_key" in s], reads
    assert verify_chain(store, None).ok  # the given keys are the stored ones
    path = tmp_path / "chain.jsonl"
    export_events(store, None, path)
    items = [json.loads(x)["item"] for x in path.read_text().splitlines()[1:]]
    assert items[-2:] == ["t1", "t2"]


def test_an_answers_import_reads_no_item_key_back(store, tmp_path):
    """The tasks it resolved are the item keys the event hashes need (no read by id)."""
    statements: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        report = import_answers(store, None, answers_file(tmp_path, ANSWERS))
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    assert report.added == len(ANSWERS)
    by_id = [
        s
        for s in statements
        if s.upper().startswith("SELECT")
        and "FROM items" in s
        and ("id BETWEEN" in s or " id IN (" in s or "id = u.v" in s)
    ]
    assert by_id == []
    assert verify_chain(store, None).ok
    path = tmp_path / "chain.jsonl"
    export_events(store, None, path)
    items = [json.loads(x)["item"] for x in path.read_text().splitlines()[1:]]
    assert items == [task for _, task, _ in ANSWERS]
