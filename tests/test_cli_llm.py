"""`labelloop llm label` end to end: a workspace, the demo schema and a loopback LLM server."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

import labelloop
from labelloop.service.annotate.llm import CACHE_PATH, llm_label
from labelloop.service.project.schemas import apply_schema_file
from labelloop.service.project.status import verify_chain
from labelloop.service.source.imports import import_items
from labelloop.store import repo
from labelloop.store import tables as t
from tests.labelers.llm_server import LLMServer, Reply, ok, status

DEMO = Path(labelloop.__file__).parent / "data" / "demo"
N_ITEMS = 8


def _text(request: dict) -> str:
    """The item's text (the last "Item:" turn; a corrective turn may follow it)."""
    item = [m["content"] for m in request["messages"] if m["content"].startswith("Item:")][-1]
    return json.loads(item.split("\n", 1)[1])["text"]


def _responder(request: dict) -> Reply:
    text = _text(request).lower()
    if "weird" in text:
        return ok("unsure")  # outside the schema, every time
    return ok("spam" if ("check" in text or "subscribe" in text) else "ham")


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with LLMServer(_responder) as srv:
        yield srv


@pytest.fixture
def project(store, workspace):
    """The demo schema and the first N_ITEMS demo comments (plus one the LLM cannot label)."""
    apply_schema_file(store, None, DEMO / "spam_schema.yaml")
    with (DEMO / "youtube_items.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[: N_ITEMS - 1]
    rows.append({**rows[0], "comment_id": "weird-1", "text": "a weird one"})
    path = workspace / "items.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import_items(store, None, path, id_field="comment_id")
    return store


def _llm_answers(store):
    with store.read() as conn:
        return conn.execute(
            select(t.events, t.labelers.c.kind, t.labelers.c.name, t.labelers.c.version)
            .join(t.labelers, t.labelers.c.id == t.events.c.labeler_id)
            .where(t.labelers.c.kind == "llm")
            .order_by(t.events.c.seq)
        ).all()


def test_label_records_answers_with_provenance_and_reruns_add_nothing(project, server, cli):
    args = ("llm", "label", "--base-url", server.url, "--model", "test-model", "--json")
    result = cli(*args, "--concurrency", "2", "--max-retries", "1", "--price-prompt", "1")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert (report["pending"], report["asked"], report["labeled"], report["failed"]) == (8, 8, 7, 1)
    assert report["events_added"] == 7 and report["skipped_examples"] == 4
    assert report["failures"][0]["item"] == "weird-1"
    assert report["failures"][0]["failure"].startswith("label_not_in_schema")
    assert report["requests"] == 7 + 2 and report["prompt_tokens"] == 900
    assert report["cost"] == pytest.approx(0.9)
    assert report["failures_by_kind"] == {"label_not_in_schema": 1}
    # the schema's worked examples are calibration items in the project, never asked
    assert all("Check out my channel for more covers" not in _text(r) for r in server.requests)

    answers = _llm_answers(project)
    assert len(answers) == 7
    first = answers[0]
    assert (first.type, first.source, first.kind, first.name) == (
        "answer",
        "model",
        "llm",
        "test-model",
    )
    assert first.version == report["labeler_version"]
    payload = json.loads(first.payload)
    assert payload["llm"] is True and payload["endpoint"] == server.url
    assert payload["params"]["temperature"] == 0 and payload["cached"] is False
    assert payload["prompt_tokens"] == 100 and len(payload["prompt_hash"]) == 64
    assert json.loads(first.label) in ("spam", "ham")

    # Only the failure is asked again; nothing is duplicated.
    n = len(server.requests)
    again = json.loads(cli(*args).out)
    assert (again["pending"], again["asked"], again["events_added"]) == (1, 1, 0)
    assert len(server.requests) == n + 4  # 1 + 3 retries, still outside the schema
    assert len(_llm_answers(project)) == 7
    assert verify_chain(project, None).ok


def test_text_output_lists_failures_and_limit(project, server, cli):
    result = cli(
        "llm", "label", "--base-url", server.url, "--model", "m2", "--limit", "3", "--no-cache"
    )
    assert result.code == 0, result.err
    assert "asked 3 of 8 unanswered item(s); labeled 3 (0 from cache), failed 0" in result.out
    assert "3 request(s), 300 prompt + 30 completion tokens" in result.out
    result = cli("llm", "label", "--base-url", server.url, "--model", "m2", "--no-cache")
    assert "asked 5 of 5 unanswered" in result.out
    assert "failed: weird-1: label_not_in_schema:" in result.out
    assert not (Path.cwd() / CACHE_PATH).exists()


def test_other_parameters_are_another_labeler_version(project, server):
    a = llm_label(project, None, base_url=server.url, model="m", limit=2)
    b = llm_label(project, None, base_url=server.url, model="m", limit=2, temperature=0.5)
    assert a.labeler_version != b.labeler_version and b.asked == 2 and b.events_added == 2
    with project.read() as conn:
        kinds = conn.execute(
            select(t.labelers.c.kind, t.labelers.c.name).where(t.labelers.c.kind == "llm")
        ).all()
    assert sorted(kinds) == [("llm", "m"), ("llm", "m")]


def test_cache_is_shared_across_projects_of_the_workspace(project, server, workspace):
    cache = workspace / CACHE_PATH
    first = llm_label(project, None, base_url=server.url, model="m", cache_path=cache)
    assert first.labeled == 7 and first.cached == 0
    with project.write() as conn:
        repo.create_project(conn, "copy")
    apply_schema_file(project, "copy", DEMO / "spam_schema.yaml")
    import_items(project, "copy", workspace / "items.csv", id_field="comment_id")
    n = len(server.requests)
    second = llm_label(project, "copy", base_url=server.url, model="m", cache_path=cache)
    assert (second.labeled, second.cached, second.requests) == (7, 7, 4)  # 4: the failure
    assert len(server.requests) == n + 4 and second.prompt_tokens == 400


def test_errors_are_one_line(project, server, cli, store):
    server.push(status(401, "bad key"))
    result = cli("llm", "label", "--base-url", server.url, "--model", "m", "--concurrency", "1")
    assert result.code == 2 and result.err.count("\n") == 1
    assert result.err.startswith("error: ") and "HTTP 401" in result.err
    assert _llm_answers(store) == []
    result = cli("llm", "label", "--base-url", "localhost:1", "--model", "m")
    assert result.code == 2 and "is not an http(s) URL" in result.err


def test_help(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # option names are cut short in narrow terminals
    result = cli("llm", "label", "--help")
    assert result.code == 0
    for option in ("--base-url", "--model", "--limit", "--concurrency", "--self-consistency"):
        assert option in result.out
    assert "LABELLOOP_LLM_API_KEY" in result.out


def test_a_project_without_schema_is_refused(workspace, cli, server):
    result = cli("llm", "label", "--base-url", server.url, "--model", "m")
    assert result.code == 2 and "has no schema yet" in result.err and not server.requests


def test_concurrent_runs_neither_lose_nor_duplicate_answers(project, server):
    import threading

    reports = []

    def run():
        reports.append(llm_label(project, None, base_url=server.url, model="m", max_retries=0))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(r.events_added for r in reports) == 7
    answers = _llm_answers(project)
    assert len(answers) == 7 and len({a.item_id for a in answers}) == 7
    assert verify_chain(project, None).ok


def _closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_nothing_recorded_although_items_were_asked_exits_non_zero(project, cli):
    result = cli(
        "llm", "label", "--base-url", _closed_port_url(), "--model", "m", "--max-retries", "0"
    )
    assert result.code == 1
    assert "failed 8; 0 answer(s) recorded" in result.out
    assert result.err.startswith("error: all 8 item(s) asked failed; no answer recorded")
    assert result.err.count("\n") == 1
    assert _llm_answers(project) == []


def test_nothing_to_ask_is_not_a_failure(project, server, cli):
    args = ("llm", "label", "--base-url", server.url, "--model", "m", "--no-cache")
    cli(*args)  # the weird item stays failed: 7 of 8 recorded, exit 0
    server.responder = lambda request: ok("ham")
    assert cli(*args).code == 0  # the last one
    result = cli(*args)
    assert result.code == 0 and "asked 0 of 0" in result.out


@pytest.fixture
def many(store, workspace):
    """The demo schema and 30 demo comments."""
    apply_schema_file(store, None, DEMO / "spam_schema.yaml")
    with (DEMO / "youtube_items.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:30]
    path = workspace / "many.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import_items(store, None, path, id_field="comment_id")
    return store


def _fail_after(n_ok: int):
    """A responder answering the first ``n_ok`` requests and failing (HTTP 500) after."""
    served = []

    def respond(request: dict) -> Reply:
        served.append(1)
        return ok("ham") if len(served) <= n_ok else status(500, "down")

    return respond


def test_a_run_stops_early_above_max_failures_and_keeps_what_succeeded(many, cli):
    with LLMServer(_fail_after(4)) as srv:
        result = cli(
            "llm", "label", "--base-url", srv.url, "--model", "m", "--json",
            "--concurrency", "1", "--max-retries", "0", "--no-cache",
        )  # fmt: skip
        n_requests = len(srv.requests)
    assert result.code == 1
    report = json.loads(result.out)
    pending = report["pending"]
    # 4 answered, then failures: after the 10th item 6 of 10 failed (> 0.5): stop
    assert (report["asked"], report["labeled"], report["failed"]) == (10, 4, 6)
    assert report["stopped_early"] is True and report["not_asked"] == pending - 10
    assert n_requests == 10 and report["events_added"] == 4
    assert len(_llm_answers(many)) == 4
    assert "error: stopped early: 6 of 10 item(s) asked failed" in result.err
    assert f"{pending - 10} item(s) not asked, 4 answer(s) recorded" in result.err


def test_max_failures_one_never_stops(many, cli):
    with LLMServer(_fail_after(4)) as srv:
        result = cli(
            "llm", "label", "--base-url", srv.url, "--model", "m", "--json",
            "--concurrency", "1", "--max-retries", "0", "--no-cache", "--max-failures", "1",
        )  # fmt: skip
    report = json.loads(result.out)
    assert report["asked"] == report["pending"] > 10 and report["stopped_early"] is False
    assert report["labeled"] == 4 and result.code == 0  # some answers recorded


def test_max_failures_must_be_a_share(many, server):
    from labelloop.errors import InvalidInput

    with pytest.raises(InvalidInput, match="between 0 and 1"):
        llm_label(many, None, base_url=server.url, model="m", max_failures=1.5)
    assert not server.requests
