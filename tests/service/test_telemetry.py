"""Telemetry import: records attach to items by content, become model answers, re-import adds
nothing, bad records name their line and field (atomic), --skip-invalid writes rejects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from labelloop.errors import InvalidInput
from labelloop.service.project.schemas import apply_schema_file
from labelloop.service.project.status import verify_chain
from labelloop.service.source.imports import import_items
from labelloop.service.source.telemetry import import_telemetry, ingest_telemetry
from labelloop.store import tables as t

SCHEMA = """\
name: spam
version: "1.0"
task: single_label
inputs:
  - name: text
    type: text
labels:
  - name: spam
    description: Unsolicited.
  - name: ham
    description: Anything else.
"""


def record(i: int, **changes) -> dict:
    p = round(0.55 + (i % 40) / 100, 2)
    rec = {
        "input": {"text": f"message {i}"},
        "prediction": "spam" if i % 2 else "ham",
        "probabilities": {"spam": p if i % 2 else 1 - p, "ham": 1 - p if i % 2 else p},
        "model": "spam-clf",
        "model_version": "v3",
        "timestamp": "2026-11-20T10:00:00+01:00",
        "request_id": f"r{i}",
    }
    rec.update(changes)
    return {k: v for k, v in rec.items() if v is not None}


def write(path: Path, records: list, raw_lines: dict[int, str] | None = None) -> Path:
    lines = [json.dumps(r) for r in records]
    for line, text in (raw_lines or {}).items():
        lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def counts(store) -> tuple[int, int]:
    with store.read() as conn:
        items = conn.execute(select(func.count()).select_from(t.items)).scalar_one()
        events = conn.execute(select(func.count()).select_from(t.events)).scalar_one()
    return items, events


def test_records_attach_by_content_and_become_model_answers(store, tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": "a1", "text": "message 1"}\n{"id": "a2", "text": "message 2"}\n')
    import_items(store, None, items)
    path = write(tmp_path / "tel.jsonl", [record(i) for i in range(1, 6)])
    report = import_telemetry(store, None, path)
    assert (report.rows, report.added, report.new_items, report.rejected) == (5, 5, 3, 0)
    assert report.models == ["spam-clf@v3"]
    assert counts(store) == (5, 5)
    with store.read() as conn:
        rows = conn.execute(
            select(t.items.c.key, t.events.c.label, t.events.c.source, t.events.c.payload)
            .join(t.items, t.items.c.id == t.events.c.item_id)
            .order_by(t.events.c.seq)
        ).all()
        labeler = conn.execute(select(t.labelers.c.kind, t.labelers.c.name, t.labelers.c.version))
        assert labeler.all() == [("model", "spam-clf", "v3")]
    assert rows[0].key == "a1" and rows[1].key == "a2"  # attached to the imported items
    assert rows[2].key.startswith("sha256:")
    payload = json.loads(rows[0].payload)
    assert rows[0].source == "model" and json.loads(rows[0].label) == "spam"
    assert payload["confidence"] == payload["probabilities"]["spam"] == 0.56
    assert payload["request_id"] == "r1"
    assert payload["timestamp"] == "2026-11-20T09:00:00.000000Z"  # normalized to UTC
    # re-import adds nothing; an item import of the same content deduplicates against it
    again = import_telemetry(store, None, path)
    assert (again.added, again.duplicates, again.new_items) == (0, 5, 0)
    more = tmp_path / "more.jsonl"
    more.write_text('{"text": "message 3"}\n')
    assert import_items(store, None, more).added == 0
    assert counts(store) == (5, 5)
    assert verify_chain(store, None).ok


def test_without_request_id_the_key_is_the_content(store, tmp_path):
    recs = [record(1, request_id=None, confidence=0.56, probabilities=None), record(2)]
    recs[0].pop("probabilities", None)
    path = write(tmp_path / "t.jsonl", recs)
    assert import_telemetry(store, None, path).added == 2
    assert import_telemetry(store, None, path).added == 0
    later = write(tmp_path / "t2.jsonl", [record(1, request_id=None, timestamp="2026-11-21")])
    assert import_telemetry(store, None, later).added == 1  # a new prediction, same item
    assert counts(store) == (2, 3)


@pytest.mark.parametrize(
    ("bad", "field", "expected"),
    [
        ("{not json", None, "not valid JSON"),
        ('["a list"]', None, "expected a JSON object"),
        (json.dumps(record(3, prediction=None)), "prediction", "expected a label name"),
        (json.dumps(record(3, probabilities={"spam": 0.7, "ham": 0.7})), "probabilities", "sum"),
        (
            json.dumps(record(3, probabilities={"spam": 1.2, "ham": -0.2})),
            "probabilities.spam",
            "[0, 1]",
        ),
        (json.dumps(record(3, timestamp="yesterday")), "timestamp", "ISO-8601"),
        (json.dumps(record(3, input="")), "input", "empty string"),
        (json.dumps(record(3, model="")), "model", "non-empty string"),
        (json.dumps({**record(3), "probabilites": {}}), "probabilites", "unknown field"),
        (json.dumps(record(3, confidence=0.1)), "confidence", "agree"),
        (
            '{"input": "x", "prediction": "spam", "confidence": NaN, "model": "m", '
            '"model_version": "1", "timestamp": "2026-01-01"}',
            None,
            "NaN",
        ),
    ],
)
def test_a_bad_record_names_its_line_and_field_and_writes_nothing(
    store, tmp_path, bad, field, expected
):
    path = write(tmp_path / "t.jsonl", [record(i) for i in range(1, 6)], {3: bad})
    with pytest.raises(InvalidInput) as info:
        import_telemetry(store, None, path)
    assert info.value.line == 3
    assert info.value.field == field
    assert expected in str(info.value)
    assert str(path) in str(info.value)
    assert counts(store) == (0, 0)


def test_closed_schema_rejects_unknown_labels_and_bad_inputs(store, tmp_path):
    schema = tmp_path / "s.yaml"
    schema.write_text(SCHEMA)
    apply_schema_file(store, None, schema)
    bad = record(2, prediction="spma", probabilities=None, confidence=0.9)
    path = write(tmp_path / "t.jsonl", [record(1), bad])
    with pytest.raises(InvalidInput, match=r"line 2, field 'prediction': label 'spma' is not in"):
        import_telemetry(store, None, path)
    bad = record(2, probabilities={"spam": 0.6, "eggs": 0.4}, prediction="spam")
    path = write(tmp_path / "t.jsonl", [record(1), bad])
    with pytest.raises(InvalidInput, match=r"line 2, field 'probabilities.eggs'"):
        import_telemetry(store, None, path)
    path = write(tmp_path / "t.jsonl", [record(1), record(2, input={"body": "x"})])
    with pytest.raises(InvalidInput) as info:
        import_telemetry(store, None, path)
    assert info.value.line == 2 and info.value.field.startswith("input.")


def test_skip_invalid_writes_rejects_with_reasons(store, tmp_path):
    recs = [record(i) for i in range(1, 8)]
    path = write(tmp_path / "t.jsonl", recs, {2: "{oops", 5: json.dumps(record(5, timestamp=3))})
    report = import_telemetry(store, None, path, skip_invalid=True)
    assert (report.rows, report.added, report.rejected) == (7, 5, 2)
    rejects = [json.loads(x) for x in Path(report.rejects_file).read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in rejects] == [(2, None), (5, "timestamp")]
    assert rejects[0]["raw"] == "{oops"


def test_ingest_service_function_for_the_server(store):
    report = ingest_telemetry(store, None, [record(1), record(2, model_version=4)])
    assert report.added == 2 and sorted(report.models) == ["spam-clf@4", "spam-clf@v3"]
    with pytest.raises(InvalidInput, match=r"api, line 2, field 'timestamp'"):
        ingest_telemetry(store, None, [record(3), record(4, timestamp="bad")])
    skipped = ingest_telemetry(store, None, [record(5), {"input": 1}], skip_invalid=True)
    assert skipped.added == 1 and skipped.rejected == 1
    assert skipped.rejections[0]["line"] == 2 and skipped.rejections[0]["field"] == "input"


def test_parallel_parsing_gives_the_same_result_and_errors(store, tmp_path):
    path = write(tmp_path / "t.jsonl", [record(i) for i in range(1, 30)])
    report = import_telemetry(store, None, path, parallel=True)
    assert (report.rows, report.added, report.new_items) == (29, 29, 29)
    bad = write(tmp_path / "bad.jsonl", [record(i) for i in range(30, 40)], {7: "{"})
    with pytest.raises(InvalidInput) as info:
        import_telemetry(store, None, bad, parallel=True)
    assert info.value.line == 7 and "not valid JSON" in str(info.value)
    broken = tmp_path / "utf.jsonl"
    broken.write_bytes(json.dumps(record(1)).encode() + b"\n\xff\xfe\n")
    with pytest.raises(InvalidInput, match="line 2: not valid UTF-8"):
        import_telemetry(store, None, broken, parallel=True)
    assert counts(store) == (29, 29)


def test_concurrent_imports_neither_lose_nor_duplicate(store, tmp_path):
    import threading

    a = write(tmp_path / "a.jsonl", [record(i) for i in range(1, 301)])
    b = write(tmp_path / "b.jsonl", [record(i) for i in range(151, 451)])
    errors = []

    def run(path):
        try:
            import_telemetry(store, None, path)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in (a, b)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert counts(store) == (450, 450)
    assert verify_chain(store, None).ok


def test_records_from_before_the_schema_declared_inputs_are_not_duplicated(store, tmp_path):
    records = [record(i, input={"text": f"message {i}", "channel": "sms"}, request_id=None)
               for i in range(3)]  # fmt: skip
    first = ingest_telemetry(store, None, records)  # no schema: the whole input is content
    assert (first.new_items, first.added, first.undeclared_fields) == (3, 3, None)
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    apply_schema_file(store, None, tmp_path / "schema.yaml")
    before = counts(store)
    again = ingest_telemetry(store, None, records)
    # same items (found by their stored whole-input hash), same idempotency keys
    assert (again.new_items, again.matched_items, again.added) == (0, 3, 0)
    assert again.undeclared_fields == {"channel": 3}
    assert counts(store) == before
    # stored hashes stay as they were: the same text with another channel matches neither
    # hash of the old item, so it gets an item hashed on the declared text only ...
    web = ingest_telemetry(store, None, [record(0, input={"text": "message 0", "channel": "web"})])
    assert (web.new_items, web.added) == (1, 1)
    # ... which every later record with that text attaches to, whatever its channel
    app = ingest_telemetry(store, None, [record(1, input={"text": "message 0", "channel": "app"})])
    assert (app.new_items, app.matched_items, app.added) == (0, 1, 1)


def test_an_import_reads_no_item_key_back_and_looks_stored_keys_up_once(store, tmp_path):
    """The items it found or inserted come with their keys (no read of items by id for the
    event hashes); each batch looks its idempotency keys up once, on first import and on
    re-import (where no draft is built for a stored record)."""
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": "a1", "text": "message 1"}\n')
    import_items(store, None, items)
    path = write(tmp_path / "tel.jsonl", [record(i) for i in range(1, 6)])
    statements: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    def lookups() -> tuple[list[str], list[str]]:
        reads = [s for s in statements if s.upper().startswith("SELECT")]
        by_id = [
            s
            for s in reads
            if "FROM items" in s and ("id BETWEEN" in s or " id IN (" in s or "id = u.v" in s)
        ]
        return by_id, [s for s in reads if "idempotency_key" in s]

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        first = import_telemetry(store, None, path)
        by_id, idem = lookups()
        assert (first.added, first.new_items, first.matched_items) == (5, 4, 1)
        assert by_id == [] and len(idem) == 1, (by_id, idem)
        statements.clear()
        again = import_telemetry(store, None, path)
        by_id, idem = lookups()
        assert (again.added, again.duplicates, again.matched_items) == (0, 5, 5)
        assert by_id == [] and len(idem) == 1, (by_id, idem)
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    assert counts(store) == (5, 5)
    assert verify_chain(store, None).ok
