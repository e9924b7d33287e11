"""`status` and `verify`: counts per stage and labeler kind; hash-chain verification."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from labelloop.core.provenance import ChainBreak, find_chain_break
from labelloop.store import listing, repo
from labelloop.store.engine import Store
from labelloop.store.status import status_counts


def project_status(store: Store, project_name: str | None) -> dict[str, Any]:
    """Counts of a project: items per stage, answers and labelers per kind, gold, schema."""
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        counts = status_counts(conn, project)
        values = listing.current_label_counts(conn, project)
        schema = None
        if project.schema_version_id is not None:
            sv = repo.get_schema_version(conn, project.schema_version_id)
            labels = [x["name"] for x in sv.body.get("labels", [])]
            schema = {
                "version": sv.version,
                "task": sv.body.get("task", "single_label"),
                "content_hash": sv.content_hash,
                "open": sv.is_open,
                "labels": labels,
            }
    by_kind = {
        kind: {"labelers": n.labelers, "answers": n.answers} for kind, n in counts.by_kind.items()
    }
    return {
        "project": project.name,
        "items": counts.items,
        "answers": sum(n.answers for n in counts.by_kind.values()),
        "gold": counts.gold,
        "labelers": sum(n.labelers for n in counts.by_kind.values()),
        "events": project.event_seq,
        "stages": {
            "unlabeled": counts.items - counts.labeled,  # no answer, correction or gold
            "answered": counts.answered,
            "adjudicated": counts.adjudicated,
            "gold": counts.gold,
            "calibration_gold": counts.calibration_gold,
        },
        "by_labeler_kind": by_kind,
        "schema": schema,
        "schema_versions": counts.schema_versions,
        "batch_items": counts.batch_items,
        "current_labels": _current_labels(values),
    }


TOP_VALUES = 20
"""Label values (sets, for multi-label) listed by ``status``, most frequent first."""


def _current_labels(values: list[tuple[Any, int]]) -> dict[str, Any]:
    """Items with a current label, items per label (for a list: per label it contains) and
    the most frequent values as they are (a list for multi-label)."""
    by_label: Counter[str] = Counter()
    for value, n in values:
        for name in value if isinstance(value, list) else [value]:
            by_label[str(name)] += n
    return {
        "items": sum(n for _, n in values),
        "by_label": dict(sorted(by_label.items(), key=lambda x: (-x[1], x[0]))),
        "values": [{"label": value, "items": n} for value, n in values[:TOP_VALUES]],
        "distinct_values": len(values),
    }


@dataclass(frozen=True)
class VerifyResult:
    project: str
    events: int
    ok: bool
    broken_event_id: int | None = None
    broken_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Tail:
    count: int = 0
    hash: str | None = None
    id: int | None = None
    seq: int | None = None


def verify_chain(store: Store, project_name: str | None) -> VerifyResult:
    """Recompute the project's hash chain (streaming); name the first broken event."""
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        tail = _Tail()

        def events() -> Iterator[tuple[int, dict[str, Any], str, str]]:
            for event in repo.iter_chain(conn, project):
                tail.count += 1
                tail.hash, tail.id, tail.seq = event.hash, event.id, event.seq
                yield event.id, event.fields, event.prev_hash, event.hash

        found: ChainBreak | None = find_chain_break(events())
        if found is not None:  # the chain stops at the event it found broken: the last read
            assert found.event_id == tail.id and tail.seq is not None
            return VerifyResult(
                project.name, tail.count, False, int(found.event_id), tail.seq, found.reason
            )
        count = tail.count
        if count != project.event_seq or (count and tail.hash != project.head_hash):
            return VerifyResult(
                project.name,
                count,
                False,
                None,
                None,
                f"the chain holds {count} events but the project head records "
                f"{project.event_seq} ending in another hash: events at the end were removed",
            )
    return VerifyResult(project.name, count, True)
