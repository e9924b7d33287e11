"""People at work: the annotation policy and handing out tasks under leases.

A task is one assignment (person, item, lease expiry, status) with an opaque random id; the
task shows the item's data (the schema's declared fields) and nothing that tells its kind:
calibration, gold and production items look alike.

Who gets what (:func:`next_task`):

- a person (``human`` labeler) starts in **calibration**: the calibration gold (schema worked
  examples and gold the admin marked, :func:`mark_calibration`) in item order; after
  ``calibration_items`` answers, the Clopper–Pearson lower bound of their accuracy must
  clear ``threshold`` (:func:`labelloop.core.quality.calibration_verdict`) to reach
  **production**. A person sent back (suspended) calibrates again on gold they never had.
- in production, each task is gold with chance ``gold_rate`` (``early_gold_rate`` for the
  first ``early_tasks``), gold they never had; otherwise the next production item: stored
  batches' queued items in batch and rank order, then the pool (items with no label, no
  open batch and no gold), never an item the person had, never one ``batch export --claim``
  handed out, and only while the item has room under adaptive overlap (``overlap`` people,
  then one more at a time while its posterior is unsure, up to ``max_overlap``).
- an ``expert`` labeler gets the expert queue (items still unsure at ``max_overlap``) first.

A person holds one lease at a time (asking again returns the same task); a lease expires
after ``lease_seconds`` and its item returns to the queue (also to that person).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from labelloop.errors import InvalidInput, NotFound
from labelloop.schema import Schema
from labelloop.service.project.schemas import current_schema, declared_fields
from labelloop.store import assignments as asg
from labelloop.store import repo
from labelloop.store.engine import Connection, Store


@dataclass(frozen=True)
class AnnotationPolicy:
    """How a project hands out work and judges people (stored per project)."""

    overlap: int = 3
    """People per item before the posterior decides (k)."""
    max_overlap: int = 7
    """Most people per item; still unsure then, the item goes to the expert queue."""
    confidence: float = 0.95
    """Posterior of the top class at which an item is done (k=3, max 7 and 0.95 were
    chosen on two real crowd sets: benchmarks/adaptive_overlap.py)."""
    lease_seconds: int = 600
    calibration_items: int = 20
    """Calibration answers before the gate decides (at least 20)."""
    threshold: float = 0.7
    """Accuracy a person must show: the calibration bound must clear it; live accuracy
    below it flags, then suspends."""
    gold_rate: float = 0.1
    early_gold_rate: float = 0.3
    early_tasks: int = 20
    min_evidence: int = 10
    """Graded production answers (gold and consensus) before live accuracy can flag."""
    suspend_after: int = 10
    """Graded answers after a flag at which a person still below is suspended."""
    undo_seconds: int = 120
    """How long after submitting a person may change their answer (a correction event)."""
    refit_every: int = 200
    """Submissions between refits of the labelers' reliabilities."""

    def __post_init__(self) -> None:
        problems = []
        if self.overlap < 1 or self.max_overlap < self.overlap:
            problems.append(
                f"overlap {self.overlap} and max_overlap {self.max_overlap}: expected "
                "1 <= overlap <= max_overlap"
            )
        for name in ("confidence", "threshold", "gold_rate", "early_gold_rate"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0 if "rate" in name else not 0.0 < value < 1.0:
                problems.append(f"{name} {value!r} is not in range; expected a fraction")
        if self.calibration_items < 20:
            problems.append(f"calibration_items {self.calibration_items}: expected at least 20")
        for name in ("lease_seconds", "early_tasks", "min_evidence", "suspend_after"):
            if getattr(self, name) < 1:
                problems.append(f"{name} {getattr(self, name)}: expected a positive number")
        if problems:
            raise InvalidInput("annotation policy: " + "; ".join(problems))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Task:
    """What a person receives: nothing in it tells calibration, gold and production apart."""

    assignment: str
    data: dict[str, Any]
    schema_version: str
    expires_at: str


def load_policy(conn: Connection, project: repo.Project) -> AnnotationPolicy:
    stored = asg.get_policy(conn, project)
    return AnnotationPolicy() if stored is None else AnnotationPolicy(**stored)


def get_policy(store: Store, project_name: str | None) -> AnnotationPolicy:
    with store.read() as conn:
        return load_policy(conn, repo.get_project(conn, project_name))


def set_policy(store: Store, project_name: str | None, **changes: Any) -> AnnotationPolicy:
    """Change some of the project's policy settings; unknown names are an InvalidInput."""
    known = {f.name for f in fields(AnnotationPolicy)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise InvalidInput(f"unknown policy settings {unknown}; expected some of {sorted(known)}")
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        policy = replace(load_policy(conn, project), **changes)
        asg.set_policy(conn, project, policy.as_dict())
        return policy


def add_person(store: Store, project_name: str | None, name: str, *, kind: str = "human") -> int:
    """The labeler id of a person (``human`` or ``expert``), created when new."""
    if kind not in asg.PERSON_KINDS:
        raise InvalidInput(
            f"labeler kind {kind!r} is not a person; expected one of {asg.PERSON_KINDS}"
        )
    if not name.strip():
        raise InvalidInput("person name is empty; expected a non-empty name")
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        ids = repo.ensure_labelers(conn, project, [(kind, name.strip(), "1")])
        return ids[(kind, name.strip(), "1")]


def mark_calibration(store: Store, project_name: str | None, item_keys: list[str]) -> int:
    """Mark gold items as calibration material (a gold event with the same label, marked);
    returns how many changed. NotFound for a key that is no gold item."""
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        ids = repo.find_item_ids(conn, project, item_keys)
        missing = [k for k in item_keys if k not in ids]
        gold = asg.gold_labels(conn, list(ids.values()))
        missing += [k for k, i in ids.items() if i not in gold]
        if missing:
            raise NotFound(
                f"{len(missing)} keys are not gold items of {project.name!r} "
                f"(first: {missing[0]!r}); expected keys of items with gold"
            )
        version_id, _ = _schema(conn, project)
        drafts = [
            repo.EventDraft(
                type="gold",
                item_id=i,
                labeler_id=None,
                label=gold[i],
                schema_version_id=version_id,
                source="api",
                payload={"from": "calibration", "calibration": True},
                is_calibration=True,
            )
            for i in sorted(set(ids.values()))
        ]
        return repo.append_events(conn, project.name, drafts)


def _schema(conn: Connection, project: repo.Project) -> tuple[int, Schema]:
    found = current_schema(conn, project)
    if found is None:
        raise InvalidInput(
            f"project {project.name!r} has no schema yet; expected one applied with "
            "`labelloop schema apply FILE` before people label"
        )
    return found


def person_kind(conn: Connection, project: repo.Project, labeler_id: int) -> str:
    kind = asg.labeler_kind(conn, project, labeler_id)
    if kind not in asg.PERSON_KINDS:
        raise InvalidInput(
            f"labeler {labeler_id} is a {kind!r} labeler; tasks go to people {asg.PERSON_KINDS}"
        )
    return kind


def annotator(conn: Connection, project: repo.Project, labeler_id: int) -> asg.Annotator:
    """The person's stage; a new person starts in calibration round 1."""
    found = asg.get_annotator(conn, project, labeler_id)
    if found is None:
        found = asg.Annotator(labeler_id, "calibration", 1, None)
        asg.put_annotator(conn, project, found)
    return found


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def next_task(
    store: Store, project_name: str | None, labeler_id: int, *, now: datetime | None = None
) -> Task | None:
    """The person's current task, or a new lease (see module notes); None when there is
    nothing for them now. (A server hands out tasks through its
    :class:`~labelloop.service.annotate.submit.SubmissionWriter` instead.)"""
    with store.write() as conn:
        return next_task_in(conn, project_name, labeler_id, now=now)


def next_task_in(
    conn: Connection, project_name: str | None, labeler_id: int, *, now: datetime | None = None
) -> Task | None:
    """:func:`next_task` inside the caller's write transaction."""
    moment = now or datetime.now(UTC)
    project = repo.get_project(conn, project_name, lock=True)
    kind = person_kind(conn, project, labeler_id)
    _, schema = _schema(conn, project)
    stamp = _stamp(moment)
    asg.expire_leases(conn, project, stamp)
    held = asg.open_lease(conn, project, labeler_id)
    if held is None:
        policy = load_policy(conn, project)
        held = _new_lease(conn, project, labeler_id, kind, policy, moment)
        if held is None:
            return None
    return _task(conn, held, schema)


def _new_lease(
    conn: Connection,
    project: repo.Project,
    labeler_id: int,
    kind: str,
    policy: AnnotationPolicy,
    moment: datetime,
) -> asg.Assignment | None:
    from labelloop.core.quality import gold_rate

    state = annotator(conn, project, labeler_id) if kind == "human" else None
    choice: tuple[int, int | None, str] | None = None
    if kind == "expert":
        item = asg.next_expert_item(conn, project, labeler_id)
        if item is not None:
            choice = (item, None, "expert")
    elif state is not None and state.stage == "calibration":
        item = asg.next_gold_item(conn, project, labeler_id, calibration=True)
        if item is None and state.round > 1:
            item = asg.next_gold_item(conn, project, labeler_id, calibration=None)
        return (
            None
            if item is None
            else _lease(
                conn, project, labeler_id, item, None, "calibration", state.round, policy, moment
            )
        )
    if choice is None and state is not None:
        done = asg.tasks_done(conn, project, labeler_id, state.round)
        rate = gold_rate(
            done,
            rate=policy.gold_rate,
            early_rate=policy.early_gold_rate,
            early_tasks=policy.early_tasks,
        )
        if secrets.SystemRandom().random() < rate:
            item = asg.next_gold_item(conn, project, labeler_id, calibration=None)
            if item is not None:
                choice = (item, None, "gold")
    if choice is None:
        found = asg.next_work_item(conn, project, labeler_id, k=policy.overlap)
        if found is not None:
            choice = (found[0], found[1], "work")
    if choice is None:
        return None
    return _lease(
        conn,
        project,
        labeler_id,
        choice[0],
        choice[1],
        choice[2],
        0 if state is None else state.round,
        policy,
        moment,
    )


def _lease(
    conn: Connection,
    project: repo.Project,
    labeler_id: int,
    item_id: int,
    batch_item_id: int | None,
    kind: str,
    round: int,
    policy: AnnotationPolicy,
    moment: datetime,
) -> asg.Assignment:
    if kind == "work" and item_id not in asg.get_item_work(conn, [item_id]):
        asg.put_item_work(
            conn, project, item_id, status="open", answers=0, label=None, confidence=None
        )
    return asg.lease(
        conn,
        project,
        public_id=secrets.token_urlsafe(16),
        item_id=item_id,
        labeler_id=labeler_id,
        kind=kind,
        round=round,
        batch_item_id=batch_item_id,
        now=_stamp(moment),
        expires_at=_stamp(moment + timedelta(seconds=policy.lease_seconds)),
    )


def _task(conn: Connection, held: asg.Assignment, schema: Schema) -> Task:
    from labelloop.service.annotate.batches import _shown

    data = asg.item_data(conn, held.item_id)
    shown = _shown(json.loads(data), declared_fields(schema))
    return Task(held.public_id, shown, schema.version, held.expires_at)


def decide(
    store: Store,
    project_name: str | None,
    labeler_id: int,
    item_key: str,
    label: str,
    *,
    note: str | None = None,
) -> int:
    """A reviewer's or expert's decision on an item: an ``adjudication`` event by that
    person (later ``labelloop aggregate`` runs keep it); the item leaves the queues.
    Returns the event's sequence number."""
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        person_kind(conn, project, labeler_id)
        version_id, schema = _schema(conn, project)
        schema.check_label(label)
        ids = repo.find_item_ids(conn, project, [item_key])
        if item_key not in ids:
            raise NotFound(f"project {project.name!r} has no item {item_key!r}")
        repo.append_events(
            conn,
            project.name,
            [
                repo.EventDraft(
                    type="adjudication",
                    item_id=ids[item_key],
                    labeler_id=labeler_id,
                    label=label,
                    schema_version_id=version_id,
                    source="api",
                    payload={"method": "reviewer", "confidence": 1.0, "note": note},
                )
            ],
        )
        asg.put_item_work(
            conn, project, ids[item_key], status="decided", answers=0, label=label, confidence=1.0
        )
        return repo.get_project(conn, project.name).event_seq


def people_status(store: Store, project_name: str | None) -> list[dict[str, Any]]:
    """Each person's stage, round and whether they are flagged (for admins)."""
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        return [asdict(a) for a in asg.list_annotators(conn, project)]


__all__ = [
    "AnnotationPolicy",
    "Task",
    "add_person",
    "decide",
    "get_policy",
    "mark_calibration",
    "next_task",
    "people_status",
    "set_policy",
]
