"""The single writer: many threads taking tasks and submitting at once lose and duplicate
nothing (SQLite and PostgreSQL, by --backend); a bad submission fails alone, not its group."""

from __future__ import annotations

import threading

import pytest

from labelloop.errors import InvalidInput
from labelloop.service.annotate.submit import Submission, SubmissionWriter
from labelloop.service.annotate.work import add_person, set_policy
from labelloop.service.project.status import project_status
from tests.service.work_helpers import make_project

THREADS = 8
TASKS = 24


def test_many_threads_submitting_lose_and_duplicate_nothing(store, tmp_path):
    truth = make_project(
        store, tmp_path, items={f"t{i}": f"text {i}" for i in range(THREADS * TASKS)}
    )
    set_policy(store, None, overlap=1, max_overlap=1)
    people = [add_person(store, None, f"p{n}") for n in range(THREADS)]
    acknowledged: list[tuple[int, int, bool]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    with SubmissionWriter(store, None) as writer:

        def person_works(person: int) -> None:
            try:
                for n in range(TASKS):
                    task = writer.next_task(person, timeout=60)
                    if task is None:
                        return
                    label = truth.get(task.data["text"], "yes")
                    sub = Submission(person, task.assignment, f"key{n}", label=label)
                    first = writer.submit(sub, timeout=60)
                    retry = writer.submit(sub, timeout=60)  # a client retrying after a timeout
                    assert retry.replayed and retry.event_id == first.event_id
                    with pytest.raises(InvalidInput):  # a bad one fails alone
                        writer.submit(
                            Submission(person, task.assignment, f"bad{n}", label="maybe"),
                            timeout=60,
                        )
                    with lock:
                        acknowledged.append((person, first.event_id, first.replayed))
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=person_works, args=(p,)) for p in people]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert not failures, failures[0]
    assert len(acknowledged) == THREADS * TASKS
    assert len({event_id for _, event_id, _ in acknowledged}) == len(acknowledged)
    assert not any(replayed for _, _, replayed in acknowledged)
    # every acknowledged answer is stored once (calibration answers included), no more
    assert project_status(store, None)["answers"] == len(acknowledged)
