"""Train the project's model labeler on its current labels and record its predictions.

Training labels are the items' current labels: gold where an item has gold, else the
consensus label (``item_state``, from adjudication). The fitted model becomes a labeler
(kind ``model``, its name, version = content hash of parameters and training data) and its
predictions over every item with content become answer events (source ``model``) with
confidence and class probabilities in the payload.

Predictions on the training items themselves are **out-of-fold** (k-fold cross-fitting,
``payload.out_of_fold = true``): routing chooses its threshold on the model's confidence on
gold items, which is only honest when the model did not see those items. The model file is
written to ``models_dir/<version>.joblib`` when a folder is given (the CLI uses the
workspace's ``.labelloop/models``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labelloop import registry
from labelloop.errors import InvalidInput
from labelloop.formats.files import atomic_path
from labelloop.service.project.schemas import current_schema
from labelloop.store import repo
from labelloop.store.answers import current_labels, item_contents
from labelloop.store.engine import Store

PROBA_DIGITS = 6


@dataclass
class TrainReport:
    project: str
    labeler: str
    """``name@version``"""
    labeler_id: int
    version: str
    classes: list[str]
    n_train: int
    n_train_gold: int
    n_train_consensus: int
    """Training labels that are not gold: consensus labels and persons' corrections."""
    n_predicted: int
    events_added: int
    folds: int
    oof_accuracy: float | None
    """Accuracy of the out-of-fold predictions on the training labels."""
    model_file: str | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_predictions(
    conn: Any,
    project: repo.Project,
    drafts: list[repo.EventDraft],
    labeler: Any,
    models_dir: Path | None,
) -> tuple[int, str | None]:
    """Append a trained model's answer events (in chunks) and save the model to
    ``models_dir/<version>.joblib`` when a folder is given; (events added, file or None)."""
    added = 0
    for chunk in range(0, len(drafts), 10_000):
        added += repo.append_events(conn, project.name, drafts[chunk : chunk + 10_000])
    if models_dir is None:
        return added, None
    import joblib

    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / f"{labeler.version}.joblib"
    with atomic_path(target) as tmp:
        joblib.dump(labeler, tmp)
    return added, str(target)


def _fold_ids(labels: list[str], folds: int, random_state: int) -> np.ndarray:
    """Fold number per training example (stratified where every class has enough examples)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(labels)
    out = np.zeros(n, dtype=np.int64)
    _, counts = np.unique(labels, return_counts=True)
    splitter: Any
    if counts.min() >= folds:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=random_state)
    else:
        splitter = KFold(folds, shuffle=True, random_state=random_state)
    for k, (_, test) in enumerate(splitter.split(np.zeros(n), labels)):
        out[test] = k
    return out


FEATURES = {"tfidf": "sklearn.v1", "minilm": "embeddings.v1"}
"""What the model labeler's estimator sees: the item text (TF-IDF by default) or MiniLM
sentence embeddings (``embeddings`` extra); each names its labeler in the registry."""


def train_model(
    store: Store,
    project_name: str | None,
    *,
    estimator: Any = None,
    name: str | None = None,
    features: str = "tfidf",
    text_field: str = "text",
    folds: int = 5,
    random_state: int = 0,
    models_dir: Path | None = None,
) -> TrainReport:
    """Fit a model labeler on current labels and record its predictions.

    ``features``: ``"tfidf"`` (:class:`~labelloop.labelers.SklearnLabeler`: the estimator
    sees texts; default TF-IDF + logistic regression) or ``"minilm"``
    (:class:`~labelloop.labelers.EmbeddingLabeler`: the estimator sees MiniLM sentence
    embeddings; default logistic regression; needs the ``embeddings`` extra). ``estimator``
    is a scikit-learn classifier with ``predict_proba`` or a spec ``FILE.py:NAME`` /
    ``package.module:NAME`` (see :func:`labelloop.labelers._base.load_estimator`). ``name``
    defaults to the spec's ``NAME``, else ``tfidf-logreg`` / ``minilm-logreg``.
    """
    if features not in FEATURES:
        raise InvalidInput(f"unknown features {features!r}; expected one of {list(FEATURES)}")
    if isinstance(estimator, str):
        from labelloop.labelers._base import load_estimator

        estimator, factory = load_estimator(estimator)
        name = name or factory
    labeler_type = registry.labelers.load(FEATURES[features])
    named = {} if name is None else {"name": name}  # else the labeler's own default name
    labeler = labeler_type(estimator, text_field=text_field, **named)
    name = labeler.name

    if folds < 2:
        raise InvalidInput(f"folds must be at least 2 for out-of-fold predictions; got {folds}")
    start = time.perf_counter()
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        found = current_schema(conn, project)
        if found is None:
            raise InvalidInput(
                f"project {project.name!r} has no labels yet; import gold or answers and "
                "adjudicate before training"
            )
        version_id, schema = found
        if schema.kernels.training_target == "multi_hot":  # label sets: one-vs-rest
            from labelloop.service.annotate.train_sets import train_sets

            if features != "tfidf":
                raise InvalidInput(
                    f"features {features!r}: schema {schema.version} is {schema.task}, whose "
                    "model labeler reads TF-IDF features (drop --features)"
                )
            return train_sets(
                conn,
                project,
                version_id,
                schema,
                estimator=estimator,
                name=named.get("name"),
                text_field=text_field,
                folds=folds,
                random_state=random_state,
                models_dir=models_dir,
                start=start,
            )
        labels, gold_ids = current_labels(conn, project)
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
        if not train_pos:
            raise InvalidInput(
                f"project {project.name!r} has no labeled items with content to train on; "
                "import gold or adjudicate answers first"
            )
        y = [labels[item_ids[i]] for i in train_pos]
        if len(train_pos) < 2 * folds:
            raise InvalidInput(
                f"{len(train_pos)} labeled item(s); expected at least {2 * folds} to train "
                f"with {folds}-fold out-of-fold predictions"
            )
        x_train = [data[i] for i in train_pos]
        labeler.fit(x_train, y)
        classes = list(labeler.classes_)
        probas = np.full((len(item_ids), len(classes)), np.nan)
        out_of_fold = np.zeros(len(item_ids), dtype=bool)
        # out-of-fold predictions for the training items
        fold = _fold_ids(y, folds, random_state)
        train_pos_arr = np.asarray(train_pos)
        for k in range(folds):
            held = np.flatnonzero(fold == k)
            fit_idx = np.flatnonzero(fold != k)
            fit_labels = [y[j] for j in fit_idx]
            if len(set(fit_labels)) < 2:
                continue
            member = labeler.unfitted()
            member.fit([x_train[j] for j in fit_idx], fit_labels)
            p = member.predict_proba([x_train[j] for j in held])
            full = np.zeros((len(held), len(classes)))
            for c, cls in enumerate(member.classes_):
                full[:, classes.index(cls)] = p[:, c]
            probas[train_pos_arr[held]] = full
            out_of_fold[train_pos_arr[held]] = True
        rest = np.flatnonzero(np.isnan(probas[:, 0]))
        if rest.size:
            probas[rest] = labeler.predict_proba([data[i] for i in rest])
        probas = np.round(probas, PROBA_DIGITS)
        predicted = probas.argmax(axis=1)
        oof_hits = [
            classes[predicted[i]] == labels[item_ids[i]] for i in train_pos if out_of_fold[i]
        ]
        ids = repo.ensure_labelers(conn, project, {("model", name, labeler.version)})
        labeler_id = ids[("model", name, labeler.version)]
        drafts = []
        for i, item_id in enumerate(item_ids):
            label = classes[int(predicted[i])]
            drafts.append(
                repo.EventDraft(
                    type="answer",
                    item_id=item_id,
                    labeler_id=labeler_id,
                    label=label,
                    schema_version_id=version_id,
                    source="model",
                    idempotency_key=f"train:{labeler_id}:{item_id}",
                    payload={
                        "confidence": float(probas[i, predicted[i]]),
                        "probabilities": {c: float(probas[i, j]) for j, c in enumerate(classes)},
                        "out_of_fold": bool(out_of_fold[i]),
                    },
                )
            )
        added, model_file = record_predictions(conn, project, drafts, labeler, models_dir)
    return TrainReport(
        project=project.name,
        labeler=f"{name}@{labeler.version}",
        labeler_id=labeler_id,
        version=labeler.version,
        classes=classes,
        n_train=len(train_pos),
        n_train_gold=sum(1 for i in train_pos if item_ids[i] in gold_ids),
        n_train_consensus=sum(1 for i in train_pos if item_ids[i] not in gold_ids),
        n_predicted=len(item_ids),
        events_added=added,
        folds=folds,
        oof_accuracy=None if not oof_hits else round(float(np.mean(oof_hits)), 6),
        model_file=model_file,
        seconds=round(time.perf_counter() - start, 3),
    )
