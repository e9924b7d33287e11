"""Adjudicate a project whose labels are sets (``multi_label``): per-label truth inference.

Called by :func:`labelloop.service.adjudicate.adjudicate.adjudicate` inside its transaction
when the schema's task type keeps sets. Each answer's set becomes a multi-hot row (the
schema's codec); the aggregator (a multi-label registry name, ``auto`` = the task type's
default) infers each label's presence; an adjudication event is written for each item whose
set or confidence changed, its label the list of present labels in label-space order. The
confidence is the probability that the whole set is right (labels independent), and the
payload carries each label's probability.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from labelloop.core.aggregate.multilabel import SET_AGGREGATORS
from labelloop.core.aggregate.reliability import score_reliability
from labelloop.core.answers import ABSTAIN, FloatArray
from labelloop.core.label_sets import SetAnswers
from labelloop.core.provenance import content_hash
from labelloop.errors import InvalidInput, NotFound
from labelloop.schema import Schema
from labelloop.service.adjudicate.adjudicate import (
    CONFIDENCE_DIGITS,
    AdjudicationReport,
    LabelerSkill,
    _kind_summaries,
    _rounded,
    changed_adjudications,
)
from labelloop.store import labels_multi, repo
from labelloop.store.answers import consensus_labels, project_gold
from labelloop.store.assignments import person_decided_items
from labelloop.store.engine import Connection
from labelloop.store.predictions import labeler_identities


def is_set_method(method: str) -> bool:
    """Whether ``method`` names a multi-label aggregator (versioned or bare name)."""
    try:
        SET_AGGREGATORS.resolve(method)
    except NotFound:
        return False
    return True


def set_confidence(probas: FloatArray) -> FloatArray:
    """P(the whole inferred set is right) per item, labels independent: shape (n,)."""
    return np.asarray(np.prod(np.maximum(probas, 1.0 - probas), axis=1), dtype=np.float64)


def adjudicate_sets(
    conn: Connection,
    project: repo.Project,
    version_id: int,
    schema: Schema,
    *,
    method: str,
    params: dict[str, Any] | None,
    clamp_gold: bool,
) -> AdjudicationReport:
    """Fit a multi-label aggregator on the project's answers and record adjudication events."""
    kernels = schema.kernels
    registry = kernels.aggregator_registry()
    name = kernels.default_aggregator if method in ("auto", "") else method
    aggregator = registry.make(name, **(params or {}))
    rows = labels_multi.answer_label_rows(conn, project)
    if not rows.label:
        raise InvalidInput(f"project {project.name!r} has no answers to aggregate yet")
    space = schema.label_space
    present, fit = schema.encode(rows.label)
    skipped = int((~fit).sum())
    if not fit.any():
        raise InvalidInput(
            f"none of the {len(rows.label):,} answers is a list of labels of schema "
            f"{schema.version} {list(space.labels)}; expected answers made under the current "
            "label set"
        )
    items, item_code = np.unique(rows.item_id[fit], return_inverse=True)
    labelers, labeler_code = np.unique(rows.labeler_id[fit], return_inverse=True)
    answers = SetAnswers(
        item_code, labeler_code, present[fit], len(items), len(labelers)
    ).deduplicate(keep="last")

    position = {int(i): k for k, i in enumerate(items.tolist())}
    gold = np.full((len(items), len(space)), ABSTAIN, dtype=np.int64)
    for item_id, value in project_gold(conn, project).items():
        k = position.get(item_id)
        gold_row, ok = schema.encode([value])
        if k is not None and ok[0]:
            gold[k] = gold_row[0]
    has_gold = (gold != ABSTAIN).all(axis=1)

    start = time.perf_counter()
    aggregator.fit(answers, gold if clamp_gold else None)
    seconds = time.perf_counter() - start
    labels = aggregator.labels_
    probas = np.round(aggregator.probas_, CONFIDENCE_DIGITS)
    confidence = np.round(set_confidence(aggregator.probas_), CONFIDENCE_DIGITS)
    accuracy = (
        float((labels[has_gold] == gold[has_gold].astype(bool)).all(axis=1).mean())
        if has_gold.any()
        else None
    )
    settings = aggregator.params()
    run = content_hash({"params": settings, "head": project.head_hash, "clamp_gold": clamp_gold})
    state = consensus_labels(conn, project)
    per_item = np.bincount(answers.item, minlength=len(items))
    decided = person_decided_items(conn, project)  # a reviewer's or expert's word stands
    drafts, changed = changed_adjudications(
        (
            (
                item_id,
                schema.decode(labels[k]),
                {
                    "method": aggregator.name,
                    "params": settings,
                    "confidence": float(confidence[k]),
                    "probabilities": {
                        name: float(probas[k, c]) for c, name in enumerate(space.labels)
                    },
                    "answers": int(per_item[k]),
                    "clamp_gold": clamp_gold,
                    "run": run,
                },
            )
            for k, item_id in enumerate(items.tolist())
            if aggregator.answered_[k]
        ),
        state=state,
        decided=decided,
        version_id=version_id,
        run=run,
    )
    added = repo.append_events(conn, project.name, drafts)

    # reliability on the present/absent decisions (the stacked binary units)
    stacked = answers.stacked()
    stacked_gold = np.where(has_gold[:, None], gold, ABSTAIN).ravel()
    reliability = score_reliability(
        stacked,
        aggregator.stacked_probas(),
        confusions=aggregator.confusions_,
        gold=stacked_gold,
    )
    identities = labeler_identities(conn, project, repo.LABELER_KINDS)
    answers_per_labeler = np.bincount(answers.labeler, minlength=len(labelers))
    own = aggregator.stacked_probas()[stacked.item, stacked.label]
    agreement = np.bincount(stacked.labeler, weights=own, minlength=len(labelers)) / np.maximum(
        np.bincount(stacked.labeler, minlength=len(labelers)), 1
    )
    report_labelers = []
    for code, labeler_id in enumerate(labelers.tolist()):
        identity = identities.get(int(labeler_id))
        if identity is None:
            continue
        skill = aggregator.skills_[code]
        report_labelers.append(
            LabelerSkill(
                *identity,
                int(answers_per_labeler[code]),
                _rounded(reliability.skill[code]),
                round(float(agreement[code]), 4),
                evidence=int(reliability.evidence[code]),
                gold_evidence=int(reliability.gold_evidence[code]),
                skill_low=_rounded(reliability.low[code]),
                skill_high=_rounded(reliability.high[code]),
                fitted_skill=_rounded(skill),
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
        n_iter=int(aggregator.n_iter_),
        converged=bool(aggregator.converged_),
        seconds=round(seconds, 4),
        gold_items=int(has_gold.sum()),
        gold_accuracy=accuracy,
        skipped_answers=skipped,
        labelers=report_labelers,
        kinds=_kind_summaries(report_labelers),
    )
