"""Choose the next items for humans under a budget, and store them as a batch.

The pool is every item with content. Items already labeled (gold, an answer of a human or
expert, or an auto-accepted model label) or queued / in flight in a batch are excluded. A
consensus built from machines alone (labeling functions, models, LLMs) does not exclude an
item: no person has seen it, and after `labelloop aggregate` over LF votes those are exactly
the items whose uncertainty sampling should weigh.

Uncertainty strategies read the class probabilities of a model labeler's latest answers
(default: the most recently created model labeler with answers; e.g. the one ``labelloop
train`` recorded); items that model has not scored count as maximally uncertain (uniform
probabilities). The committee is every model, LLM and labeling function of the project
(probabilities where answers carry them, an LLM's self-consistency vote shares, else hard
votes; an LF's abstain is no vote). Each chosen item is stored with its score and the reason
it was chosen (``batch_items``), status ``queued``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import insert, select

from labelloop import registry
from labelloop.core.identity import STUB_DATA
from labelloop.core.provenance import canonical_json
from labelloop.errors import InvalidInput, NotFound
from labelloop.service.project.schemas import current_schema
from labelloop.store import repo
from labelloop.store import tables as t
from labelloop.store.engine import Store


@dataclass(frozen=True)
class ModelRef:
    id: int
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass
class Predictions:
    """A model labeler's latest answer per item."""

    model: ModelRef
    label: dict[int, Any] = field(default_factory=dict)
    """A class name, or a list of names for task types that keep sets."""
    confidence: dict[int, float] = field(default_factory=dict)
    probabilities: dict[int, dict[str, float]] = field(default_factory=dict)


def resolve_model(conn: Any, project: repo.Project, model: str | None) -> ModelRef:
    """The model labeler named ``NAME`` or ``NAME@VERSION`` (latest when no version), or by
    default the most recently created model labeler that has answers."""
    lb, ev = t.labelers, t.events
    query = (
        select(lb.c.id, lb.c.name, lb.c.version)
        .where(lb.c.project_id == project.id, lb.c.kind == "model")
        .where(
            select(ev.c.id)
            .where(ev.c.labeler_id == lb.c.id, ev.c.type == "answer")  # not a project event
            .limit(1)
            .exists()
        )
        .order_by(lb.c.id.desc())
    )
    rows = conn.execute(query).all()
    if model is not None:
        name, _, version = model.partition("@")
        chosen = [r for r in rows if r.name == name and (not version or r.version == version)]
        if not chosen:
            known = sorted({f"{r.name}@{r.version}" for r in rows})
            raise NotFound(f"no model labeler {model!r} with answers; known: {known or 'none'}")
        rows = chosen
    if not rows:
        raise NotFound(
            f"project {project.name!r} has no model predictions yet; run `labelloop train` "
            "or `labelloop telemetry import FILE` first"
        )
    r = rows[0]
    return ModelRef(int(r.id), r.name, r.version)


def load_predictions(conn: Any, project: repo.Project, model: ModelRef) -> Predictions:
    """The labeler's latest answer per item (label, confidence, probabilities)."""
    ev = t.events
    out = Predictions(model)
    rows = conn.execute(
        select(ev.c.item_id, ev.c.label, ev.c.payload)
        .where(
            ev.c.project_id == project.id,
            ev.c.labeler_id == model.id,
            ev.c.type == "answer",
            ev.c.source == "model",
        )
        .order_by(ev.c.seq)
    )
    for item_id, label_text, payload_text in rows:
        label = json.loads(label_text) if label_text is not None else None
        if not isinstance(label, str | list):
            continue
        payload = json.loads(payload_text) if payload_text else {}
        item = int(item_id)
        out.label[item] = label
        conf = payload.get("confidence")
        if isinstance(conf, int | float):
            out.confidence[item] = float(conf)
        probs = payload.get("probabilities")
        if isinstance(probs, dict):
            out.probabilities[item] = probs
        else:
            out.probabilities.pop(item, None)
    return out


def excluded_items(conn: Any, project: repo.Project) -> dict[str, set[int]]:
    """Items not to send to humans again, by why: labeled (gold or a person's answer),
    auto_accepted, queued/in flight. A machine-only consensus is not a reason."""
    pid = project.id
    labeled: set[int] = set()
    labeled.update(
        conn.execute(select(t.gold.c.item_id).where(t.gold.c.project_id == pid)).scalars()
    )
    ev, lb = t.events, t.labelers
    labeled.update(
        conn.execute(
            select(ev.c.item_id)
            .join(lb, lb.c.id == ev.c.labeler_id)
            .where(
                ev.c.project_id == pid,
                ev.c.type.in_(("answer", "correction")),
                lb.c.kind.in_(t.PERSON_KINDS),
            )
            .distinct()
        ).scalars()
    )
    auto = set(
        conn.execute(
            select(ev.c.item_id)
            .where(ev.c.project_id == pid, ev.c.source == "model_auto", ev.c.item_id.is_not(None))
            .distinct()
        ).scalars()
    )
    bi = t.batch_items
    queued = set(
        conn.execute(
            select(bi.c.item_id)
            .where(bi.c.project_id == pid, bi.c.status.in_(("queued", "in_flight")))
            .distinct()
        ).scalars()
    )
    return {
        "labeled": {int(i) for i in labeled},
        "auto_accepted": {int(i) for i in auto},
        "queued": {int(i) for i in queued},
    }


def create_batch(
    conn: Any,
    project: repo.Project,
    *,
    kind: str,
    strategy: str,
    params: dict[str, Any],
    labeler_id: int | None,
    entries: list[dict[str, Any]],
) -> int:
    """Store a batch and its items (keys: item_id, score, reason, suggestion, show_suggestion)."""
    if kind not in t.BATCH_KINDS:
        raise InvalidInput(f"batch kind {kind!r}; expected one of {list(t.BATCH_KINDS)}")
    result = conn.execute(
        insert(t.batches).values(
            project_id=project.id,
            kind=kind,
            strategy=strategy,
            params=canonical_json(params),
            labeler_id=labeler_id,
            created_at=repo.now_iso(),
        )
    )
    batch_id = int(result.inserted_primary_key[0])
    rows = [
        {
            "batch_id": batch_id,
            "project_id": project.id,
            "item_id": e["item_id"],
            "rank": rank,
            "score": None
            if e.get("score") is None or not np.isfinite(e["score"])
            else float(e["score"]),
            "reason": e["reason"],
            "status": "queued",
            "suggestion": None if e.get("suggestion") is None else canonical_json(e["suggestion"]),
            "show_suggestion": bool(e.get("show_suggestion", False)),
        }
        for rank, e in enumerate(entries, 1)
    ]
    for start in range(0, len(rows), 5_000):
        conn.execute(insert(t.batch_items), rows[start : start + 5_000])
    return batch_id


@dataclass
class SampledItem:
    item_id: int
    key: str
    score: float | None
    reason: str


@dataclass
class SampleReport:
    project: str
    batch_id: int | None
    strategy: str
    method: str
    budget: int
    selected: int
    pool: int
    available: int
    excluded: dict[str, int]
    model: str | None
    items: list[SampledItem]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


EMBEDDINGS = ("tfidf", "minilm")
"""Item vectors for diversity and hybrid: TF-IDF + truncated SVD (64 dimensions, fitted on
the texts embedded, no extra) or the bundled all-MiniLM-L6-v2 sentence model (``embeddings``
extra). Diversity embeds the whole pool; hybrid embeds only its uncertain candidates."""


def _embed(texts: list[str], method: str, random_state: int | None) -> np.ndarray:
    if method == "minilm":
        from labelloop.labelers.embeddings import embed_texts

        return np.asarray(embed_texts(texts))
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    x = TfidfVectorizer(sublinear_tf=True, min_df=1).fit_transform(texts)
    dims = max(1, min(64, x.shape[1] - 1, x.shape[0] - 1))
    z = TruncatedSVD(dims, random_state=random_state or 0).fit_transform(x)
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    return np.asarray(z / np.where(norms > 0, norms, 1.0))


COMMITTEE_KINDS = ("model", "llm", "rule")
"""Labeler kinds that sit on the committee: every labeler that is not a person."""


def _embed_rows(
    texts: list[str], embeddings: str, random_state: int | None, idx: np.ndarray
) -> np.ndarray:
    """Vectors of the pool rows ``idx`` only (TF-IDF + SVD is then fitted on those texts)."""
    return _embed([texts[i] for i in idx.tolist()], embeddings, random_state)


def _committee(
    conn: Any, project: repo.Project, item_ids: np.ndarray, classes: list[str]
) -> tuple[np.ndarray, list[str]] | None:
    """The committee's votes, (M, n_pool, K), and its members' names; None below two members.

    Every model, LLM and labeling function of the project is a member (its latest answer per
    item): class probabilities where its answers carry them (models, telemetry), an LLM's
    self-consistency vote shares, else a hard vote (one-hot; labeling functions, LLMs). NaN
    rows where a member has not answered an item (a labeling function that abstained).
    Routing's ``model_auto`` copies are not votes. Memory: ``M * n_pool * K`` floats.
    """
    lb, ev = t.labelers, t.events
    position = {c: j for j, c in enumerate(classes)}
    row_of = {int(i): k for k, i in enumerate(item_ids.tolist())}
    names = {
        int(r.id): f"{r.kind}:{r.name}@{r.version}"
        for r in conn.execute(
            select(lb.c.id, lb.c.kind, lb.c.name, lb.c.version).where(
                lb.c.project_id == project.id, lb.c.kind.in_(COMMITTEE_KINDS)
            )
        )
    }
    members: dict[int, np.ndarray] = {}
    rows = conn.execute(
        select(ev.c.labeler_id, ev.c.item_id, ev.c.label, ev.c.payload)
        .where(
            ev.c.project_id == project.id,
            ev.c.type == "answer",
            ev.c.source != "model_auto",
            ev.c.labeler_id.in_(list(names)),
        )
        .order_by(ev.c.seq)
    )
    for labeler_id, item_id, label_text, payload_text in rows:
        k = row_of.get(int(item_id))
        if k is None:
            continue
        vote = np.zeros(len(classes))
        payload = json.loads(payload_text) if payload_text else {}
        # class probabilities (models, telemetry), else an LLM's self-consistency votes
        probs = payload.get("probabilities")
        if not isinstance(probs, dict):
            probs = payload.get("votes")
        if isinstance(probs, dict):
            for label, p in probs.items():
                j = position.get(label)
                if j is not None and isinstance(p, int | float):
                    vote[j] = p
        else:
            label = json.loads(label_text) if label_text is not None else None
            if isinstance(label, str) and label in position:
                vote[position[label]] = 1.0
        total = vote.sum()
        if total <= 0:
            continue
        m = members.get(int(labeler_id))
        if m is None:
            m = members[int(labeler_id)] = np.full((len(item_ids), len(classes)), np.nan)
        m[k] = vote / total
    if len(members) < 2:
        return None
    ids = sorted(members)
    return np.stack([members[i] for i in ids]), [names[i] for i in ids]


def sample(
    store: Store,
    project_name: str | None,
    strategy: str,
    budget: int,
    *,
    model: str | None = None,
    random_state: int | None = 0,
    options: dict[str, Any] | None = None,
    embeddings: str = "tfidf",
    text_field: str = "text",
) -> SampleReport:
    """Select up to ``budget`` items with ``strategy`` and store them as a ``sample`` batch.

    ``committee`` uses every model, LLM and labeling function of the project as a member
    (recorded in the batch's params); ``diversity`` and ``hybrid`` use item vectors
    (``embeddings``: one of :data:`EMBEDDINGS`) of ``text_field``.
    """
    if embeddings not in EMBEDDINGS:
        raise InvalidInput(f"unknown embeddings {embeddings!r}; expected one of {list(EMBEDDINGS)}")
    from labelloop.core.sampling import select_batch

    plugin = registry.samplers.resolve(strategy)  # an unknown name lists the known ones
    strategy = plugin.name
    if isinstance(budget, bool) or budget < 1:
        raise InvalidInput(f"budget must be a positive integer; got {budget!r}")
    options = dict(options or {})
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        it = t.items
        rows = conn.execute(
            select(it.c.id, it.c.key)
            .where(it.c.project_id == project.id, it.c.data != STUB_DATA)
            .order_by(it.c.id)
        ).all()
        item_ids = np.fromiter((r.id for r in rows), dtype=np.int64, count=len(rows))
        keys = [r.key for r in rows]
        if not rows:
            raise InvalidInput(f"project {project.name!r} has no items with content to sample")
        excluded = excluded_items(conn, project)
        skip = excluded["labeled"] | excluded["auto_accepted"] | excluded["queued"]
        exclude = np.fromiter((int(i) in skip for i in item_ids), dtype=bool, count=len(rows))
        probas = None
        ref: ModelRef | None = None
        found = current_schema(conn, project)
        if strategy != "random" and found is not None:
            try:
                ref = resolve_model(conn, project, model)
            except NotFound:
                if model is not None:
                    raise
                ref = None  # cold start: the core falls back to random / diversity
        uncertainty_scores = None
        if found is not None and found[1].kernels.label_is_list:  # sets: per-label probabilities
            from labelloop.service.sample.sets import set_uncertainty

            preds = load_predictions(conn, project, ref) if ref is not None else None
            uncertainty_scores = set_uncertainty(
                strategy,
                None if preds is None else preds.probabilities,
                item_ids.tolist(),
                found[1],
            )
        elif ref is not None and found is not None:
            classes = list(found[1].label_space.labels)
            preds = load_predictions(conn, project, ref)
            probas = np.full((len(rows), len(classes)), 1.0 / len(classes))
            position = {c: j for j, c in enumerate(classes)}
            for k, item_id in enumerate(item_ids.tolist()):
                probs = preds.probabilities.get(item_id)
                if probs:
                    row = np.zeros(len(classes))
                    for label, p in probs.items():
                        j = position.get(label)
                        if j is not None:
                            row[j] = p
                    total = row.sum()
                    if total > 0:
                        probas[k] = row / total
            if strategy == "class_balanced" and "class_counts" not in options:
                counts = np.zeros(len(classes), dtype=np.int64)
                from labelloop.service.annotate.train import current_labels

                for label in current_labels(conn, project)[0].values():
                    if label in position:
                        counts[position[label]] += 1
                options["class_counts"] = counts
        vectors: Any = None  # the pool's vectors, or a function of row indices (hybrid)
        if strategy in ("diversity", "hybrid"):
            texts = [
                str(json.loads(r.data).get(text_field, ""))
                for r in conn.execute(
                    select(it.c.data)
                    .where(it.c.project_id == project.id, it.c.data != STUB_DATA)
                    .order_by(it.c.id)
                )
            ]
            if strategy == "hybrid":  # its k-means needs only the candidates' vectors
                vectors = functools.partial(_embed_rows, texts, embeddings, random_state)
            else:
                vectors = _embed(texts, embeddings, random_state)
        members = None
        member_names: list[str] = []
        if strategy == "committee" and found is not None:
            committee = _committee(conn, project, item_ids, list(found[1].label_space.labels))
            if committee is not None:
                members, member_names = committee
        selection = select_batch(
            plugin.key,
            budget,
            n_pool=len(rows),
            probas=probas,
            member_probas=members,
            embeddings=vectors,
            exclude=exclude,
            random_state=random_state,
            uncertainty_scores=uncertainty_scores,
            **options,
        )
        chosen = selection.indices.tolist()
        entries: list[dict[str, Any]] = [
            {
                "item_id": int(item_ids[k]),
                "score": float(selection.scores[n]),
                "reason": selection.reasons[n],
            }
            for n, k in enumerate(chosen)
        ]
        batch_id = None
        if entries:
            params: dict[str, Any] = {
                "budget": budget,
                "embeddings": embeddings if vectors is not None else None,
                "random_state": random_state,
                "method": selection.method,
                "options": {
                    k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in options.items()
                },
            }
            if member_names:
                params["committee"] = member_names
            batch_id = create_batch(
                conn,
                project,
                kind="sample",
                strategy=plugin.key,
                params=params,
                labeler_id=None if ref is None else ref.id,
                entries=entries,
            )
    return SampleReport(
        project=project.name,
        batch_id=batch_id,
        strategy=plugin.key,
        method=selection.method,
        budget=budget,
        selected=len(entries),
        pool=len(rows),
        available=int((~exclude).sum()),
        excluded={k: len(v) for k, v in excluded.items()},
        model=None if ref is None else str(ref),
        items=[
            SampledItem(
                e["item_id"],
                keys[k],
                None if not np.isfinite(e["score"]) else round(e["score"], 6),
                e["reason"],
            )
            for e, k in zip(entries, chosen, strict=True)
        ],
    )
