"""The bulk storage path (many batches, many lookup chunks) on the selected backend:
deduplication, stub filling and atomicity are the same as in one small batch; on
PostgreSQL lookups probe the key index whatever the statistics say, and statistics are
refreshed after a bulk load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text

from labelloop.core.identity import is_stub
from labelloop.errors import InvalidInput
from labelloop.service.project.status import verify_chain
from labelloop.service.source import imports
from labelloop.service.source.imports import import_answers, import_gold, import_items
from labelloop.service.source.telemetry import import_telemetry
from labelloop.store import engine, repo
from labelloop.store import tables as t
from labelloop.store.items import NewItem, insert_items


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 16 rows and lookups of 5 values, so a small file takes the bulk path many
    times over (batches that see the earlier batches' rows in the same transaction)."""
    monkeypatch.setattr(imports, "BATCH", 16)
    monkeypatch.setattr(repo, "CHUNK", 5)
    monkeypatch.setattr(repo, "PG_CHUNK", 5)


def write_items(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def item_rows(store) -> dict[str, tuple[str, dict]]:
    with store.read() as conn:
        rows = conn.execute(select(t.items.c.key, t.items.c.content_hash, t.items.c.data))
        return {key: (digest, json.loads(data)) for key, digest, data in rows}


def test_items_over_many_batches_dedupe_fill_stubs_and_stay_atomic(
    workspace, store, tmp_path, small_batches
):
    answers = tmp_path / "answers.csv"
    answers.write_text("worker,task,label\nw1,t3,x\nw1,t50,y\nw2,t90,x\n")
    assert import_answers(store, None, answers).new_items == 3  # stubs t3, t50, t90

    rows = [{"id": f"t{i}", "text": f"text {i}"} for i in range(60)]
    rows += [{"id": "t10", "text": "text 10"}, {"id": "t59", "text": "text 59"}]  # repeated ids
    rows += [{"text": f"no id {i % 7}"} for i in range(30)]  # 7 contents, 23 repeats
    first = import_items(store, None, write_items(tmp_path / "a.jsonl", rows))
    # 60 ids (t3 and t50 were stubs: filled, not added) + 7 contents; 2 + 23 repeats
    assert (first.rows, first.added, first.filled, first.duplicates) == (92, 65, 2, 25)

    rows = [{"id": f"t{i}", "text": f"text {i}"} for i in range(30, 100)]  # t30..t59 stored
    rows += [{"text": f"no id {i}"} for i in range(10)]  # 0..6 stored, 7..9 new
    second = import_items(store, None, write_items(tmp_path / "b.jsonl", rows))
    # t60..t99 new except the t90 stub (filled); 30 ids and 7 contents already stored
    assert (second.rows, second.added, second.filled, second.duplicates) == (80, 42, 1, 37)

    stored = item_rows(store)
    assert len(stored) == 100 + 10
    for key in ("t3", "t50", "t90"):
        assert not is_stub(key, stored[key][0])
        assert stored[key][1] == {"text": f"text {key[1:]}"}

    # A changed id deep in the last batch aborts the whole file: nothing of it is written.
    rows = [{"id": f"n{i}", "text": f"new {i}"} for i in range(40)]
    rows.append({"id": "t77", "text": "changed"})
    with pytest.raises(InvalidInput, match=r"line 41.*already exists with different content"):
        import_items(store, None, write_items(tmp_path / "c.jsonl", rows))
    assert item_rows(store) == stored


def test_answers_gold_and_telemetry_over_many_batches(workspace, store, tmp_path, small_batches):
    answers = tmp_path / "answers.csv"
    lines = ["worker,task,label"] + [f"w{i % 4},t{i % 25},{'ab'[i % 2]}" for i in range(70)]
    answers.write_text("\n".join(lines + lines[1:4]) + "\n")  # 3 rows repeated as published
    report = import_answers(store, None, answers)
    assert (report.rows, report.added, report.new_items) == (73, 73, 25)
    assert import_answers(store, None, answers).added == 0

    gold = tmp_path / "gold.csv"
    gold.write_text("task,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(0, 40, 2)))
    report = import_gold(store, None, gold)
    assert (report.added, report.new_items) == (20, 7)  # t26, t28, ..., t38 are new stubs
    assert import_gold(store, None, gold).added == 0
    changed = tmp_path / "gold2.csv"
    changed.write_text("task,label\n" + "".join(f"t{i},b\n" for i in range(0, 40, 4)))
    assert import_gold(store, None, changed).added == 10  # t0, t4, ..., t36 become b
    with store.read() as conn:
        project = repo.get_project(conn, None)
        ids = repo.find_item_ids(conn, project, [f"t{i}" for i in range(0, 40, 2)])
        current = repo.current_gold(conn, project, list(ids.values()))
    assert {key: current[ids[key]] for key in ids} == {
        f"t{i}": "b" if i % 4 == 0 else "a" for i in range(0, 40, 2)
    }

    records = [
        {
            "input": {"text": f"message {i % 30}"},
            "prediction": "a",
            "confidence": 0.9,
            "model": "m",
            "model_version": "1",
            "timestamp": "2026-12-01T00:00:00Z",
            "request_id": f"r{i}",
        }
        for i in range(50)
    ]
    path = tmp_path / "tel.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = import_telemetry(store, None, path)
    assert (report.added, report.new_items) == (50, 30)
    assert import_telemetry(store, None, path).added == 0
    with store.read() as conn:
        n_events = conn.execute(select(func.count()).select_from(t.events)).scalar_one()
        n_gold = conn.execute(select(func.count()).select_from(t.gold)).scalar_one()
    assert (n_events, n_gold) == (73 + 20 + 10 + 50, 20)
    assert verify_chain(store, None).ok


def _postgres_only(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL planner and statistics")


def test_lookups_during_a_bulk_load_probe_the_key_index(workspace, store, backend):
    """In one transaction the new rows are invisible to autovacuum, so the table keeps the
    statistics of an empty table; the lookups must still use the (project_id, key) index
    for the keys, not read every row of the project and filter."""
    _postgres_only(backend)
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "items" in statement:
            seen.append((statement, parameters))

    with store.write() as conn:
        project = repo.get_project(conn, None)
        rows = [
            NewItem(f"k{i}", f"k{i}", f"{i:064x}", {"text": f"row {i}"}, {}, None, "test")
            for i in range(20_000)
        ]
        insert_items(conn, project, rows)
        event.listen(store.engine, "before_cursor_execute", capture)
        try:
            keys = [f"k{i}" for i in range(0, 20_000, 50)]
            assert len(repo.find_item_hashes(conn, project, keys)) == len(keys)
        finally:
            event.remove(store.engine, "before_cursor_execute", capture)
        assert seen
        for statement, parameters in seen:
            plan = "\n".join(
                conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars().all()
            )
            assert "uq_items_project_key" in plan, plan
            assert "Filter" not in plan and "Seq Scan on items" not in plan, plan


def test_bulk_load_refreshes_statistics(workspace, store, tmp_path, backend, monkeypatch):
    _postgres_only(backend)

    def stats() -> tuple[float, int]:
        with store.read() as conn:
            return conn.execute(
                text("SELECT reltuples, relpages FROM pg_class WHERE relname = 'items'")
            ).one()

    assert stats()[0] <= 0  # never analyzed
    rows = [{"id": f"t{i}", "text": f"text {i}"} for i in range(10_000)]
    import_items(store, None, write_items(tmp_path / "a.jsonl", rows))
    reltuples, relpages = stats()
    assert reltuples == 10_000 and relpages > engine.STALE_MIN_PAGES  # grew > 1 MiB from 0
    assert store.refresh_statistics(["items"]) == []  # fresh: nothing to do
    rows = [{"id": f"u{i}", "text": f"text {i}"} for i in range(1_500)]
    import_items(store, None, write_items(tmp_path / "b.jsonl", rows))
    assert stats()[0] == 10_000  # grew by more than 10 % but less than 1 MiB
    monkeypatch.setattr(engine, "STALE_MIN_PAGES", 1)
    assert store.refresh_statistics(["items", "events"]) == ["items"]  # events: still empty
    assert stats()[0] == 11_500
