"""Submissions of people: answers, changes within the undo window, skips and flags, written
by one writer with group commit.

A :class:`Submission` names the person (labeler id), the task's opaque assignment id and an
idempotency key (scoped to the person: the same key with the same content returns the
original result, with other content it is an InvalidInput). An answer is validated against
the schema version in force and becomes an ``answer`` event carrying the time on task; an
answer to an assignment the person already submitted, within ``undo_seconds``, becomes a
``correction`` event of it; a skip (``cannot_tell`` or ``bad_item``, with a comment) is a
project-level ``flag`` event naming the item. An expert's answer on an item of the expert
queue is an ``adjudication`` event by that expert (later ``labelloop aggregate`` runs keep it).

After each submission, in the same transaction:

- calibration: the gate (:func:`labelloop.core.quality.calibration_verdict`); passing
  appends a ``labeler_status`` event with the evidence;
- production: live accuracy on gold and agreement with other people's consensus
  (:func:`labelloop.core.quality.monitor_verdict`); a flag appends a ``flag`` event, a
  suspension a ``labeler_status`` event (the person goes back to calibration, next round);
- adaptive overlap: the item's posterior from its answers and cached reliabilities
  (:class:`Reliabilities`, re-fitted every ``refit_every`` submissions) decides whether it
  is done, needs another person, or goes to the expert queue.

:class:`SubmissionWriter` takes submissions from many threads, gathers what arrived, writes
the group in one transaction over one reused connection (each submission in a savepoint,
so a bad one fails alone) and acknowledges each after the commit.
"""

from __future__ import annotations

import json
import queue
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from labelloop.core.answers import Answers
from labelloop.core.provenance import content_hash
from labelloop.core.quality import (
    Evidence,
    calibration_verdict,
    fit_reliabilities,
    item_posterior,
    monitor_verdict,
    one_coin_confusion,
    overlap_verdict,
)
from labelloop.errors import Conflict, InvalidInput, LabelloopError, NotFound
from labelloop.schema import MultiLabelSchema, Schema
from labelloop.service.annotate.work import (
    AnnotationPolicy,
    Task,
    _schema,
    annotator,
    load_policy,
    next_task_in,
    person_kind,
)
from labelloop.store import assignments as asg
from labelloop.store import repo
from labelloop.store.engine import Connection, Store

SKIP_REASONS = ("cannot_tell", "bad_item")
MAX_KEY = 100
CONSENSUS_WINDOW = 200
"""A person's latest production answers that agreement with consensus looks at."""
MIN_FIT_ANSWERS = 50
"""Below this many people's answers, reliabilities come from calibration alone."""


@dataclass(frozen=True)
class Submission:
    labeler_id: int
    assignment: str
    idempotency_key: str
    label: Any = None
    skip: str | None = None
    comment: str | None = None
    time_spent_ms: int | None = None

    def fingerprint(self) -> str:
        return content_hash(
            {
                "assignment": self.assignment,
                "label": self.label,
                "skip": self.skip,
                "comment": self.comment,
            }
        )


@dataclass(frozen=True)
class SubmissionResult:
    assignment: str
    event_id: int
    seq: int
    type: str
    """``answer``, ``correction``, ``adjudication`` or ``flag`` (a skip)."""
    replayed: bool = False
    """True when the idempotency key was seen before: this is the original result."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Reliabilities:
    """Cached confusion matrices of people, re-fitted with the default aggregator every
    ``refit_every`` submissions; a person not in the last fit is known by their
    calibration accuracy (one-coin)."""

    def __init__(self) -> None:
        self.labels: tuple[str, ...] = ()
        self.confusions: dict[int, np.ndarray] = {}
        self.prior: np.ndarray | None = None
        self.since_fit = 0
        self.fitted = False

    def refit(self, conn: Connection, project: repo.Project, schema: Schema) -> None:
        space = tuple(schema.label_space.labels)
        self.labels, self.confusions, self.prior = space, {}, None
        self.since_fit, self.fitted = 0, True
        rows = asg.people_answers(conn, project)
        rows = [(i, w, y) for i, w, y in rows if isinstance(y, str) and y in space]
        if len(rows) < MIN_FIT_ANSWERS:
            return
        items, item_code = np.unique([r[0] for r in rows], return_inverse=True)
        people, person_code = np.unique([r[1] for r in rows], return_inverse=True)
        codes = np.array([space.index(r[2]) for r in rows])
        answers = Answers(item_code, person_code, codes, len(items), len(people), len(space))
        pi, self.prior = fit_reliabilities(answers)
        self.confusions = {int(p): pi[c] for c, p in enumerate(people.tolist())}

    def posterior(
        self,
        conn: Connection,
        project: repo.Project,
        schema: Schema,
        policy: AnnotationPolicy,
        votes: Sequence[tuple[int, Any]],
    ) -> np.ndarray:
        """Posterior of one item from its people's answers: O(answers)."""
        if (
            not self.fitted
            or self.since_fit >= policy.refit_every
            or self.labels != tuple(schema.label_space.labels)
        ):
            self.refit(conn, project, schema)
        n = len(self.labels)
        kept = [
            (w, self.labels.index(y)) for w, y in votes if isinstance(y, str) and y in self.labels
        ]
        pis = [self.confusions.get(w) for w, _ in kept]
        for j, (w, _) in enumerate(kept):
            if pis[j] is None:
                pis[j] = one_coin_confusion(_calibration_accuracy(conn, project, w), n)
        prior = self.prior if self.prior is not None else np.full(n, 1.0 / n)
        stack = np.array(pis) if pis else np.zeros((0, n, n))
        return item_posterior([c for _, c in kept], stack, prior)


def _calibration_accuracy(conn: Connection, project: repo.Project, labeler_id: int) -> float:
    """A person's calibration accuracy (add-one smoothed), within [0.55, 0.95]."""
    state = asg.get_annotator(conn, project, labeler_id)
    correct, graded = asg.graded(
        conn, project, labeler_id, kinds=("calibration",), round=1 if state is None else state.round
    )
    return float(min(max((correct + 1) / (graded + 2), 0.55), 0.95))


def _check(sub: Submission, schema: Schema) -> Any:
    """The submission's label in canonical form, or None for a skip; InvalidInput else."""
    if not isinstance(sub.idempotency_key, str) or not 0 < len(sub.idempotency_key) <= MAX_KEY:
        raise InvalidInput(
            f"idempotency key {sub.idempotency_key!r}: expected 1 to {MAX_KEY} characters",
            field="idempotency_key",
        )
    if sub.time_spent_ms is not None and (
        not isinstance(sub.time_spent_ms, int) or sub.time_spent_ms < 0
    ):
        raise InvalidInput(
            f"time on task {sub.time_spent_ms!r}: expected milliseconds >= 0", field="time_spent_ms"
        )
    if sub.skip is not None:
        if sub.skip not in SKIP_REASONS:
            raise InvalidInput(
                f"skip reason {sub.skip!r}; expected one of {SKIP_REASONS}", field="skip"
            )
        if sub.label is not None:
            raise InvalidInput("a skip carries no label; saw one", field="label")
        return None
    if sub.label is None:
        raise InvalidInput("an answer needs a label (or a skip reason); saw neither", field="label")
    if isinstance(schema, MultiLabelSchema):
        if not isinstance(sub.label, list | tuple):
            raise InvalidInput(f"label {sub.label!r}: expected a list of labels", field="label")
        return list(schema.check_labels(sub.label))
    return schema.check_label(sub.label)


def submit_in(
    conn: Connection,
    project_name: str | None,
    sub: Submission,
    cache: Reliabilities,
    *,
    now: datetime | None = None,
) -> SubmissionResult:
    """One submission inside the caller's write transaction (see module notes)."""
    project = repo.get_project(conn, project_name, lock=True)
    stored_key = f"person:{sub.labeler_id}:{sub.idempotency_key}"
    seen = asg.event_ids_by_key(conn, project, [stored_key]).get(stored_key)
    if seen is not None:
        event_id, seq, _, stored, _ = seen
        body = json.loads(stored or "{}")
        if body.get("request") != sub.fingerprint():
            raise InvalidInput(
                f"idempotency key {sub.idempotency_key!r} was used for another submission; "
                "expected the same content as the first use, or a new key",
                field="idempotency_key",
            )
        return SubmissionResult(body["assignment"], event_id, seq, body["type"], replayed=True)
    kind = person_kind(conn, project, sub.labeler_id)
    version_id, schema = _schema(conn, project)
    label = _check(sub, schema)
    held = asg.get_assignment(conn, project, sub.assignment)
    if held is None or held.labeler_id != sub.labeler_id:
        raise NotFound(f"no assignment {sub.assignment!r} of labeler {sub.labeler_id}")
    policy = load_policy(conn, project)
    now = now or datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    payload: dict[str, Any] = {"assignment": sub.assignment, "request": sub.fingerprint()}
    corrects = None
    if held.status == "submitted":
        if label is None:
            raise Conflict(
                f"assignment {sub.assignment!r} is already answered; it cannot be skipped"
            )
        if held.kind == "expert" or held.event_id is None:
            raise Conflict(f"assignment {sub.assignment!r} is decided; it cannot change")
        done_at = asg.closed_at(conn, held.id)
        if done_at is None or _parse(done_at) + timedelta(seconds=policy.undo_seconds) < now:
            raise Conflict(
                f"assignment {sub.assignment!r} was submitted at {done_at}; answers change only "
                f"within {policy.undo_seconds} s"
            )
        event_type, corrects = "correction", held.event_id
    elif held.status == "skipped":
        raise Conflict(f"assignment {sub.assignment!r} was skipped; it takes no answer")
    elif label is None:
        event_type = "flag"
        payload.update(
            item=asg.item_keys(conn, [held.item_id])[held.item_id],
            reason=sub.skip,
            comment=sub.comment,
        )
    else:
        event_type = "adjudication" if held.kind == "expert" else "answer"
        if held.kind == "expert":
            payload.update(method="expert", confidence=1.0)
    payload["type"] = event_type
    calibration = None
    if kind == "human":
        state = annotator(conn, project, sub.labeler_id)
        correct, graded = asg.graded(
            conn, project, sub.labeler_id, kinds=("calibration",), round=state.round
        )
        if graded:
            calibration = round(
                calibration_verdict(
                    correct, graded, threshold=policy.threshold, min_items=policy.calibration_items
                )[1],
                4,
            )
    repo.append_events(
        conn,
        project.name,
        [
            repo.EventDraft(
                type=event_type,
                item_id=None if event_type == "flag" else held.item_id,
                labeler_id=sub.labeler_id,
                label=label,
                schema_version_id=version_id,
                source="api",
                time_spent_ms=sub.time_spent_ms,
                calibration_score=calibration,
                idempotency_key=stored_key,
                corrects_event_id=corrects,
                payload=payload,
            )
        ],
    )
    event_id, seq, _, _, _ = asg.event_ids_by_key(conn, project, [stored_key])[stored_key]
    correct_now = None
    if held.kind in ("gold", "calibration") and label is not None:
        correct_now = asg.gold_labels(conn, [held.item_id]).get(held.item_id) == label
    asg.close_assignments(
        conn,
        [
            {
                "id": held.id,
                "status": "skipped" if label is None else "submitted",
                "event_id": event_id if corrects is None else held.event_id,
                "correct": correct_now,
            }
        ],
        stamp if corrects is None else asg.closed_at(conn, held.id) or stamp,
    )
    if held.kind == "expert":
        asg.put_item_work(
            conn, project, held.item_id, status="decided", answers=0, label=label, confidence=1.0
        )
    elif held.kind == "work" and label is not None:
        cache.since_fit += 1
        _update_overlap(conn, project, schema, policy, held.item_id, cache)
    if kind == "human" and label is not None:
        _judge_person(conn, project, policy, sub.labeler_id, held.kind)
    return SubmissionResult(sub.assignment, event_id, seq, event_type)


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _update_overlap(
    conn: Connection,
    project: repo.Project,
    schema: Schema,
    policy: AnnotationPolicy,
    item_id: int,
    cache: Reliabilities,
) -> None:
    if isinstance(schema, MultiLabelSchema):  # no posterior: fixed overlap
        votes = asg.item_answers(conn, project, [item_id]).get(item_id, [])
        status = "done" if len(votes) >= policy.overlap else "open"
        asg.put_item_work(
            conn, project, item_id, status=status, answers=len(votes), label=None, confidence=None
        )
        return
    votes = asg.item_answers(conn, project, [item_id]).get(item_id, [])
    post = cache.posterior(conn, project, schema, policy, votes)
    verdict = overlap_verdict(
        post,
        len(votes),
        k=policy.overlap,
        max_answers=policy.max_overlap,
        confidence=policy.confidence,
    )
    top = int(np.argmax(post))
    asg.put_item_work(
        conn,
        project,
        item_id,
        status={"more": "open", "done": "done", "expert": "expert"}[verdict],
        answers=len(votes),
        label=schema.label_space.labels[top],
        confidence=round(float(post[top]), 6),
    )


def evidence_of(conn: Connection, project: repo.Project, labeler_id: int, round: int) -> Evidence:
    """A person's graded production answers: gold, and agreement with the majority of at
    least two other people on their latest production items (a tie grades nothing)."""
    gold_correct, gold_total = asg.graded(conn, project, labeler_id, kinds=("gold",), round=round)
    items = asg.work_items_answered(conn, project, labeler_id, round, CONSENSUS_WINDOW)
    agree = total = 0
    for votes in asg.item_answers(conn, project, items).values():
        mine = [y for w, y in votes if w == labeler_id]
        others = Counter(repr(y) for w, y in votes if w != labeler_id)
        if not mine or sum(others.values()) < 2:
            continue
        (top, n), *rest = [*others.most_common(2), ("", 0)]
        if rest[0][1] == n:
            continue
        total += 1
        agree += repr(mine[-1]) == top
    return Evidence(gold_correct, gold_total, agree, total)


def _judge_person(
    conn: Connection, project: repo.Project, policy: AnnotationPolicy, labeler_id: int, kind: str
) -> None:
    state = annotator(conn, project, labeler_id)
    drafts: list[repo.EventDraft] = []
    if state.stage == "calibration":
        if kind != "calibration":
            return
        correct, graded = asg.graded(
            conn, project, labeler_id, kinds=("calibration",), round=state.round
        )
        passed, bound = calibration_verdict(
            correct, graded, threshold=policy.threshold, min_items=policy.calibration_items
        )
        if passed:
            asg.put_annotator(
                conn, project, asg.Annotator(labeler_id, "production", state.round, None)
            )
            drafts.append(
                _status_event(
                    labeler_id,
                    "production",
                    {
                        "round": state.round,
                        "correct": correct,
                        "answered": graded,
                        "lower_bound": round(bound, 4),
                        "threshold": policy.threshold,
                    },
                )
            )
    else:
        evidence = evidence_of(conn, project, labeler_id, state.round)
        verdict = monitor_verdict(
            evidence,
            threshold=policy.threshold,
            min_evidence=policy.min_evidence,
            flagged_at=state.flagged_at,
            suspend_after=policy.suspend_after,
        )
        detail = {**evidence.as_dict(), "round": state.round, "threshold": policy.threshold}
        flag = _person_event(labeler_id, "flag", {"reason": "accuracy_below_threshold", **detail})
        if verdict == "suspend":
            # flagged, then suspended: a person clearly below at once gets both events
            if state.flagged_at is None:
                drafts.append(flag)
            asg.put_annotator(
                conn, project, asg.Annotator(labeler_id, "calibration", state.round + 1, None)
            )
            drafts.append(_status_event(labeler_id, "suspended", detail))
        elif verdict == "flag" and state.flagged_at is None:
            asg.put_annotator(
                conn, project, asg.Annotator(labeler_id, "production", state.round, evidence.total)
            )
            drafts.append(flag)
        elif verdict == "ok" and state.flagged_at is not None:
            asg.put_annotator(
                conn, project, asg.Annotator(labeler_id, "production", state.round, None)
            )
            drafts.append(_status_event(labeler_id, "cleared", detail))
    if drafts:
        repo.append_events(conn, project.name, drafts)


def _status_event(labeler_id: int, status: str, evidence: dict[str, Any]) -> repo.EventDraft:
    return _person_event(labeler_id, "labeler_status", {"status": status, "evidence": evidence})


def _person_event(labeler_id: int, type: str, payload: dict[str, Any]) -> repo.EventDraft:
    """A project-level event about a person (no item, no schema)."""
    return repo.EventDraft(
        type=type,
        item_id=None,
        labeler_id=labeler_id,
        label=None,
        schema_version_id=None,
        source="api",
        payload=payload,
    )


def submit(
    store: Store,
    project_name: str | None,
    sub: Submission,
    cache: Reliabilities | None = None,
    *,
    now: datetime | None = None,
) -> SubmissionResult:
    """One submission in its own transaction (scripts and tests; servers use the writer).

    Without ``cache``, the store's own cache of reliabilities for the project is used (kept
    while the store object lives), so a submission never re-fits them all.
    """
    if cache is None:
        cache = _CACHES.setdefault(store, {}).setdefault(project_name, Reliabilities())
    with store.write() as conn:
        return submit_in(conn, project_name, sub, cache, now=now)


_CACHES: weakref.WeakKeyDictionary[Store, dict[str | None, Reliabilities]] = (
    weakref.WeakKeyDictionary()
)
"""Reliabilities per store object and project for :func:`submit` (derived state only)."""


_STOP = object()


class SubmissionWriter:
    """The single writer: :meth:`submit` and :meth:`next_task` from any thread; each returns
    after the group holding it committed (or raises its error).

    ``project_name`` is the project a call names none; a server passes each call's project,
    so one writer (one connection) serves them all.

    Leases go through it too: on SQLite every write then uses one connection, so callers
    never wait on the database lock (they wait in the queue, and a group's one commit
    acknowledges all of them).
    """

    def __init__(self, store: Store, project_name: str | None, *, max_group: int = 500) -> None:
        self.store = store
        self.project_name = project_name
        self.max_group = max_group
        self.caches: dict[str | None, Reliabilities] = {}
        self.groups = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="labelloop-writer", daemon=True)
        self._thread.start()

    def _project(self, project: str | None) -> str | None:
        return self.project_name if project is None else project

    def submit(
        self, sub: Submission, timeout: float | None = None, *, project: str | None = None
    ) -> SubmissionResult:
        name = self._project(project)
        cache = self.caches.setdefault(name, Reliabilities())
        result: SubmissionResult = self._call(
            lambda conn: submit_in(conn, name, sub, cache), timeout
        )
        return result

    def next_task(
        self,
        labeler_id: int,
        *,
        now: datetime | None = None,
        timeout: float | None = None,
        project: str | None = None,
    ) -> Task | None:
        name = self._project(project)
        task: Task | None = self._call(
            lambda conn: next_task_in(conn, name, labeler_id, now=now), timeout
        )
        return task

    def _call(self, job: Callable[[Connection], Any], timeout: float | None) -> Any:
        future: Future[Any] = Future()
        self._queue.put((job, future))
        return future.result(timeout)

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def __enter__(self) -> SubmissionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        conn = self.store.engine.connect()
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                group = [first]
                stop = False
                while len(group) < self.max_group:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop = True
                        break
                    group.append(nxt)
                self._write(conn, group)
                if stop:
                    return
        finally:
            conn.close()

    def _write(
        self, conn: Connection, group: list[tuple[Callable[[Connection], Any], Future[Any]]]
    ) -> None:
        outcomes: list[Any] = []
        since = {name: cache.since_fit for name, cache in list(self.caches.items())}
        try:
            with conn.begin():
                for job, _ in group:
                    try:
                        with conn.begin_nested():
                            outcomes.append(job(conn))
                    except LabelloopError as exc:
                        outcomes.append(exc)
        except BaseException as exc:  # the commit failed: nothing of the group was written
            for name, count in since.items():
                self.caches[name].since_fit = count
            for _, future in group:
                future.set_exception(exc)
            return
        self.groups += 1
        for (_, future), outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, LabelloopError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
