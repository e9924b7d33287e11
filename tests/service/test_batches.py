"""Batches of work: a person's answer or gold closes a queued item, model answers do not;
exports carry what an annotator needs (suggestions only where allowed) and are written whole."""

from __future__ import annotations

import csv
import json

import pytest

from labelloop.errors import Conflict, InvalidInput, NotFound
from labelloop.service.annotate.batches import export_batch, list_batches, requeue_batch
from labelloop.service.project.schemas import apply_schema_file
from labelloop.service.project.status import project_status
from labelloop.service.sample.routing import route
from labelloop.service.sample.sampling import sample
from labelloop.service.source.imports import import_answers, import_gold, import_items
from labelloop.service.source.telemetry import ingest_telemetry

WORDS = ["win", "prize", "free", "call", "lunch", "later", "meet", "home"]


def text(i: int) -> str:
    return f"{WORDS[i % 8]} {WORDS[(i * 3) % 8]} {i}"


def setup_pool(store, tmp_path, n=60):
    items = tmp_path / "items.jsonl"
    with open(items, "w", encoding="utf-8") as fh:
        for i in range(n):
            # 'status' collides with an export column: CSV must keep it apart
            fh.write(json.dumps({"id": f"m{i}", "text": text(i), "status": "raw", "n": i}) + "\n")
    import_items(store, None, items)
    ingest_telemetry(
        store,
        None,
        [
            {
                "input": {"text": text(i), "status": "raw", "n": i},
                "prediction": "spam" if i / n >= 0.5 else "ham",
                "probabilities": {"spam": round(i / n, 4), "ham": round(1 - i / n, 4)},
                "model": "prod",
                "model_version": "1",
                "timestamp": "2026-11-20T00:00:00Z",
            }
            for i in range(n)
        ],
    )


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_answers_of_people_and_gold_close_batch_items_model_answers_do_not(store, tmp_path):
    setup_pool(store, tmp_path)
    batch = sample(store, None, "margin", 6)
    keys = [i.key for i in batch.items]
    out = tmp_path / "batch.jsonl"
    report = export_batch(store, None, batch.batch_id, out)
    rows = read_jsonl(out)
    assert report.exported == 6 and [r["task"] for r in rows] == keys
    assert [r["rank"] for r in rows] == list(range(1, 7))
    assert all(r["status"] == "queued" and r["reason"] and r["suggestion"] is None for r in rows)
    assert rows[0]["data"]["text"] and rows[0]["kind"] == "sample"

    answers = tmp_path / "answers.csv"
    answers.write_text(f"worker,task,label\nann1,{keys[0]},spam\nann2,{keys[1]},ham\n")
    import_answers(store, None, answers)
    gold = tmp_path / "gold.csv"
    gold.write_text(f"task,label\n{keys[2]},spam\n")
    import_gold(store, None, gold)
    # a model re-scoring a queued item is not a person's label: the item stays queued
    i3 = int(keys[3][1:])
    ingest_telemetry(
        store,
        None,
        [
            {
                "input": {"text": text(i3), "status": "raw", "n": i3},
                "prediction": "ham",
                "confidence": 0.9,
                "model": "prod",
                "model_version": "2",
                "timestamp": "2026-11-21T00:00:00Z",
            }
        ],
    )
    (summary,) = list_batches(store, None)
    assert summary.size == 6 and summary.model == "prod@1"
    assert summary.status == {"queued": 3, "in_flight": 0, "done": 3}
    assert project_status(store, None)["batch_items"] == {"queued": 3, "in_flight": 0, "done": 3}

    export_batch(store, None, batch.batch_id, out)  # default: open items only
    assert [r["task"] for r in read_jsonl(out)] == keys[3:]
    export_batch(store, None, batch.batch_id, out, statuses=["done"])
    assert [r["task"] for r in read_jsonl(out)] == keys[:3]


def test_claimed_items_are_in_flight_until_answered_or_requeued(store, tmp_path, monkeypatch):
    setup_pool(store, tmp_path)
    batch = sample(store, None, "margin", 4)
    keys = [i.key for i in batch.items]

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:  # the claim is made, then the final rename fails
        m.setattr("labelloop.formats.files.os.replace", disk_full)
        with pytest.raises(InvalidInput, match=r"cannot write .*No space left"):
            export_batch(store, None, batch.batch_id, tmp_path / "x.jsonl", claim=True)
    assert list_batches(store, None)[0].status["queued"] == 4  # no file, no claim
    assert not list(tmp_path.glob("x.jsonl*"))

    out = tmp_path / "handed.jsonl"
    report = export_batch(store, None, batch.batch_id, out, claim=True)
    assert report.claimed == 4 and {r["status"] for r in read_jsonl(out)} == {"in_flight"}
    assert list_batches(store, None)[0].status == {"queued": 0, "in_flight": 4, "done": 0}
    again = sample(store, None, "margin", 4)  # in-flight items are not sampled again
    assert not set(keys) & {i.key for i in again.items}
    assert again.excluded["queued"] == 4

    answers = tmp_path / "answers.csv"
    answers.write_text(f"worker,task,label\nann1,{keys[0]},spam\n")
    import_answers(store, None, answers)
    assert requeue_batch(store, None, batch.batch_id) == 3
    assert list_batches(store, None)[0].status == {"queued": 3, "in_flight": 0, "done": 1}
    assert requeue_batch(store, None, batch.batch_id) == 0
    with pytest.raises(NotFound, match="no batch 42"):
        requeue_batch(store, None, 42)


def test_a_claim_whose_commit_fails_leaves_no_file_and_no_claim(store, tmp_path, monkeypatch):
    from contextlib import contextmanager

    setup_pool(store, tmp_path)
    batch = sample(store, None, "margin", 4)

    @contextmanager
    def commit_fails():  # the transaction's work is done, then its commit fails
        with store.engine.connect() as conn:
            tx = conn.begin()
            yield conn
            tx.rollback()
            raise RuntimeError("commit failed: connection lost")

    out = tmp_path / "handed.jsonl"
    with monkeypatch.context() as m:
        m.setattr(store, "write", commit_fails)
        with pytest.raises(RuntimeError, match="commit failed"):
            export_batch(store, None, batch.batch_id, out, claim=True)
    assert not list(tmp_path.glob("handed.jsonl*"))  # the renamed file went with the claim
    assert list_batches(store, None)[0].status["queued"] == 4
    report = export_batch(store, None, batch.batch_id, out, claim=True)
    assert report.claimed == 4 and len(read_jsonl(out)) == 4


def test_concurrent_claims_never_hand_out_an_item_twice(store, tmp_path):
    import threading

    setup_pool(store, tmp_path)
    batch = sample(store, None, "random", 30)
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def claim(n: int) -> None:
        try:
            out = tmp_path / f"claim{n}.jsonl"
            export_batch(store, None, batch.batch_id, out, claim=True)
            results[n] = [r["task"] for r in read_jsonl(out)]
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # a claimer that finds every item handed out is told so (Conflict) and writes nothing
    assert all(isinstance(e, Conflict) for e in errors), errors
    assert len(results) + len(errors) == 4
    handed = [key for keys in results.values() for key in keys]
    assert len(handed) == len(set(handed)) == 30  # each item to exactly one claimer
    assert list_batches(store, None)[0].status == {"queued": 0, "in_flight": 30, "done": 0}


def test_csv_export_puts_data_fields_in_columns(store, tmp_path):
    setup_pool(store, tmp_path)
    batch = sample(store, None, "entropy", 3)
    out = tmp_path / "batch.csv"
    export_batch(store, None, batch.batch_id, out)
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["task"] for r in rows] == [i.key for i in batch.items]
    assert all(r["status"] == "queued" and r["data.status"] == "raw" for r in rows)
    assert rows[0]["text"] == text(int(rows[0]["task"][1:])) and rows[0]["n"] == rows[0]["task"][1:]
    assert rows[0]["suggested_label"] == ""


def test_route_batches_show_suggestions_only_where_allowed(store, tmp_path):
    n = 400
    setup_pool(store, tmp_path, n)
    gold = tmp_path / "gold.csv"  # the model is right on confident items, not near 0.5

    def truth(i: int) -> str:
        predicted = "spam" if i / n >= 0.5 else "ham"
        wrong = 0.3 < i / n < 0.7 and i % 4 == 0
        return {"spam": "ham", "ham": "spam"}[predicted] if wrong else predicted

    gold.write_text("task,label\n" + "".join(f"m{i},{truth(i)}\n" for i in range(0, n, 2)))
    import_gold(store, None, gold)
    report = route(
        store, None, target_precision=0.9, audit_fraction=0.2, show_suggestion=True, random_state=0
    )
    assert report.auto_accepted > 0 and report.to_humans > 0 and report.audited > 0
    by_kind = {b.kind: b for b in list_batches(store, None)}
    assert by_kind["route"].size == report.to_humans
    assert by_kind["audit"].size == report.audited

    out = tmp_path / "route.jsonl"
    shown = export_batch(store, None, by_kind["route"].id, out)
    rows = read_jsonl(out)
    assert shown.suggestions_shown == len(rows) == report.to_humans
    assert all(r["suggestion"]["label"] in {"spam", "ham"} for r in rows)
    blind = export_batch(store, None, by_kind["audit"].id, tmp_path / "audit.jsonl")
    assert blind.suggestions_shown == 0
    assert all(r["suggestion"] is None for r in read_jsonl(tmp_path / "audit.jsonl"))


def test_export_errors_name_what_was_seen_and_write_nothing(store, tmp_path):
    setup_pool(store, tmp_path)
    batch = sample(store, None, "random", 3)
    with pytest.raises(NotFound, match=r"no batch 99; batches: \[1\]"):
        export_batch(store, None, 99, tmp_path / "x.jsonl")
    with pytest.raises(InvalidInput, match=r"\.txt.*expected a \.jsonl or \.csv"):
        export_batch(store, None, batch.batch_id, tmp_path / "x.txt")
    with pytest.raises(InvalidInput, match="status 'open'; expected one of"):
        export_batch(store, None, batch.batch_id, tmp_path / "x.jsonl", statuses=["open"])
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InvalidInput, match="cannot write"):
        export_batch(store, None, batch.batch_id, blocker / "x.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("x")) == []


def test_batch_cli_lists_and_exports(cli, workspace, tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(json.dumps({"id": f"t{i}", "text": text(i)}) + "\n" for i in range(20))
    )
    assert cli("import", "items", str(items)).code == 0
    assert cli("batch", "list").out.startswith("no batches yet")
    assert cli("sample", "--strategy", "random", "--budget", "5").code == 0
    listed = cli("batch", "list")
    assert listed.code == 0 and "sample" in listed.out and "random" in listed.out
    out = tmp_path / "b.csv"
    res = cli("batch", "export", "1", str(out))
    assert res.code == 0 and f"5 items (queued, in_flight) written to {out}" in res.out
    data = json.loads(cli("batch", "list", "--json").out)
    assert data["batches"][0]["status"] == {"queued": 5, "in_flight": 0, "done": 0}
    claimed = cli("batch", "export", "1", str(out), "--claim")
    assert claimed.code == 0 and "5 items (queued) written" in claimed.out
    assert "5 now in flight" in claimed.out
    again = cli("batch", "export", "1", str(tmp_path / "again.csv"), "--claim")
    assert again.code == 2 and again.err.count("\n") == 1
    assert "error: batch 1 has no queued item left to hand out (5 in flight, 0 done of 5)" in (
        again.err
    )
    assert not (tmp_path / "again.csv").exists()
    assert json.loads(cli("batch", "requeue", "1", "--json").out) == {"batch_id": 1, "requeued": 5}
    bad = cli("batch", "export", "7", str(out))
    assert bad.code == 2 and "no batch 7" in bad.err


def test_export_shows_only_the_fields_the_schema_declares(store, tmp_path):
    setup_pool(store, tmp_path)  # items hold text, status and n (no schema then: all content)
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        'name: spam\nversion: "1"\ntask: single_label\ninputs:\n  - name: text\n'
        "labels:\n  - name: spam\n    description: s\n  - name: ham\n    description: h\n"
    )
    apply_schema_file(store, None, schema)
    batch = sample(store, None, "margin", 4)
    out = tmp_path / "batch.jsonl"
    export_batch(store, None, batch.batch_id, out)
    assert [set(r["data"]) for r in read_jsonl(out)] == [{"text"}] * 4
    out_csv = tmp_path / "batch.csv"
    export_batch(store, None, batch.batch_id, out_csv)
    with open(out_csv, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert "text" in header and "n" not in header and "data.status" not in header
