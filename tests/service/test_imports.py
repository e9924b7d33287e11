"""Import (source stage) end to end through the CLI entry point, on the selected backend."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from labelloop.core.identity import item_content_hash, item_key
from labelloop.errors import InvalidInput
from labelloop.service.project.status import project_status, verify_chain
from labelloop.service.source.imports import import_answers, import_gold, import_items
from labelloop.service.source.telemetry import ingest_telemetry
from labelloop.store import tables as t
from tests import realdata

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "schemas"

SCHEMA = """\
name: spam
version: "1.0"
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
  - input: {text: "WIN a FREE prize, reply YES"}
    label: spam
    rationale: Prize bait.
  - input: {text: "see you at 6"}
    label: ham
    rationale: Personal.
    edge_case: true
"""


def write_jsonl(path: Path, n: int, *, bad_line: int | None = None) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(1, n + 1):
            row = {"id": f"m{i}", "text": f"message {i}"}
            if i == bad_line:
                row["text"] = None
            fh.write(json.dumps(row) + "\n")
    return path


def status_json(cli) -> dict:
    result = cli("status", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_malformed_row_at_7777_aborts_and_fixed_file_imports_once(workspace, cli, tmp_path):
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    assert cli("schema", "apply", str(tmp_path / "schema.yaml")).code == 0
    bad = write_jsonl(tmp_path / "items.jsonl", 10_000, bad_line=7777)

    result = cli("import", "items", str(bad))
    assert result.code != 0
    assert "line 7777" in result.err and "'text'" in result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1
    assert "null" in result.err  # what was seen
    # Only the two worked examples (calibration gold) exist; none of the file's rows.
    assert status_json(cli)["items"] == 2

    write_jsonl(bad, 10_000)
    assert cli("import", "items", str(bad)).code == 0
    assert status_json(cli)["items"] == 10_002
    again = cli("import", "items", str(bad), "--json")
    assert again.code == 0
    assert json.loads(again.out)["added"] == 0
    assert status_json(cli)["items"] == 10_002


def test_invalid_json_names_line_and_nothing_is_written(workspace, cli, tmp_path):
    path = write_jsonl(tmp_path / "items.jsonl", 50)
    lines = path.read_text().splitlines()
    lines[19] = '{"id": "m20", "text": "unterminated}'
    path.write_text("\n".join(lines) + "\n")
    result = cli("import", "items", str(path))
    assert result.code == 2
    assert "line 20" in result.err and "JSON" in result.err
    assert status_json(cli)["items"] == 0


def test_skip_invalid_writes_rejects_with_reasons(workspace, cli, tmp_path):
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    cli("schema", "apply", str(tmp_path / "schema.yaml"))
    path = write_jsonl(tmp_path / "items.jsonl", 100, bad_line=42)
    rejects = tmp_path / "rejects.jsonl"
    result = cli(
        "import", "items", str(path), "--skip-invalid", "--rejects", str(rejects), "--json"
    )
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["added"] == 99 and report["rejected"] == 1
    rows = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["line"] == 42 and rows[0]["field"] == "text"


def test_items_dedupe_by_content_without_id(workspace, store, tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text(
        '{"text": "a"}\n{"text": "b"}\n{"text": "a"}\n\n{"text": "c", "metadata": {"src": 1}}\n'
    )
    report = import_items(store, None, path)
    assert (report.added, report.duplicates) == (3, 1)
    assert import_items(store, None, path).added == 0


def test_same_id_with_other_content_is_rejected(workspace, store, tmp_path):
    first = tmp_path / "a.jsonl"
    first.write_text('{"id": "x", "text": "one"}\n')
    import_items(store, None, first)
    second = tmp_path / "b.jsonl"
    second.write_text('{"id": "y", "text": "two"}\n{"id": "x", "text": "changed"}\n')
    with pytest.raises(InvalidInput, match=r"line 2.*already exists with different content"):
        import_items(store, None, second)
    assert project_status(store, None)["items"] == 1  # 'y' rolled back too


def test_parquet_and_hf_folders_import(workspace, store, tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"id": ["p1", "p2", "p3"], "text": ["x", "y", "z"], "score": [1, 2, 3]})
    pq.write_table(table, tmp_path / "items.parquet")
    assert import_items(store, None, tmp_path / "items.parquet").added == 3
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict(
        {"id": ["h1", "p1"], "text": ["w", "x"], "score": [9, 1]}
    ).save_to_disk(str(tmp_path / "hf"))
    report = import_items(store, None, tmp_path / "hf")
    assert (report.added, report.duplicates) == (1, 1)


def crowd_copy(name: str) -> tuple[Path, Path]:
    folder = realdata.crowd(name)
    return folder / "answers.csv", folder / "gold.csv"


def test_real_crowd_answers_import_and_verify_then_tamper(workspace, store, cli, backend):
    answers, gold = crowd_copy("rte")
    report = import_answers(store, None, answers)
    assert report.added == 8000 and report.new_items == 800
    assert import_gold(store, None, gold).added == 800
    info = project_status(store, None)
    assert (info["items"], info["answers"], info["gold"], info["labelers"]) == (800, 8000, 800, 164)
    assert info["by_labeler_kind"]["human"] == {"labelers": 164, "answers": 8000}
    assert info["schema"]["open"] and info["schema"]["labels"] == ["0", "1"]

    ok = cli("verify")
    assert ok.code == 0 and "8,800 events" in ok.out

    # Re-import adds nothing; the chain is unchanged.
    assert import_answers(store, None, answers).added == 0
    assert verify_chain(store, None).ok

    # The triggers reject edits...
    with pytest.raises(Exception, match="append-only"), store.write() as conn:
        conn.execute(text("UPDATE events SET label = '\"1\"' WHERE seq = 4321"))
    with pytest.raises(Exception, match="append-only"), store.write() as conn:
        conn.execute(text("DELETE FROM events WHERE seq = 4321"))
    # ...so an attacker drops them and edits a row behind the system's back.
    with store.write() as conn:
        drop = (
            "DROP TRIGGER events_no_update ON events"
            if backend == "postgres"
            else "DROP TRIGGER events_no_update"
        )
        conn.execute(text(drop))
        event_id = conn.execute(select(t.events.c.id).where(t.events.c.seq == 4321)).scalar_one()
        old = conn.execute(select(t.events.c.label).where(t.events.c.id == event_id)).scalar_one()
        new = '"0"' if old == '"1"' else '"1"'
        conn.execute(text("UPDATE events SET label = :l WHERE id = :i"), {"l": new, "i": event_id})
    broken = cli("verify")
    assert broken.code == 1
    assert f"event {event_id} (seq 4321)" in broken.err and "altered" in broken.err


def test_removed_tail_events_are_detected(workspace, store, backend):
    answers, _ = crowd_copy("temp")
    import_answers(store, None, answers)
    with store.write() as conn:
        if backend == "postgres":
            conn.execute(text("DROP TRIGGER events_no_update ON events"))
        else:
            conn.execute(text("DROP TRIGGER events_no_delete"))
        conn.execute(text("DELETE FROM events WHERE seq > 4600"))
    result = verify_chain(store, None)
    assert not result.ok and "removed" in (result.reason or "")


def test_duplicate_rows_are_kept_as_published_and_time_column(workspace, store, tmp_path):
    path = tmp_path / "answers.csv"
    path.write_text(
        "worker,task,label,time\nw1,t1,a,12.5\nw1,t1,a,12.5\nw2,t1,b,2026-01-02T03:04:05Z\n"
    )
    assert import_answers(store, None, path).added == 3
    assert import_answers(store, None, path).added == 0
    with store.read() as conn:
        rows = conn.execute(
            select(t.events.c.time_spent_ms, t.events.c.payload).order_by(t.events.c.seq)
        ).all()
    assert rows[0].time_spent_ms == 12500 and rows[0].payload is None
    assert json.loads(rows[2].payload) == {"answered_at": "2026-01-02T03:04:05.000000Z"}


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("", "empty"),
        ("worker,task\nw,t\n", "missing column(s) ['label']"),
        ("worker,task,label\nw1,,a\n", "line 2, field 'task'"),
        ("worker,task,label,time\nw1,t1,a,soon\n", "line 2, field 'time'"),
        ("worker,task,label\nw1,t1,a,extra\n", "line 2: saw 4 fields; expected 3"),
    ],
)
def test_bad_answer_files_give_clear_errors_and_write_nothing(
    workspace, store, tmp_path, content, needle
):
    path = tmp_path / "answers.csv"
    path.write_text(content)
    with pytest.raises(InvalidInput) as info:
        import_answers(store, None, path)
    assert needle in str(info.value)
    assert project_status(store, None)["answers"] == 0


def test_closed_schema_rejects_unknown_label_with_line(workspace, store, cli, tmp_path):
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    cli("schema", "apply", str(tmp_path / "schema.yaml"))
    path = tmp_path / "answers.csv"
    path.write_text("worker,task,label\nw1,t1,spam\nw1,t2,spma\n")
    with pytest.raises(InvalidInput, match=r"line 3, field 'label'.*'spma' is not in schema 1.0"):
        import_answers(store, None, path)


def test_open_label_set_grows_as_new_schema_versions(workspace, store, tmp_path):
    first = tmp_path / "a.csv"
    first.write_text("worker,task,label\nw1,t1,b\nw2,t1,a\n")
    import_answers(store, None, first)
    second = tmp_path / "b.csv"
    second.write_text("worker,task,label\nw1,t2,c\n")
    import_answers(store, None, second)
    with store.read() as conn:
        versions = conn.execute(
            select(t.schema_versions.c.id, t.schema_versions.c.is_open).order_by(
                t.schema_versions.c.id
            )
        ).all()
        per_event = (
            conn.execute(select(t.events.c.schema_version_id).order_by(t.events.c.seq))
            .scalars()
            .all()
        )
    assert [v.is_open for v in versions] == [True, True]
    assert per_event == [versions[0].id, versions[0].id, versions[1].id]
    assert project_status(store, None)["schema"]["labels"] == ["a", "b", "c"]


def test_answers_create_stub_items_that_item_import_fills(workspace, store, tmp_path):
    answers = tmp_path / "answers.csv"
    answers.write_text("worker,task,label\nw1,t1,x\n")
    import_answers(store, None, answers)
    items = tmp_path / "items.csv"
    items.write_text("task,text\nt1,hello\nt2,world\n")
    report = import_items(store, None, items)
    assert (report.added, report.filled) == (1, 1)
    with store.read() as conn:
        data = conn.execute(select(t.items.c.data).where(t.items.c.key == "t1")).scalar_one()
    assert json.loads(data) == {"text": "hello"}


def test_concurrent_imports_lose_and_duplicate_nothing(workspace, store, tmp_path):
    files = []
    for k in range(4):
        path = tmp_path / f"a{k}.csv"
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["worker", "task", "label"])
            for i in range(300):
                w.writerow([f"w{k}", f"t{i}", "yes" if (i + k) % 3 else "no"])
        files.append(path)
    errors: list[BaseException] = []

    def work(path: Path) -> None:
        try:
            import_answers(store, None, path)
            import_answers(store, None, path)  # retried: must add nothing
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in files]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    with store.read() as conn:
        n = conn.execute(select(func.count()).select_from(t.events)).scalar_one()
        seqs = conn.execute(select(t.events.c.seq).order_by(t.events.c.seq)).scalars().all()
    assert n == 1200 and seqs == list(range(1, 1201))
    assert verify_chain(store, None).ok


def test_cli_errors_are_one_line_without_traceback(workspace, cli, tmp_path):
    result = cli("import", "answers", str(tmp_path / "missing.csv"))
    assert result.code == 2
    assert result.err.startswith("error: ") and "Traceback" not in result.err
    assert "file not found" in result.err


def test_changed_schema_file_is_a_new_version_and_same_version_string_must_change(
    workspace, cli, tmp_path
):
    path = tmp_path / "schema.yaml"
    path.write_text(SCHEMA)
    assert "new version" in cli("schema", "apply", str(path)).out
    path.write_text("# a comment changes nothing\n" + SCHEMA)
    assert "unchanged" in cli("schema", "apply", str(path)).out
    path.write_text(SCHEMA.replace("Anything else.", "Everything that is not spam."))
    clash = cli("schema", "apply", str(path))
    assert clash.code == 2 and "expected a new `version`" in clash.err
    path.write_text(
        SCHEMA.replace("Anything else.", "Everything that is not spam.").replace('"1.0"', '"1.1"')
    )
    assert "new version" in cli("schema", "apply", str(path)).out
    history = json.loads(cli("schema", "show", "--json").out)
    assert [v["version"] for v in history["versions"]] == ["1.0", "1.1"]
    assert history["current"]["version"] == "1.1"
    # Worked examples of 1.1 (same inputs) do not duplicate the calibration items.
    info = status_json(cli)
    assert info["items"] == 2 and info["stages"]["calibration_gold"] == 2


def test_schema_validate_reports_every_problem_with_line(cli, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        'name: x\nversion: "1"\ntask: single_label\nlables: []\nlabels:\n'
        "  - name: a\n    description: A\n  - name: a\n    description: again\n"
    )
    result = cli("schema", "validate", str(path))
    assert result.code == 1
    assert f"{path}:4:" in result.err and "did you mean 'labels'" in result.err
    assert f"{path}:8:" in result.err
    ok = cli("schema", "validate", str(EXAMPLES / "sms_spam.yaml"))
    assert ok.code == 0, ok.err


# ---------------------------------------------------------------- answers: JSONL, kinds, skip


def answer_events(store) -> list[tuple[str, str, str, object]]:
    """(labeler kind, worker, task, label) of every answer event, in chain order."""
    ev, lb, it = t.events, t.labelers, t.items
    with store.read() as conn:
        rows = conn.execute(
            select(lb.c.kind, lb.c.name, it.c.key, ev.c.label)
            .join(lb, lb.c.id == ev.c.labeler_id)
            .join(it, it.c.id == ev.c.item_id)
            .where(ev.c.type == "answer")
            .order_by(ev.c.seq)
        ).all()
    return [(r.kind, r.name, r.key, json.loads(r.label)) for r in rows]


def test_jsonl_answers_import_like_the_same_csv(workspace, store, tmp_path):
    rows = [("w1", "t1", "spam", "3"), ("w2", "t1", "ham", ""), ("w1", "t2", "ham", "")]
    as_csv = tmp_path / "a.csv"
    as_csv.write_text("worker,task,label,time\n" + "".join(f"{','.join(r)}\n" for r in rows))
    as_jsonl = tmp_path / "a.jsonl"
    as_jsonl.write_text(
        "".join(
            json.dumps({"worker": w, "task": k, "label": x, **({"time": int(s)} if s else {})})
            + "\n"
            for w, k, x, s in rows
        )
    )
    first = import_answers(store, None, as_jsonl)
    assert (first.rows, first.added, first.new_items) == (3, 3, 2)
    # the same answers in CSV are the same events: nothing is added
    again = import_answers(store, None, as_csv)
    assert (again.added, again.duplicates) == (0, 3)
    assert answer_events(store) == [("human", w, k, x) for w, k, x, _ in rows]


def test_kind_records_answers_under_that_labeler_kind(workspace, store, cli, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("worker,task,label\nrev1,t1,spam\nrev1,t2,ham\n")
    assert import_answers(store, None, path, labeler_kind="expert").added == 2
    assert import_answers(store, None, path, labeler_kind="expert").added == 0
    # the same rows from another kind of labeler are other answers
    result = cli("import", "answers", str(path), "--kind", "model", "--json")
    assert result.code == 0 and json.loads(result.out)["added"] == 2
    kinds = project_status(store, None)["by_labeler_kind"]
    assert kinds == {
        "expert": {"labelers": 1, "answers": 2},
        "model": {"labelers": 1, "answers": 2},
    }
    bad = cli("import", "answers", str(path), "--kind", "robot")
    assert bad.code != 0 and "labeler kind 'robot' is unknown" in bad.err
    assert "['human', 'model', 'llm', 'rule', 'expert']" in bad.err


def test_skip_invalid_answers_go_to_rejects_with_line_and_reason(workspace, store, cli, tmp_path):
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    assert cli("schema", "apply", str(tmp_path / "schema.yaml")).code == 0
    path = tmp_path / "a.jsonl"
    path.write_text(
        '{"worker": "w1", "task": "t1", "label": "spam"}\n'
        '{"worker": "w1", "task": "t2", "label": "spma"}\n'
        "not json\n"
        '{"worker": "w2", "task": "t1", "label": "ham", "time": "soon"}\n'
        '{"worker": "w2", "task": "t2", "label": "ham"}\n'
    )
    atomic = cli("import", "answers", str(path))
    assert atomic.code != 0 and "line 2, field 'label'" in atomic.err
    assert "'spma' is not in schema 1.0 labels ['spam', 'ham']" in atomic.err
    assert project_status(store, None)["answers"] == 0

    result = cli("import", "answers", str(path), "--skip-invalid", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert (report["rows"], report["added"], report["rejected"]) == (5, 2, 3)
    rejects = [json.loads(x) for x in Path(report["rejects_file"]).read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in rejects] == [(2, "label"), (3, None), (4, "time")]
    assert "invalid JSON" in rejects[1]["message"] and rejects[1]["raw"] == "not json"
    assert json.loads(rejects[0]["raw"])["label"] == "spma"
    assert project_status(store, None)["answers"] == 2


# ---------------------------------------------------------------- multi-label answers


def apply_news_schema(cli) -> None:
    assert cli("schema", "apply", str(EXAMPLES / "news_topics.yaml")).code == 0


def test_multi_label_answers_are_stored_as_lists_in_label_order(workspace, store, cli, tmp_path):
    apply_news_schema(cli)
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text(
        '{"worker": "w1", "task": "t1", "label": ["technology", "politics"]}\n'
        '{"worker": "w2", "task": "t1", "label": ["politics"]}\n'
    )
    assert import_answers(store, None, jsonl).added == 2
    as_csv = tmp_path / "a.csv"
    as_csv.write_text("worker,task,label\nw3,t1,technology | politics\nw3,t2,sports\n")
    result = cli("import", "answers", str(as_csv), "--label-delimiter", "|", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["added"] == 2
    assert [e[1:] for e in answer_events(store)] == [
        ("w1", "t1", ["politics", "technology"]),
        ("w2", "t1", ["politics"]),
        ("w3", "t1", ["politics", "technology"]),
        ("w3", "t2", ["sports"]),
    ]
    # the same JSONL again adds nothing; the chain verifies
    assert import_answers(store, None, jsonl).added == 0
    assert verify_chain(store, None).ok


@pytest.mark.parametrize(
    ("name", "content", "args", "needle"),
    [
        (
            "a.csv",
            "worker,task,label\nw1,t1,politics\nw1,t2,politics|sports\n",
            (),
            "line 2, field 'label': saw the single label 'politics'; schema 2024.06 is "
            "multi_label, expected labels split by --label-delimiter",
        ),
        (
            "a.jsonl",
            '{"worker": "w1", "task": "t1", "label": ["sports"]}\n'
            '{"worker": "w1", "task": "t2", "label": "sports"}\n',
            (),
            "line 2, field 'label': saw the single label 'sports'; schema 2024.06 is "
            'multi_label, expected a JSON list of labels like ["a", "b"]',
        ),
        (
            "a.jsonl",
            '{"worker": "w1", "task": "t1", "label": ["sports", "sprots"]}\n',
            (),
            "line 1, field 'label': label 'sprots' is not in schema",
        ),
        (
            "a.jsonl",
            '{"worker": "w1", "task": "t1", "label": []}\n',
            (),
            "line 1, field 'label': expected at least 1 label(s) (min_labels), saw 0",
        ),
        (
            "a.csv",
            "worker,task,label\nw1,t1,sports|sports\n",
            ("--label-delimiter", "|"),
            "line 2, field 'label': labels ['sports'] are given more than once",
        ),
    ],
)
def test_multi_label_mistakes_name_the_line(workspace, cli, tmp_path, name, content, args, needle):
    apply_news_schema(cli)
    path = tmp_path / name
    path.write_text(content)
    result = cli("import", "answers", str(path), *args)
    assert result.code != 0 and needle in result.err, result.err
    assert result.err.startswith("error: ") and result.err.count("\n") == 1
    assert status_json(cli)["answers"] == 0


def test_single_label_projects_refuse_lists_and_delimiters(workspace, cli, tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"worker": "w1", "task": "t1", "label": ["a", "b"]}\n')
    result = cli("import", "answers", str(path))
    assert (
        result.code != 0 and "line 1, field 'label': saw a list of labels ['a', 'b']" in result.err
    )
    assert "open label set is single-label" in result.err
    csv_path = tmp_path / "a.csv"
    csv_path.write_text("worker,task,label\nw1,t1,a|b\n")
    result = cli("import", "answers", str(csv_path), "--label-delimiter", "|")
    assert result.code != 0 and "--label-delimiter splits multi-label answers" in result.err


def test_file_commands_refuse_multi_label_lists(workspace, cli, tmp_path):
    apply_news_schema(cli)
    path = tmp_path / "a.jsonl"
    path.write_text(
        '{"worker": "w1", "task": "t1", "label": ["sports"]}\n'
        '{"worker": "w2", "task": "t1", "label": ["sports", "health"]}\n'
    )
    assert cli("import", "answers", str(path)).code == 0
    assert cli("aggregate").code == 0  # the project's answers: per-label inference
    # the stateless file commands take the same file and refuse the lists by line
    out = tmp_path / "out.csv"
    result = cli("aggregate", str(path), "-o", str(out))
    assert result.code != 0 and "line 1, field 'label'" in result.err and not out.exists()
    result = cli("agreement", str(path))
    assert result.code != 0 and "single-label answers only" in result.err


def test_multi_label_gold_from_jsonl(workspace, store, cli, tmp_path):
    apply_news_schema(cli)
    path = tmp_path / "g.jsonl"
    path.write_text('{"task": "t1", "label": ["sports", "health"]}\n')
    assert import_gold(store, None, path).added == 1
    assert import_gold(store, None, path).added == 0
    with store.read() as conn:
        label = conn.execute(
            select(t.gold.c.label).join(t.items).where(t.items.c.key == "t1")
        ).scalar_one()
    assert json.loads(label) == ["health", "sports"]  # label-space order


# ---------------------------------------------------------------- fields outside the schema


def items_by_key(store) -> dict[str, tuple[dict, dict, str]]:
    """key -> (data, meta, content hash) of every item."""
    it = t.items
    with store.read() as conn:
        rows = conn.execute(select(it.c.key, it.c.data, it.c.meta, it.c.content_hash)).all()
    return {r.key: (json.loads(r.data), json.loads(r.meta), r.content_hash) for r in rows}


def test_undeclared_fields_are_metadata_outside_the_hash(workspace, store, cli, tmp_path):
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    assert cli("schema", "apply", str(tmp_path / "schema.yaml")).code == 0
    path = tmp_path / "items.csv"
    path.write_text("id,text,label,author\nm1,hello,spam,ann\nm2,bye,ham,\n")
    result = cli("import", "items", str(path))
    assert result.code == 0, result.err
    warning = [x for x in result.err.splitlines() if x.startswith("warning:")]
    assert warning == [
        "warning: fields not declared in schema 1.0 inputs: label (2 rows), author (1 rows); "
        "kept as item metadata (not shown to annotators, not in the content hash)"
    ]
    items = items_by_key(store)
    assert items["m1"][:2] == (
        {"text": "hello"},
        {"undeclared": {"label": "spam", "author": "ann"}},
    )
    assert items["m1"][2] == item_content_hash({"text": "hello"})
    report = import_items(store, None, path)
    assert (report.duplicates, report.undeclared_fields) == (2, {"label": 2, "author": 1})

    # telemetry for the same text attaches to the item instead of creating another
    tel = ingest_telemetry(
        store,
        None,
        [
            {
                "input": {"text": "hello", "channel": "sms"},
                "prediction": "spam",
                "confidence": 0.9,
                "model": "m",
                "model_version": "1",
                "timestamp": "2026-01-01T00:00:00Z",
            }
        ],
    )
    assert (tel.new_items, tel.matched_items, tel.added) == (0, 1, 1)
    assert tel.undeclared_fields == {"channel": 1}


def test_items_without_id_dedupe_on_declared_content(workspace, store, cli, tmp_path):
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    cli("schema", "apply", str(tmp_path / "schema.yaml"))
    path = tmp_path / "items.jsonl"
    path.write_text('{"text": "hi", "source": "a"}\n{"text": "hi", "source": "b"}\n')
    report = import_items(store, None, path)
    assert (report.added, report.duplicates) == (1, 1)
    key = item_key(None, item_content_hash({"text": "hi"}))
    assert items_by_key(store)[key][1] == {"undeclared": {"source": "a"}}


def test_items_imported_before_the_schema_declared_inputs_are_not_duplicated(
    workspace, store, cli, tmp_path
):
    with_id = tmp_path / "with_id.csv"
    with_id.write_text("id,text,label\nm1,hello,spam\n")
    no_id = tmp_path / "no_id.jsonl"
    no_id.write_text('{"text": "hi", "label": "ham"}\n')
    import_items(store, None, with_id)
    import_items(store, None, no_id)
    before = items_by_key(store)
    assert before["m1"][0] == {"text": "hello", "label": "spam"}  # no schema: all content
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    cli("schema", "apply", str(tmp_path / "schema.yaml"))
    # the same files again under the schema's inputs: duplicates (stored hashes kept)
    for path in (with_id, no_id):
        report = import_items(store, None, path)
        assert (report.added, report.duplicates, report.rejected) == (0, 1, 0)
    after = items_by_key(store)
    assert {k: v for k, v in after.items() if k in before} == before
    assert len(after) == len(before) + 2  # the schema's two worked examples


def test_worked_examples_and_imported_rows_share_one_identity(workspace, store, cli, tmp_path):
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    assert cli("schema", "apply", str(tmp_path / "schema.yaml")).code == 0
    path = tmp_path / "items.jsonl"
    path.write_text('{"text": "see you at 6", "label": "ham"}\n')
    report = import_items(store, None, path)
    assert (report.added, report.duplicates) == (0, 1)  # the worked example's item
    key = item_key(None, item_content_hash({"text": "see you at 6"}))
    assert items_by_key(store)[key][1]["calibration"] is True


def test_a_row_with_no_declared_field_is_rejected_not_collapsed(workspace, store, cli, tmp_path):
    (tmp_path / "schema.yaml").write_text(
        SCHEMA.replace("    required: true\nlabels:", "    required: false\nlabels:")
    )
    assert cli("schema", "apply", str(tmp_path / "schema.yaml")).code == 0
    path = tmp_path / "items.jsonl"
    path.write_text('{"text": "hi"}\n{"body": "a"}\n{"body": "b"}\n')
    with pytest.raises(InvalidInput) as info:
        import_items(store, None, path)
    assert "line 2" in str(info.value)
    assert "saw only fields the schema does not declare ['body']" in str(info.value)
    report = import_items(store, None, path, skip_invalid=True)
    assert (report.added, report.rejected, report.undeclared_fields) == (1, 2, None)
