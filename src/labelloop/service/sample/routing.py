"""Confidence routing: auto-accept confident model labels, audit a few, queue the rest for humans.

One write transaction:

1. the policy (per project, ``routing_policies``; defaults: target precision 0.98, audit
   fraction 0.05, suggestions hidden from annotators) with this call's overrides;
2. the model labeler's latest predictions; on gold items they give the threshold
   (:func:`labelloop.core.routing.choose_threshold`, 95 % Clopper–Pearson interval; abstains
   on too little gold);
3. the pool: items with a prediction that have no gold, no answer of a person, and are not
   auto-accepted, queued or in flight (a machine-only consensus does not take an item out);
4. auto-accepted items get an ``answer`` event of the model labeler with source
   ``model_auto``, its confidence and the evidence for the threshold; a seeded random audit
   share of them also goes to humans (an ``audit`` batch, suggestion hidden so the audit is
   blind); every other item goes to a ``route`` batch with the model suggestion attached
   (``show_suggestion`` per the policy).

Re-running routes only what is new: auto-accepted and queued items are excluded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from labelloop.core.routing import (
    AUDIT,
    AUTO,
    HUMAN,
    RoutingPolicy,
    choose_threshold,
    route_items,
)
from labelloop.errors import InvalidInput
from labelloop.service.project.schemas import current_schema
from labelloop.store import repo
from labelloop.store.batches import BatchEntry, create_batch, excluded_items
from labelloop.store.engine import Connection, Store
from labelloop.store.predictions import load_predictions, resolve_model
from labelloop.store.routing import read_routing_policy, write_routing_policy

CONFIDENCE_LEVEL = 0.95


def _check_policy(policy: RoutingPolicy) -> None:
    if not 0.0 < policy.target_precision < 1.0:
        raise InvalidInput(
            f"target precision {policy.target_precision!r} is not in (0, 1); expected e.g. 0.98"
        )
    if not 0.0 <= policy.audit_fraction <= 1.0:
        raise InvalidInput(
            f"audit fraction {policy.audit_fraction!r} is not in [0, 1]; expected e.g. 0.05"
        )


def _read_policy(conn: Connection, project: repo.Project) -> RoutingPolicy:
    return read_routing_policy(conn, project) or RoutingPolicy()


def get_routing_policy(store: Store, project_name: str | None) -> RoutingPolicy:
    with store.read() as conn:
        return _read_policy(conn, repo.get_project(conn, project_name))


def set_routing_policy(
    store: Store,
    project_name: str | None,
    *,
    target_precision: float | None = None,
    audit_fraction: float | None = None,
    show_suggestion: bool | None = None,
) -> RoutingPolicy:
    """Change the project's routing policy (unset arguments keep their current value)."""
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        policy = _merge(
            _read_policy(conn, project), target_precision, audit_fraction, show_suggestion
        )
        write_routing_policy(conn, project, policy)
    return policy


def _merge(
    policy: RoutingPolicy,
    target_precision: float | None,
    audit_fraction: float | None,
    show_suggestion: bool | None,
) -> RoutingPolicy:
    merged = RoutingPolicy(
        policy.target_precision if target_precision is None else float(target_precision),
        policy.audit_fraction if audit_fraction is None else float(audit_fraction),
        policy.show_suggestion if show_suggestion is None else bool(show_suggestion),
    )
    _check_policy(merged)
    return merged


@dataclass
class RouteReport:
    project: str
    model: str
    policy: dict[str, Any]
    threshold: float | None
    abstained: bool
    reason: str
    precision: float | None
    """Gold precision of the predictions at or above the threshold (the estimate)."""
    ci_low: float | None
    ci_high: float | None
    confidence_level: float
    n_gold: int
    n_gold_above: int
    min_gold: int
    routed: int
    auto_accepted: int
    audited: int
    to_humans: int
    human_labels_saved: int
    without_prediction: int
    excluded: dict[str, int]
    route_batch_id: int | None
    audit_batch_id: int | None
    events_added: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def route(
    store: Store,
    project_name: str | None,
    *,
    model: str | None = None,
    target_precision: float | None = None,
    audit_fraction: float | None = None,
    show_suggestion: bool | None = None,
    save_policy: bool = False,
    random_state: int | None = 0,
) -> RouteReport:
    """Apply the routing policy to the project's unlabeled items (see the module doc)."""
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        policy = _merge(
            _read_policy(conn, project), target_precision, audit_fraction, show_suggestion
        )
        if save_policy:
            write_routing_policy(conn, project, policy)
        ref = resolve_model(conn, project, model)
        found = current_schema(conn, project)
        if found is None:
            raise InvalidInput(f"project {project.name!r} has no labels or predictions yet")
        version_id = found[0]
        preds = load_predictions(conn, project, ref)
        gold = repo.current_gold(conn, project, list(preds.label))
        # a set's confidence is its least confident label's (service.annotate.train_sets)
        gold_items = [i for i in gold if i in preds.confidence and isinstance(gold[i], str | list)]
        conf_gold = np.array([preds.confidence[i] for i in gold_items], dtype=np.float64)
        correct = np.array([preds.label[i] == gold[i] for i in gold_items], dtype=bool)
        chosen = choose_threshold(
            conf_gold,
            correct,
            target=policy.target_precision,
            confidence_level=CONFIDENCE_LEVEL,
        )
        excluded = excluded_items(conn, project)
        skip = excluded["labeled"] | excluded["auto_accepted"] | excluded["queued"]
        pool = sorted(i for i in preds.label if i not in skip)
        without = sum(1 for i in preds.label if i not in skip and i not in preds.confidence)
        conf = np.array([preds.confidence.get(i, np.nan) for i in pool], dtype=np.float64)
        decisions = route_items(
            conf,
            chosen.threshold,
            audit_fraction=policy.audit_fraction,
            random_state=random_state,
        )
        evidence = {
            "threshold": chosen.threshold,
            "target_precision": policy.target_precision,
            "precision": chosen.precision,
            "ci_low": chosen.ci_low,
            "ci_high": chosen.ci_high,
            "confidence_level": CONFIDENCE_LEVEL,
            "n_gold_above": chosen.n_gold_above,
            "method": chosen.method,
        }
        drafts = []
        route_entries: list[BatchEntry] = []
        audit_entries: list[BatchEntry] = []
        threshold_text = (
            "none (abstained)" if chosen.threshold is None else f"{chosen.threshold:.4f}"
        )
        for k, item_id in enumerate(pool):
            label = preds.label[item_id]
            c = float(conf[k]) if np.isfinite(conf[k]) else None
            suggestion = {"label": label, "confidence": c, "model": str(ref)}
            d = int(decisions.decision[k])
            if d in (AUTO, AUDIT):
                drafts.append(
                    repo.EventDraft(
                        type="answer",
                        item_id=item_id,
                        labeler_id=ref.id,
                        label=label,
                        schema_version_id=version_id,
                        source="model_auto",
                        idempotency_key=f"route:{ref.id}:{item_id}",
                        payload={"confidence": c, "audited": d == AUDIT, **evidence},
                    )
                )
            if d == AUDIT:
                audit_entries.append(
                    BatchEntry(
                        item_id,
                        c,
                        f"audit: random {policy.audit_fraction:.1%} of auto-accepted "
                        f"(confidence {c:.4f} >= threshold {threshold_text})",
                        suggestion,
                        show_suggestion=False,
                    )
                )
            elif d == HUMAN:
                why = (
                    "no model confidence"
                    if c is None
                    else f"confidence {c:.4f} < threshold {threshold_text}"
                    if chosen.threshold is not None
                    else f"confidence {c:.4f}; no threshold ({chosen.reason})"
                )
                route_entries.append(
                    BatchEntry(item_id, c, why, suggestion, policy.show_suggestion)
                )
        added = 0
        for start in range(0, len(drafts), 10_000):
            added += repo.append_events(conn, project.name, drafts[start : start + 10_000])
        params = {**asdict(policy), "random_state": random_state, **evidence}
        route_batch = audit_batch = None
        if route_entries:
            route_entries.sort(key=lambda e: (e.score is None, -(e.score or 0.0)))
            route_batch = create_batch(
                conn,
                project,
                kind="route",
                strategy="confidence_routing.v1",
                params=params,
                labeler_id=ref.id,
                entries=route_entries,
            )
        if audit_entries:
            audit_batch = create_batch(
                conn,
                project,
                kind="audit",
                strategy="confidence_routing.v1",
                params=params,
                labeler_id=ref.id,
                entries=audit_entries,
            )
    return RouteReport(
        project=project.name,
        model=str(ref),
        policy=asdict(policy),
        threshold=chosen.threshold,
        abstained=chosen.abstained,
        reason=chosen.reason,
        precision=chosen.precision,
        ci_low=chosen.ci_low,
        ci_high=chosen.ci_high,
        confidence_level=CONFIDENCE_LEVEL,
        n_gold=chosen.n_gold,
        n_gold_above=chosen.n_gold_above,
        min_gold=chosen.min_gold,
        routed=len(pool),
        auto_accepted=decisions.n_auto,
        audited=decisions.n_audit,
        to_humans=decisions.n_human,
        human_labels_saved=decisions.human_labels_saved,
        without_prediction=without,
        excluded={k: len(v) for k, v in excluded.items()},
        route_batch_id=route_batch,
        audit_batch_id=audit_batch,
        events_added=added,
    )
