"""Adjudicate a project: truth inference over its answer events, written as adjudication events.

One write transaction: read every answer (and correction) event, apply the stated rule for
repeated answers (a labeler's last answer on an item counts), fit the chosen aggregator,
and append an adjudication event for each item whose inferred label or confidence changed,
except items whose latest adjudication is a person's (a reviewer or expert decided them).
The event's provenance names the method, its version and parameters; the item's current
label (derived state) follows the latest adjudication.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from labelloop.core.aggregate import AGGREGATORS, make_aggregator
from labelloop.core.aggregate.reliability import score_reliability
from labelloop.core.answers import ABSTAIN
from labelloop.core.provenance import content_hash
from labelloop.errors import InvalidInput
from labelloop.service.project.schemas import current_schema
from labelloop.store import answers as stored
from labelloop.store import repo
from labelloop.store.assignments import person_decided_items
from labelloop.store.engine import Store

CONFIDENCE_DIGITS = 6
"""Confidences are recorded rounded; a change below this precision writes no event."""


@dataclass(frozen=True)
class LabelerSkill:
    kind: str
    name: str
    version: str
    answers: int
    skill: float | None
    """Estimated accuracy from evidence independent of the labeler's own vote: gold where
    there is gold, else the leave-self-out posterior on items others answered too (None
    without such evidence); see :mod:`labelloop.core.aggregate.reliability`."""
    agreement: float
    """Mean posterior of the labeler's own answers: how often the result agrees with it.
    For a rule that only ever votes one class this is its precision, where the skill of a
    full-confusion model is not."""
    evidence: int = 0
    """Items the skill rests on (its own sole-vote items without gold are not counted)."""
    gold_evidence: int = 0
    """Of those, items with gold."""
    skill_low: float | None = None
    skill_high: float | None = None
    """95 % interval of the skill (Jeffreys), wide when there is little evidence."""
    fitted_skill: float | None = None
    """The aggregator's own estimate (method-specific; it sees the labeler's own votes)."""


@dataclass(frozen=True)
class KindSummary:
    kind: str
    labelers: int
    answers: int
    mean_skill: float | None
    """Answer-weighted mean skill of the kind's labelers."""
    mean_agreement: float


@dataclass
class AdjudicationReport:
    project: str
    method: str
    params: dict[str, Any]
    items: int
    answers: int
    events_added: int
    changed_labels: int
    n_iter: int
    converged: bool
    seconds: float
    gold_items: int
    gold_accuracy: float | None
    skipped_answers: int
    labelers: list[LabelerSkill] = field(default_factory=list)
    kinds: list[KindSummary] = field(default_factory=list)
    selection: dict[str, Any] | None = None
    """What ``auto`` chose (model weights) and by which criterion; None for other methods."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def adjudication_draft(
    item_id: int, label: Any, version_id: int, run: str, payload: dict[str, Any]
) -> repo.EventDraft:
    """The adjudication event of one item in one run (idempotent per run and item)."""
    return repo.EventDraft(
        type="adjudication",
        item_id=item_id,
        labeler_id=None,
        label=label,
        schema_version_id=version_id,
        source="aggregate",
        idempotency_key=f"adjudication:{run}:{item_id}",
        payload=payload,
    )


def changed_adjudications(
    results: Iterable[tuple[int, Any, dict[str, Any]]],
    *,
    state: Mapping[int, stored.Consensus],
    decided: set[int],
    version_id: int,
    run: str,
) -> tuple[list[repo.EventDraft], int]:
    """Adjudication events for the ``(item id, label, payload)`` results whose label or
    ``payload["confidence"]`` differs from the item's latest adjudication (a person's
    decision, in ``decided``, stands); and how many items changed label."""
    drafts = []
    changed = 0
    for item_id, label, payload in results:
        if item_id in decided:
            continue
        old = state.get(item_id)
        if old is not None and old.label == label and old.confidence == payload["confidence"]:
            continue
        if old is None or old.label != label:
            changed += 1
        drafts.append(adjudication_draft(item_id, label, version_id, run, payload))
    return drafts, changed


def adjudicate(
    store: Store,
    project_name: str | None,
    *,
    method: str = "auto",
    params: dict[str, Any] | None = None,
    clamp_gold: bool = False,
) -> AdjudicationReport:
    """Fit ``method`` on the project's answers and record adjudication events."""
    from labelloop.service.adjudicate.multilabel import adjudicate_sets, is_set_method

    # a method of another task type's registry is checked against the project's schema below
    aggregator = None if is_set_method(method) else make_aggregator(method, **(params or {}))
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        found = current_schema(conn, project)
        if found is None:
            raise InvalidInput(f"project {project.name!r} has no answers to aggregate yet")
        version_id, schema = found
        if schema.kernels.label_is_list:  # the task type keeps sets: per-label inference
            return adjudicate_sets(
                conn,
                project,
                version_id,
                schema,
                method=method,
                params=params,
                clamp_gold=clamp_gold,
            )
        if aggregator is None:
            raise InvalidInput(
                f"aggregator {method!r} infers label sets; schema {schema.version} is "
                f"{schema.task} (expected one of: {', '.join(sorted(AGGREGATORS))})"
            )
        space = schema.label_space
        found_answers = stored.project_answers(conn, project, space)
        if not found_answers.read:
            raise InvalidInput(f"project {project.name!r} has no answers to aggregate yet")
        if not len(space):
            raise InvalidInput(f"schema {schema.version} has no labels; expected at least two")
        skipped = found_answers.skipped
        if skipped == found_answers.read:
            raise InvalidInput(
                f"none of the {found_answers.read:,} answers has a label of schema "
                f"{schema.version} {list(space.labels)}; expected answers made under the "
                "current label set"
            )
        items, labelers = found_answers.item_ids, found_answers.labeler_ids
        answers = found_answers.answers.deduplicate(keep="last")
        gold = stored.gold_codes(conn, project, space, items)

        start = time.perf_counter()
        aggregator.fit(answers, gold if clamp_gold else None)
        seconds = time.perf_counter() - start
        labels = aggregator.labels_
        confidence = np.round(
            aggregator.probas_[np.arange(len(items)), np.maximum(labels, 0)], CONFIDENCE_DIGITS
        )

        has_gold = gold != ABSTAIN
        accuracy = float((labels[has_gold] == gold[has_gold]).mean()) if has_gold.any() else None
        settings = aggregator.params()
        run = content_hash(
            {"params": settings, "head": project.head_hash, "clamp_gold": clamp_gold}
        )
        state = stored.consensus_labels(conn, project)
        per_item = answers.answers_per_item()
        decided = person_decided_items(conn, project)  # a reviewer's or expert's word stands
        drafts, changed = changed_adjudications(
            (
                (
                    item_id,
                    space.labels[int(labels[k])],
                    {
                        "method": aggregator.name,
                        "params": settings,
                        "confidence": float(confidence[k]),
                        "answers": int(per_item[k]),
                        "clamp_gold": clamp_gold,
                        "run": run,
                    },
                )
                for k, item_id in enumerate(items.tolist())
                if labels[k] != ABSTAIN
            ),
            state=state,
            decided=decided,
            version_id=version_id,
            run=run,
        )
        added = repo.append_events(conn, project.name, drafts)
        skills = getattr(aggregator, "skills_", None)
        source = getattr(aggregator, "model_", aggregator)
        reliability = score_reliability(
            answers,
            source.probas_,
            confusions=getattr(source, "confusions_", None),
            gold=gold,
        )
        labeler_rows = {x.id: x for x in stored.list_labelers(conn, project)}
        answers_per_labeler = np.bincount(answers.labeler, minlength=len(labelers))
        own_posterior = aggregator.probas_[answers.item, answers.label]
        agreement = np.bincount(
            answers.labeler, weights=own_posterior, minlength=len(labelers)
        ) / np.maximum(answers_per_labeler, 1)
        report_labelers = []
        for code, labeler_id in enumerate(labelers.tolist()):
            row = labeler_rows.get(int(labeler_id))
            if row is None:
                continue
            fitted = None
            if skills is not None and np.isfinite(skills[code]):
                fitted = round(float(skills[code]), 4)
            report_labelers.append(
                LabelerSkill(
                    row.kind,
                    row.name,
                    row.version,
                    int(answers_per_labeler[code]),
                    _rounded(reliability.skill[code]),
                    round(float(agreement[code]), 4),
                    evidence=int(reliability.evidence[code]),
                    gold_evidence=int(reliability.gold_evidence[code]),
                    skill_low=_rounded(reliability.low[code]),
                    skill_high=_rounded(reliability.high[code]),
                    fitted_skill=fitted,
                )
            )
    return AdjudicationReport(
        project=project.name,
        method=aggregator.name,
        params=settings,
        items=len(items),
        answers=len(answers),
        events_added=added,
        changed_labels=changed,
        n_iter=int(getattr(aggregator, "n_iter_", 0)),
        converged=bool(getattr(aggregator, "converged_", True)),
        seconds=round(seconds, 4),
        gold_items=int(has_gold.sum()),
        gold_accuracy=accuracy,
        skipped_answers=skipped,
        labelers=report_labelers,
        kinds=_kind_summaries(report_labelers),
        selection=_selection(aggregator),
    )


def consensus_labels(store: Store, project_name: str | None) -> dict[str, Any]:
    """Each adjudicated item's consensus label (the latest adjudication), by item key.

    Gold does not override it here (compare ``store.answers.current_labels``, the training labels:
    gold over consensus, by item id).
    """
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        found = stored.consensus_labels(conn, project)
    return {x.key: x.label for x in found.values() if x.label is not None}


def _selection(aggregator: Any) -> dict[str, Any] | None:
    sel = getattr(aggregator, "selection_", None)
    if sel is None:
        return None
    return {
        "chosen": sel.chosen,
        "criterion": sel.criterion,
        "weights": {k: round(v, 4) for k, v in sel.weights.items()},
        "heldout_answers": sel.n_heldout,
        "gain_per_answer": round(sel.gain["stack"], 6),
        "gain_stderr": round(sel.stderr["stack"], 6),
        "gold_items": sel.n_gold,
    }


def _rounded(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def _kind_summaries(labelers: list[LabelerSkill]) -> list[KindSummary]:
    out = []
    for kind in sorted({x.kind for x in labelers}):
        group = [x for x in labelers if x.kind == kind]
        n = sum(x.answers for x in group)
        scored = [x for x in group if x.skill is not None]
        n_scored = sum(x.answers for x in scored)
        mean_skill = (
            round(sum(x.skill * x.answers for x in scored if x.skill is not None) / n_scored, 4)
            if n_scored
            else None
        )
        mean_agreement = round(sum(x.agreement * x.answers for x in group) / max(n, 1), 4)
        out.append(KindSummary(kind, len(group), n, mean_skill, mean_agreement))
    return out
