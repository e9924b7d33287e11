"""Labeling functions on a project: apply them (votes become answer events) and analyse them.

Each LF is a labeler of kind ``rule``, name = the LF's name, version = the hash of its source
and resources. Applying writes one answer event per non-abstain vote, source ``rule``, with
the idempotency key ``rule:{labeler id}:{item id}``: re-applying unchanged LFs adds nothing,
a changed LF (new version) adds its votes as a new labeler version. Application runs outside
the write transaction; an LF returning a label outside the schema aborts before anything is
written; an LF that raises on an item is reported with the item and the exception, and
everything else goes on.

The report uses each LF name's latest version: coverage, overlap, conflict, polarity, gold
accuracy (:func:`labelloop.core.weak.analyze_lfs`), the label model's estimated accuracy per
LF and its accuracy on gold items, majority vote's, and an end model's (TF-IDF + logistic
regression trained on the label model's labels of covered non-gold items, scored on gold).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.core.answers import ABSTAIN
from labelloop.core.label_model import LabelModel
from labelloop.core.weak import analyze_lfs
from labelloop.errors import InvalidInput
from labelloop.labelers.rules import apply_lfs, load_lfs
from labelloop.service.project.schemas import require_schema
from labelloop.store import repo
from labelloop.store.answers import (
    ItemContent,
    gold_codes,
    item_contents,
    list_labelers,
    project_answers,
)
from labelloop.store.engine import Store

SOURCE = "rule"
KIND = "rule"
MAX_FAILURES_SHOWN = 50
MIN_END_MODEL_TRAIN = 10
MIN_GOLD = 20


@dataclass
class LFApplied:
    name: str
    version: str
    votes: int
    failures: int


@dataclass
class LFApplyReport:
    project: str
    module: str
    schema_version: str
    items: int
    skipped_without_input: int
    events_added: int
    seconds: float
    lfs: list[LFApplied] = field(default_factory=list)
    n_failures: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _field_value(data: dict[str, Any], text_field: str | None) -> Any:
    if text_field is None:
        return data
    return data.get(text_field)


def apply_lf_module(
    store: Store,
    project_name: str | None,
    module: str | Path,
    *,
    text_field: str | None = "text",
    n_jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> LFApplyReport:
    """Apply the LFs of a Python file to the project's items; write their votes."""
    path = Path(module)
    lfs = load_lfs(path)
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        version_id, schema = require_schema(
            conn, project, needed_for="LF labels are checked against it", single_label=True
        )
        items = item_contents(conn, project)
    ids: list[int] = []
    keys: list[str] = []
    inputs: list[Any] = []
    skipped = 0
    for item in items:
        value = _field_value(item.data, text_field)
        if value is None or (text_field is None and not value):
            skipped += 1
            continue
        ids.append(item.id)
        keys.append(item.key)
        inputs.append(value)
    space = schema.label_space
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(done[0])

    start = time.perf_counter()
    votes = apply_lfs(lfs, inputs, space, item_names=keys, n_jobs=n_jobs, progress=tick)
    seconds = time.perf_counter() - start

    identities = {(KIND, lf.name, lf.version) for lf in lfs}
    with store.write() as conn:
        project = repo.get_project(conn, project.name, lock=True)
        labeler_ids = repo.ensure_labelers(conn, project, identities)
        lf_ids = [labeler_ids[(KIND, lf.name, lf.version)] for lf in lfs]
        item_arr = np.asarray(ids, dtype=np.int64)
        drafts = []
        per_lf_votes = np.bincount(votes.lf, minlength=len(lfs))
        for pos, j, code in zip(
            votes.item.tolist(), votes.lf.tolist(), votes.label.tolist(), strict=True
        ):
            item_id = int(item_arr[pos])
            lab_id = lf_ids[j]
            drafts.append(
                repo.EventDraft(
                    type="answer",
                    item_id=item_id,
                    labeler_id=lab_id,
                    label=space.labels[code],
                    schema_version_id=version_id,
                    source=SOURCE,
                    idempotency_key=f"rule:{lab_id}:{item_id}",
                    payload={"lf": lfs[j].name, "module": path.name},
                )
            )
        added = repo.append_events(conn, project.name, drafts)
    failures_by_lf: dict[str, int] = {}
    for f in votes.failures:
        failures_by_lf[f.lf] = failures_by_lf.get(f.lf, 0) + 1
    return LFApplyReport(
        project=project.name,
        module=str(path),
        schema_version=schema.version,
        items=len(ids),
        skipped_without_input=skipped,
        events_added=added,
        seconds=round(seconds, 3),
        lfs=[
            LFApplied(
                name=lf.name,
                version=lf.version,
                votes=int(per_lf_votes[j]),
                failures=failures_by_lf.get(lf.name, 0),
            )
            for j, lf in enumerate(lfs)
        ],
        n_failures=len(votes.failures),
        failures=[
            {"lf": f.lf, "item": keys[f.item], "error": f.error}
            for f in votes.failures[:MAX_FAILURES_SHOWN]
        ],
    )


@dataclass
class LFStats:
    name: str
    version: str
    polarity: list[str]
    votes: int
    coverage: float
    overlap: float
    conflict: float
    gold_votes: int
    gold_accuracy: float | None
    estimated_accuracy: float | None


@dataclass
class LFReport:
    project: str
    items: int
    gold_items: int
    coverage: float
    lfs: list[LFStats]
    label_model: dict[str, Any]
    majority_vote_gold_accuracy: float | None
    end_model: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _none_if_nan(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 6)


def lf_report(
    store: Store,
    project_name: str | None,
    *,
    text_field: str = "text",
    end_model: bool = True,
    class_balance: str = "estimate",
    use_gold: bool = True,
) -> LFReport:
    """Analyse the project's LFs (latest version of each name) and the label model.

    ``class_balance``: ``estimate`` (by the label model), ``uniform``, or ``gold`` (the
    label shares of the project's gold items). With ``use_gold`` and at least ``MIN_GOLD``
    gold items with votes, the label model is fitted with gold items clamped
    (semi-supervised); its reported gold accuracy then comes from 2-fold cross-fitting
    (each gold item predicted by a model given only the other half's gold), so it is not
    read off the answer key.
    """
    if class_balance not in ("estimate", "uniform", "gold"):
        raise InvalidInput(
            f"class balance {class_balance!r} is not one of 'estimate', 'uniform', 'gold'"
        )
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        _, schema = require_schema(conn, project, needed_for="the LF report")
        space = schema.label_space
        labelers = list_labelers(conn, project, kind=KIND)
        if not labelers:
            raise InvalidInput(
                f"project {project.name!r} has no labeling-function votes yet; expected "
                "`labelloop lf apply MODULE.py` first"
            )
        latest = {x.name: x for x in labelers}  # later ids are newer versions
        names = list(latest)
        items = item_contents(conn, project)
        item_ids = [x.id for x in items]
        votes = project_answers(
            conn,
            project,
            space,
            types=("answer",),
            item_ids=item_ids,
            labeler_ids=[latest[name].id for name in names],
        ).answers.deduplicate(keep="last")
        gold = gold_codes(conn, project, space, item_ids)
    n = len(items)
    k = len(space)
    summary = analyze_lfs(votes, gold)
    known = gold != ABSTAIN
    covered = np.bincount(votes.item, minlength=n) > 0
    fold = np.arange(n) % 2
    start = time.perf_counter()
    balance: Any = class_balance
    if class_balance == "gold":
        known_gold = gold[known]
        if known_gold.size == 0:
            raise InvalidInput(
                f"project {project.name!r} has no gold labels; --class-balance gold needs some"
            )
        balance = np.bincount(known_gold, minlength=k).astype(np.float64) + 1.0
    selecting = use_gold and int((known & covered).sum()) >= MIN_GOLD
    weak = LabelModel(class_balance=balance).fit(votes)  # LF votes alone
    if selecting:
        # semi-supervised: gold items are clamped in EM, which pins down each LF's firing
        # rates; the reported accuracy comes from 2-fold cross-fitting (each gold item is
        # predicted by a model that was given only the other half's gold)
        cross = np.full(n, ABSTAIN, dtype=np.int64)
        for f in (0, 1):
            half = np.where(fold != f, gold, ABSTAIN)
            held = fold == f
            part = LabelModel(class_balance=balance).fit(votes, half)
            cross[held] = part.predict(votes)[held]
        model = LabelModel(class_balance=balance).fit(votes, gold)
    else:
        model = weak
        cross = weak.predict(votes)
    fit_seconds = time.perf_counter() - start

    def acc(pred: np.ndarray, mask: np.ndarray) -> float | None:
        return round(float((pred[mask] == gold[mask]).mean()), 6) if mask.any() else None

    lm_pred = cross
    mv_counts = votes.label_counts()
    mv_pred = np.where(mv_counts.sum(axis=1) > 0, mv_counts.argmax(axis=1), ABSTAIN)
    stats = [
        LFStats(
            name=name,
            version=latest[name].version,
            polarity=[space.labels[c] for c in summary.polarity[j]],
            votes=int(summary.n_votes[j]),
            coverage=round(float(summary.coverage[j]), 6),
            overlap=round(float(summary.overlap[j]), 6),
            conflict=round(float(summary.conflict[j]), 6),
            gold_votes=int(summary.n_gold[j]),
            gold_accuracy=_none_if_nan(float(summary.empirical_accuracy[j])),
            estimated_accuracy=_none_if_nan(float(model.skills_[j])),
        )
        for j, name in enumerate(names)
    ]
    end: dict[str, Any] | None = None
    if end_model:
        end = _end_model(items, text_field, weak.labels_, covered, known, gold, space)
    return LFReport(
        project=project.name,
        items=n,
        gold_items=int(known.sum()),
        coverage=round(summary.total_coverage, 6),
        lfs=stats,
        label_model={
            "method": model.name,
            "params": model.params(),
            "gold_clamped": selecting,
            "votes_only_gold_accuracy": acc(weak.predict(votes), known),
            "seconds": round(fit_seconds, 4),
            "gold_accuracy": acc(lm_pred, known),
            "gold_accuracy_covered": acc(lm_pred, known & covered),
            "class_balance": {
                space.labels[c]: round(float(p), 6) for c, p in enumerate(model.class_balance_)
            },
        },
        majority_vote_gold_accuracy=acc(mv_pred, known & covered),
        end_model=end,
    )


def _end_model(
    items: Sequence[ItemContent],
    text_field: str,
    labels: np.ndarray,
    covered: np.ndarray,
    known: np.ndarray,
    gold: np.ndarray,
    space: Any,
) -> dict[str, Any] | None:
    """TF-IDF + logistic regression trained on label-model labels, scored on gold items.

    ``labels`` come from the label model fitted on LF votes alone (never gold). Two-fold
    cross-fitting by item position: the model scoring a gold item never saw that item (its
    training items are the other fold's LF-covered items).
    """
    from labelloop.labelers.sklearn import SklearnLabeler

    texts: list[Any] = [x.data.get(text_field) for x in items]
    has_text = np.array([isinstance(x, str) for x in texts], dtype=bool)
    fold = np.arange(len(texts)) % 2
    right = total = trained = 0
    start = time.perf_counter()
    for f in (0, 1):
        train = np.flatnonzero((fold != f) & covered & has_text & (labels >= 0))
        test = np.flatnonzero((fold == f) & known & has_text)
        train_labels = [space.labels[int(c)] for c in labels[train]]
        if len(train) < MIN_END_MODEL_TRAIN or len(set(train_labels)) < 2 or len(test) == 0:
            return None
        clf = SklearnLabeler(name="end-model").fit([texts[i] for i in train], train_labels)
        pred = clf.predict([texts[i] for i in test])
        truth = [space.labels[int(c)] for c in gold[test]]
        right += sum(p == g for p, g in zip(pred, truth, strict=True))
        total += len(test)
        trained += len(train)
    return {
        "model": "tfidf(1-2)+LogisticRegression (labelers.sklearn.SklearnLabeler), 2-fold",
        "trained_on": trained,
        "evaluated_on": total,
        "gold_accuracy": round(right / total, 6),
        "seconds": round(time.perf_counter() - start, 3),
    }
