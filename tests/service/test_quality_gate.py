"""Live quality with automatic action, on real crowd answers (RTE, tests/data/crowd_small).

The project holds the RTE items; a quarter are gold, the rest carry the real answers of
every other worker. A real spammer (worker A11GX90QFWDLMM, 50 % on gold over 760 answers)
passes calibration (a bait-and-switch) and then replays their real answers on what they
are served, at gold rate 10 % (30 % for the first 20 tasks, the project default): they are
flagged and then suspended, sent back to calibration, within 50 answers, with the evidence
recorded. A good real worker replayed the same way (their real answer where they gave one, else RTE's
expert label) stays in production over the same 50 tasks, unflagged.
"""

from __future__ import annotations

import csv

from labelloop.service.annotate.submit import Submission, submit
from labelloop.service.annotate.work import add_person, next_task, people_status
from labelloop.service.source.imports import import_answers
from tests import realdata
from tests.service.test_work import project_events
from tests.service.work_helpers import calibrate, make_project

SPAMMER = "A11GX90QFWDLMM"
GOOD = "A15L6WGIK3VU7N"  # 92 % on gold over 280 answers


def rte_project(store, tmp_path):
    folder = realdata.crowd("rte")
    with open(folder / "gold.csv", encoding="utf-8") as fh:
        gold = {r["task"]: r["label"] for r in csv.DictReader(fh)}
    with open(folder / "answers.csv", encoding="utf-8") as fh:
        answers = list(csv.DictReader(fh))
    tasks = sorted(gold, key=int)
    gold_tasks = set(tasks[::4])
    truth = make_project(
        store,
        tmp_path,
        items={t: f"rte pair {t}" for t in tasks},
        gold={t: gold[t] for t in gold_tasks},
        labels=("0", "1"),
    )
    others = tmp_path / "others.csv"
    with open(others, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["worker", "task", "label"])
        writer.writerows(
            (r["worker"], r["task"], r["label"])
            for r in answers
            if r["worker"] not in (SPAMMER, GOOD) and r["task"] not in gold_tasks
        )
    import_answers(store, None, others)
    real = {}
    for r in answers:
        real.setdefault(r["worker"], {})[f"rte pair {r['task']}"] = r["label"]
    expert = {f"rte pair {t}": label for t, label in gold.items()}
    return truth, real, expert


def replay(store, person, worker_answers, fallback, limit):
    """Serve ``person`` up to ``limit`` production tasks, answering with the worker's real
    answer on the item (``fallback(text)`` where they gave none); returns the number of
    answers given before the person left production (or ``limit``)."""
    for n in range(limit):
        stage = {p["labeler_id"]: p["stage"] for p in people_status(store, None)}[person]
        if stage != "production":
            return n
        task = next_task(store, None, person)
        text = task.data["text"]
        label = worker_answers.get(text) or fallback(text)
        submit(store, None, Submission(person, task.assignment, f"r{n}", label=label))
    return limit


def test_a_real_spammer_is_suspended_within_50_answers_and_a_good_worker_is_not(store, tmp_path):
    truth, real, expert = rte_project(store, tmp_path)
    spammer = add_person(store, None, SPAMMER)
    good = add_person(store, None, GOOD)
    calibrate(store, spammer, truth)
    calibrate(store, good, truth)

    sequence = iter(list(real[SPAMMER].values()) * 2)
    answered = replay(store, spammer, real[SPAMMER], lambda _: next(sequence), 50)
    assert answered < 50, answered
    print(f"spammer suspended after {answered} production answers")
    stages = {p["labeler_id"]: p for p in people_status(store, None)}
    assert stages[spammer]["stage"] == "calibration" and stages[spammer]["round"] == 2
    suspended = [
        e for e in project_events(store, "labeler_status") if e["payload"]["status"] == "suspended"
    ]
    assert len(suspended) == 1
    evidence = suspended[0]["payload"]["evidence"]
    assert evidence["consensus_total"] + evidence["gold_total"] <= answered
    assert evidence["consensus_agreement"] < 0.7
    flags = [e for e in project_events(store, "flag") if e["payload"].get("reason")]
    assert flags and flags[0]["seq"] < suspended[0]["seq"]  # flagged first, then suspended
    # back in calibration, the spammer gets gold they never had, never a production item
    task = next_task(store, None, spammer)
    assert task is not None and task.data["text"] in truth

    # the good worker answers 50 tasks (their real answer where they gave one, else the
    # expert label of RTE's gold) and stays in production
    assert replay(store, good, real[GOOD], expert.__getitem__, 50) == 50
    assert not [
        e for e in project_events(store, "flag") if e["labeler"] and e["labeler"]["name"] == GOOD
    ]
