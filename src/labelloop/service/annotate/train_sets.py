"""Train the model labeler of a project whose labels are sets (one-vs-rest).

Called by :func:`labelloop.service.annotate.train.train_model` inside its transaction when
the schema's task type trains a multi-hot target. As for single-label projects: training
labels are the items' current labels (gold over a person's correction over consensus), the
predictions on training items are out-of-fold (k-fold), and every item with content gets an
answer event (source ``model``). The event's label is the list of labels predicted present
(P >= 0.5); its payload has each label's probability and ``confidence``, the smallest
per-label confidence ``max(p, 1 - p)``: routing auto-accepts a set only when every label in
it, and every label left out, is confident.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.errors import InvalidInput
from labelloop.labelers.sklearn_sets import SetSklearnLabeler
from labelloop.schema import Schema
from labelloop.service.annotate.train import PROBA_DIGITS, TrainReport, record_predictions
from labelloop.store import listing, repo
from labelloop.store.answers import consensus_labels, item_contents, project_gold
from labelloop.store.engine import Connection


def current_sets(
    conn: Connection, project: repo.Project, schema: Schema
) -> tuple[dict[int, Any], set[int]]:
    """Current label set per item (gold over a person's correction over consensus), as
    multi-hot rows, and the ids whose label is gold."""
    out: dict[int, Any] = {}
    sources = (
        {i: c.label for i, c in consensus_labels(conn, project).items()},
        listing.latest_corrections(conn, project),
    )
    for source in sources:
        for item_id, value in source.items():
            row, ok = schema.encode([value])
            if ok[0]:
                out[item_id] = row[0]
    gold_ids: set[int] = set()
    for item_id, value in project_gold(conn, project).items():
        row, ok = schema.encode([value])
        if ok[0]:
            out[item_id] = row[0]
            gold_ids.add(item_id)
    return out, gold_ids


def train_sets(
    conn: Connection,
    project: repo.Project,
    version_id: int,
    schema: Schema,
    *,
    estimator: Any,
    name: str | None,
    text_field: str,
    folds: int,
    random_state: int,
    models_dir: Path | None,
    start: float,
) -> TrainReport:
    """Fit a one-vs-rest model labeler on current label sets and record its predictions."""
    classes = list(schema.label_space.labels)
    named = {} if name is None else {"name": name}
    labeler = SetSklearnLabeler(classes, estimator, text_field=text_field, **named)
    labels, gold_ids = current_sets(conn, project, schema)
    contents = [x for x in item_contents(conn, project) if x.data]  # stubs have none
    item_ids = [x.id for x in contents]
    data = [x.data for x in contents]
    missing = [i for i, d in enumerate(data) if not isinstance(d.get(text_field), str)]
    if missing:
        raise InvalidInput(
            f"item {item_ids[missing[0]]} has no text field {text_field!r} (fields "
            f"{sorted(data[missing[0]])[:10]}); {len(missing)} item(s) lack it; "
            "expected every item to carry the text the model reads (--text-field)"
        )
    train_pos = [i for i, item_id in enumerate(item_ids) if item_id in labels]
    if len(train_pos) < 2 * folds:
        raise InvalidInput(
            f"{len(train_pos)} labeled item(s) with content; expected at least {2 * folds} to "
            f"train with {folds}-fold out-of-fold predictions (import gold or adjudicate first)"
        )
    x_train = [data[i] for i in train_pos]
    y = np.stack([labels[item_ids[i]] for i in train_pos])
    labeler.fit(x_train, y)
    probas = np.full((len(item_ids), len(classes)), np.nan)
    out_of_fold = np.zeros(len(item_ids), dtype=bool)
    from sklearn.model_selection import KFold

    pos = np.asarray(train_pos)
    for fit_idx, held in KFold(folds, shuffle=True, random_state=random_state).split(x_train):
        member = labeler.unfitted().fit([x_train[j] for j in fit_idx], y[fit_idx])
        probas[pos[held]] = member.predict_proba([x_train[j] for j in held])
        out_of_fold[pos[held]] = True
    rest = np.flatnonzero(np.isnan(probas[:, 0]))
    if rest.size:
        probas[rest] = labeler.predict_proba([data[i] for i in rest])
    probas = np.round(probas, PROBA_DIGITS)
    predicted = probas >= 0.5
    confidence = np.maximum(probas, 1.0 - probas).min(axis=1)
    oof = [i for i in train_pos if out_of_fold[i]]
    oof_accuracy = (
        round(float(np.mean([(predicted[i] == labels[item_ids[i]]).all() for i in oof])), 6)
        if oof
        else None
    )
    ids = repo.ensure_labelers(conn, project, {("model", labeler.name, labeler.version)})
    labeler_id = ids[("model", labeler.name, labeler.version)]
    drafts = [
        repo.EventDraft(
            type="answer",
            item_id=item_id,
            labeler_id=labeler_id,
            label=schema.decode(predicted[i]),
            schema_version_id=version_id,
            source="model",
            idempotency_key=f"train:{labeler_id}:{item_id}",
            payload={
                "confidence": float(confidence[i]),
                "probabilities": {c: float(probas[i, j]) for j, c in enumerate(classes)},
                "out_of_fold": bool(out_of_fold[i]),
            },
        )
        for i, item_id in enumerate(item_ids)
    ]
    added, model_file = record_predictions(conn, project, drafts, labeler, models_dir)
    return TrainReport(
        project=project.name,
        labeler=f"{labeler.name}@{labeler.version}",
        labeler_id=labeler_id,
        version=labeler.version,
        classes=classes,
        n_train=len(train_pos),
        n_train_gold=sum(1 for i in train_pos if item_ids[i] in gold_ids),
        n_train_consensus=sum(1 for i in train_pos if item_ids[i] not in gold_ids),
        n_predicted=len(item_ids),
        events_added=added,
        folds=folds,
        oof_accuracy=oof_accuracy,
        model_file=model_file,
        seconds=round(time.perf_counter() - start, 3),
    )
