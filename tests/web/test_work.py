"""People at work over HTTP: blind tasks, the calibration gate on every route, idempotent
submissions, and many clients submitting at once (SQLite and PostgreSQL, by --backend)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labelloop.service.project import accounts
from labelloop.service.project.status import project_status
from labelloop.service.project.workspace import load_secret_key, open_workspace
from tests.service.work_helpers import example_text, make_project
from tests.web.conftest import make_app

API = "/api/v1/projects/test"
ITEMS = {f"p{i}": f"production text {i}" for i in range(60)}
GOLD = {f"p{i}": ("yes", "no")[i % 2] for i in range(10)}
"""The first ten production items are hidden gold."""
ANNOTATORS = 4


@dataclass
class Work:
    app: Any
    client: TestClient
    truth: dict[str, str]
    """The right label by item text (worked examples and gold)."""
    tokens: dict[str, str]

    def as_(self, user: str, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def next_task(self, user: str, client: TestClient | None = None) -> dict[str, Any] | None:
        res = (client or self.client).get(f"{API}/tasks/next", headers=self.as_(user))
        assert res.status_code == 200, res.text
        task: dict[str, Any] | None = res.json()["task"]
        return task

    def answer(
        self, user: str, task: str, label: Any, key: str, client: TestClient | None = None
    ) -> Any:
        return (client or self.client).post(
            f"{API}/tasks/{task}/answer", json={"label": label}, headers=self.as_(user, key)
        )


@pytest.fixture
def work(workspace: Path, tmp_path: Path) -> Iterator[Work]:
    tokens = {}
    with open_workspace(workspace) as ws:
        truth = make_project(ws.store, tmp_path, items=ITEMS, gold=GOLD)
        keys = accounts.Keys.from_secret(load_secret_key(ws.root))
        users = [("boss", "admin"), ("rev", "reviewer"), ("exp", "expert")]
        users += [(f"a{n}", "annotator") for n in range(ANNOTATORS)]
        for name, role in users:
            added = accounts.add_user(ws.store, name, role=role, project_name="test")
            tokens[name] = accounts.create_api_token(ws.store, keys, added.user, "tests")[1]
    app = make_app(workspace)
    with TestClient(app) as client:
        yield Work(app, client, truth, tokens)


def calibrate(work: Work, user: str, client: TestClient | None = None) -> int:
    """Answer the calibration set right through the API; returns the tasks it took."""
    for n in range(100):
        task = work.next_task(user, client)
        assert task is not None
        text = task["data"]["text"]
        if text not in work.truth or not text.startswith("worked example"):
            return n  # a production task (or gold mixed in): past the gate
        res = work.answer(user, task["assignment"], work.truth[text], f"cal{n}", client)
        assert res.status_code == 200, res.text
    raise AssertionError("calibration did not end")


def test_a_task_is_blind(work: Work) -> None:
    task = work.next_task("a0")
    assert task is not None
    assert set(task) == {"assignment", "data", "schema_version", "expires_at"}
    assert set(task["data"]) == {"text"}  # the schema's declared fields, nothing else
    assert work.next_task("a0") == task  # one lease at a time: asking again returns it
    res = work.answer("a0", task["assignment"], "yes", "k1")
    assert res.status_code == 200
    assert set(res.json()) == {"assignment", "event_id", "seq", "type", "replayed"}


def test_an_annotator_cannot_read_gold_answers_or_suggestions_by_any_route(work: Work) -> None:
    calibrate(work, "a1")
    calibrate(work, "a0")  # a0 past the gate, with others' answers and gold in the store
    doc = work.app.openapi()
    seen: list[str] = []
    for path, methods in doc["paths"].items():
        if "get" not in methods or "{project}" not in path:
            continue
        for key in [*GOLD, "p30"]:
            url = path.replace("{project}", "test").replace("{key}", key)
            res = work.client.get(url, headers=work.as_("a0"))
            assert res.status_code in (200, 404), (url, res.status_code)
            if res.status_code == 200:
                seen.append(res.text)
    assert seen  # the summary and the next task at least
    for text in seen:
        assert '"a1"' not in text  # no other person, nor their answers
        assert '"suggestion"' not in text and '"events":[' not in text
        assert not any(f'"{key}"' in text for key in GOLD)  # no gold item named


def test_in_calibration_no_production_item_by_any_route(work: Work) -> None:
    calibration = {example_text(i) for i in range(20)}
    production = set(ITEMS.values())
    for n in range(40):  # every answer wrong: the gate never opens
        task = work.next_task("a2")
        if task is None:
            break
        assert task["data"]["text"] in calibration, task
        label = "no" if work.truth[task["data"]["text"]] == "yes" else "yes"
        assert work.answer("a2", task["assignment"], label, f"w{n}").status_code == 200
    people = work.client.get(f"{API}/people", headers=work.as_("boss")).json()
    assert [p["stage"] for p in people] == ["calibration"]
    assert work.client.get(f"{API}/items", headers=work.as_("a2")).status_code == 404
    for key in ITEMS:
        assert work.client.get(f"{API}/items/{key}", headers=work.as_("a2")).status_code == 404
    doc = work.app.openapi()
    for path, methods in doc["paths"].items():
        if "get" in methods and "{project}" in path and "{key}" not in path:
            res = work.client.get(path.replace("{project}", "test"), headers=work.as_("a2"))
            assert not any(text in res.text for text in production), path


def test_idempotency_replay_and_conflict(work: Work) -> None:
    task = work.next_task("a0")
    assert task is not None
    url = f"{API}/tasks/{task['assignment']}/answer"
    first = work.client.post(url, json={"label": "yes"}, headers=work.as_("a0", "same"))
    again = work.client.post(url, json={"label": "yes"}, headers=work.as_("a0", "same"))
    assert first.status_code == again.status_code == 200
    assert again.json() == {**first.json(), "replayed": True}
    assert first.json()["replayed"] is False
    other = work.client.post(url, json={"label": "no"}, headers=work.as_("a0", "same"))
    assert other.status_code == 422 and "same" in other.json()["detail"]
    missing = work.client.post(url, json={"label": "yes"}, headers=work.as_("a0"))
    assert missing.status_code == 422 and "Idempotency-Key" in missing.json()["detail"]
    # within the undo window a new key changes the answer: a correction of the first
    changed = work.client.post(url, json={"label": "no"}, headers=work.as_("a0", "undo"))
    assert changed.status_code == 200 and changed.json()["type"] == "correction"
    # a key is the person's own: another person's same key is theirs, not a replay
    theirs = work.next_task("a1")
    assert theirs is not None
    res = work.answer("a1", theirs["assignment"], "yes", "same")
    assert res.status_code == 200 and res.json()["replayed"] is False
    # nobody answers someone else's task
    res = work.answer("a1", task["assignment"], "yes", "steal")
    assert res.status_code == 404


def test_skip_with_a_comment_and_bad_labels(work: Work) -> None:
    task = work.next_task("a0")
    assert task is not None
    url = f"{API}/tasks/{task['assignment']}"
    res = work.client.post(f"{url}/answer", json={"label": "maybe"}, headers=work.as_("a0", "bad"))
    assert res.status_code == 422 and "maybe" in res.json()["detail"]
    res = work.client.post(
        f"{url}/skip",
        json={"reason": "bad_item", "comment": "unreadable"},
        headers=work.as_("a0", "s1"),
    )
    assert res.status_code == 200 and res.json()["type"] == "flag"
    res = work.client.post(f"{url}/answer", json={"label": "yes"}, headers=work.as_("a0", "s2"))
    assert res.status_code == 409


def test_decisions_policy_and_people(work: Work) -> None:
    boss, rev = work.as_("boss"), work.as_("rev")
    res = work.client.put(f"{API}/policy", json={"overlap": 2}, headers=boss)
    assert res.status_code == 200 and res.json()["overlap"] == 2
    assert work.client.get(f"{API}/policy", headers=boss).json()["overlap"] == 2
    res = work.client.put(f"{API}/policy", json={"overlap": 9}, headers=boss)
    assert res.status_code == 422 and "max_overlap" in res.json()["detail"]
    res = work.client.put(f"{API}/policy", json={"colour": 1}, headers=boss)
    assert res.status_code == 422
    res = work.client.post(f"{API}/decisions", json={"item": "p40", "label": "no"}, headers=rev)
    assert res.status_code == 200 and res.json()["label"] == "no"
    item = work.client.get(f"{API}/items/p40", headers=rev).json()
    assert [e["type"] for e in item["events"]] == ["adjudication"]
    res = work.client.post(f"{API}/decisions", json={"item": "p40", "label": "x"}, headers=rev)
    assert res.status_code == 422
    res = work.client.post(f"{API}/decisions", json={"item": "zz", "label": "no"}, headers=rev)
    assert res.status_code == 404


def test_concurrent_clients_lose_and_duplicate_nothing(work: Work) -> None:
    work.client.put(
        f"{API}/policy", json={"overlap": 1, "max_overlap": 1}, headers=work.as_("boss")
    )
    acknowledged: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def person(user: str) -> None:
        try:
            client = TestClient(work.app)  # its own client; the app's one writer
            n = 0
            while (task := work.next_task(user, client)) is not None:
                label = work.truth.get(task["data"]["text"], "yes")
                res = work.answer(user, task["assignment"], label, f"k{n}", client)
                assert res.status_code == 200, res.text
                retry = work.answer(user, task["assignment"], label, f"k{n}", client)
                assert retry.json() == {**res.json(), "replayed": True}
                with lock:
                    acknowledged.append(res.json()["event_id"])
                n += 1
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=person, args=(f"a{n}",)) for n in range(ANNOTATORS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failures, failures[0]
    assert len(set(acknowledged)) == len(acknowledged)
    with open_workspace(Path.cwd()) as ws:
        status = project_status(ws.store, "test")
    assert status["answers"] == len(acknowledged)  # every acknowledged answer stored once
    assert len(acknowledged) >= ANNOTATORS * 20 + len(ITEMS) - len(GOLD)  # all work done


def test_a_lease_too_long_for_dates_is_refused(work: Work) -> None:
    boss = work.as_("boss")
    res = work.client.put(f"{API}/policy", json={"lease_seconds": 10**12}, headers=boss)
    assert res.status_code == 422 and "lease_seconds" in res.json()["detail"]
    assert work.next_task("a0") is not None  # the policy in force still works
