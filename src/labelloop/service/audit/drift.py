"""Annotator drift over a project's answers: Bernoulli CUSUM per labeler, alerts as events."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from labelloop.core.answers import Answers
from labelloop.core.audit import DriftAlert, find_drift, reference_matches
from labelloop.service.adjudicate.agreement import labeler_id
from labelloop.service.project.schemas import require_schema
from labelloop.store import repo
from labelloop.store.answers import gold_codes, list_labelers, project_answers
from labelloop.store.engine import Store

SOURCE = "audit drift"


@dataclass(frozen=True)
class DriftReport:
    project: str
    answers: int
    labelers_tested: int
    gold_items: int
    params: dict[str, Any]
    alerts: list[dict[str, Any]]
    events_added: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _alert_dict(who: str, alert: DriftAlert, positions: np.ndarray) -> dict[str, Any]:
    out = {**asdict(alert), "labeler": who}
    # positions in the labeler's own answers (1-based), not in its checked answers
    out["first_answer"] = int(positions[alert.start]) + 1
    out["alarm_answer"] = int(positions[alert.end]) + 1
    out["summary"] = f"{who}: {alert.describe()}"
    return out


def drift_project(
    store: Store,
    project_name: str | None,
    *,
    warmup: int = 150,
    shift: float = 0.25,
    alpha: float = 0.05,
    seed: int = 0,
    record: bool = True,
) -> DriftReport:
    """Test every labeler's answers (chain order) for a drop in accuracy; record alerts.

    Answers are checked against current gold, or else the other labelers' majority
    (:func:`labelloop.core.audit.reference_matches`). Each alert becomes an ``alert`` event
    with its evidence in the payload; re-running on the same answers adds nothing.
    """
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        _, schema = require_schema(
            conn, project, needed_for="drift of the project's answers", single_label=True
        )
        space = schema.label_space
        stored = project_answers(conn, project, space, types=("answer",))
        gold = gold_codes(conn, project, space, stored.item_ids)
        who = {lb.id: labeler_id(*lb.identity) for lb in list_labelers(conn, project)}
    answers = stored.answers
    names = [who.get(int(i), f"labeler {int(i)}") for i in stored.labeler_ids]
    has, matched, reliability = reference_matches(answers, gold)
    checked = np.flatnonzero(has)
    params = {"warmup": warmup, "shift": shift, "alpha": alpha, "seed": seed}
    alerts = find_drift(
        answers.labeler[checked],
        matched[checked],
        reliability[checked],
        n_classes=max(len(space), 2),
        warmup=warmup,
        shift=shift,
        alpha=alpha,
        random_state=seed,
    )
    out = []
    for alert in alerts:
        mine = np.flatnonzero(answers.labeler == alert.labeler)  # its answers, in order
        positions = np.searchsorted(mine, checked[answers.labeler[checked] == alert.labeler])
        out.append(_alert_dict(names[alert.labeler], alert, positions))
    added = 0
    if record and out:
        drafts = [
            repo.EventDraft(
                type="alert",
                item_id=None,
                labeler_id=None,
                label=None,
                schema_version_id=None,
                source=SOURCE,
                idempotency_key=(
                    f"drift:{a['labeler']}:{a['alarm_answer']}:{warmup}:{shift}:{alpha}:{seed}"
                ),
                payload={"kind": "drift", "test": "bernoulli_cusum", "params": params, **a},
            )
            for a in out
        ]
        with store.write() as conn:
            added = repo.append_events(conn, project.name, drafts)
    return DriftReport(
        project=project.name,
        answers=len(answers.item),
        labelers_tested=alerts[0].n_monitored if alerts else _tested(answers, checked, warmup),
        gold_items=int((gold >= 0).sum()),
        params=params,
        alerts=out,
        events_added=added,
    )


def _tested(answers: Answers, checked: np.ndarray, warmup: int) -> int:
    counts = np.bincount(answers.labeler[checked], minlength=answers.n_labelers)
    return int((counts > warmup).sum())
