"""Active-learning benchmark: labels needed to reach 95% of full-data accuracy, per strategy.

A simulated loop (the gold label answers) on one CSV of texts and labels:

* Per seed: a fixed stratified test split (``--test-size``, default 25%); the rest is the pool.
  Full-data accuracy = the model trained on the whole pool, on the test split.
* Features: TF-IDF (word 1-2 grams, sublinear tf, min_df=2) fitted once on all texts
  (unsupervised). Model: logistic regression (C=10, lbfgs), the default of
  ``labelloop.labelers.SklearnLabeler``. Embeddings for diversity / hybrid / cold start:
  100-d LSA (truncated SVD of the TF-IDF, unit length), or ``--embeddings minilm`` for the
  sentence embeddings of ``labelloop.labelers.embed_texts`` (optional extra; cached in
  ``benchmarks/.cache``).
* ``--features minilm`` trains the model on the MiniLM sentence embeddings instead (what
  ``labelloop.labelers.EmbeddingLabeler`` does); the NB committee member stays on TF-IDF.
* Budgets grow geometrically: ``--init`` (20) labels, then x``--growth`` (1.25) per round. The
  seed set is chosen by ``select_batch`` itself: until two classes are labeled there is no
  model, so every strategy cold-starts (random, or k-center on embeddings for diversity /
  hybrid).
* Each round: fit on the labeled items, score the pool, ``select_batch(strategy, ...)`` with
  the labeled items excluded. ``committee`` = three members (LR on TF-IDF, multinomial NB on
  TF-IDF, LR on the embeddings), vote entropy; ``committee_kl`` = same members, mean KL.
* Random runs first; its run stops at the first budget where its test accuracy is >= 95% of
  full-data accuracy (or the pool is exhausted): that budget closes the common range. Every
  other strategy runs the same budgets, at least to random's stop (for AULC) and on until it
  reaches 95% too, at most ``--max-factor`` (3) x random's stop (a lucky early crossing of
  random must not leave the others unmeasured).
* ``labels_to_95``: the first crossing of 0.95 x full-data accuracy, linearly interpolated in
  labels between the last budget below and the first at or above it; mean over seeds
  (null if any seed did not reach it within ``--max-factor`` x random's stop). ``aulc``: area under the
  accuracy-vs-labels curve (trapezoid, linear labels axis) over the common budget range,
  divided by its width -- mean accuracy over the range, in [0, 1]; mean over seeds.
* ``NAME+density`` (e.g. ``margin+density``, opt-in via ``--strategies``): the strategy with
  information-density weighting (``density=1``; k-center cold start on the embeddings).
* Peer: small-text (if importable) ``PredictionEntropy`` and ``BreakingTies`` query
  strategies on the same model, features, seed sets and budgets (``smalltext_entropy``,
  ``smalltext_breaking_ties``).

Usage (from the repository root)::

    .venv/bin/python benchmarks/active_learning.py --data ../shared/data/al/sms_spam/data.csv \
        --text-col text --label-col label [--json]

BLAS threads are pinned to 1 (tiny fits are ~100x slower otherwise on 2 cores).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from scipy import sparse  # noqa: E402
from sklearn.decomposition import TruncatedSVD  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.naive_bayes import MultinomialNB  # noqa: E402

from labelloop.core.sampling import select_batch  # noqa: E402
from labelloop.labelers.sklearn import DEFAULT_C  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"
OURS = (
    "random",
    "least_confidence",
    "margin",
    "entropy",
    "committee",
    "committee_kl",
    "diversity",
    "hybrid",
    "class_balanced",
)
PEERS = ("smalltext_entropy", "smalltext_breaking_ties")
NEEDS_EMBEDDINGS = {"diversity", "hybrid"}


def load(path: str, text_col: str, label_col: str) -> tuple[list[str], np.ndarray, list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in (text_col, label_col) if c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"error: {path}: no column(s) {missing}; columns seen: {reader.fieldnames}")
        rows = [(r[text_col], r[label_col]) for r in reader]
    classes = sorted({lab for _, lab in rows})
    code = {c: i for i, c in enumerate(classes)}
    return [t for t, _ in rows], np.array([code[lab] for _, lab in rows]), classes


MODEL_C = DEFAULT_C  # --C overrides (e.g. 1.0, scikit-learn's default)


def model() -> LogisticRegression:
    return LogisticRegression(C=MODEL_C, max_iter=2000)


def fit_proba(est: Any, x_train: Any, y_train: np.ndarray, x_pred: Any, k: int) -> np.ndarray:
    """Fit and predict_proba with columns for all k classes (absent classes get 0)."""
    est.fit(x_train, y_train)
    raw = est.predict_proba(x_pred)
    out = np.zeros((raw.shape[0], k))
    out[:, est.classes_] = raw
    return out


def minilm_embeddings(texts: list[str], data_path: str) -> np.ndarray:
    digest = hashlib.sha256("\x1f".join(texts).encode()).hexdigest()[:16]
    cache = CACHE / f"al_minilm_{Path(data_path).parent.name}_{digest}.npy"
    if cache.exists():
        return np.load(cache)
    from labelloop.labelers import embed_texts

    emb = embed_texts(texts)
    CACHE.mkdir(exist_ok=True)
    np.save(cache, emb)
    return emb


def schedule(init: int, growth: float, cap: int) -> list[int]:
    out = [min(init, cap)]
    while out[-1] < cap:
        out.append(min(cap, max(out[-1] + 1, math.ceil(out[-1] * growth))))
    return out


@dataclass
class Curve:
    budgets: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)


def crossing(curve: Curve, target: float) -> float | None:
    """First budget where accuracy >= target, interpolated linearly from the step before."""
    for i, (b, a) in enumerate(zip(curve.budgets, curve.accuracy, strict=True)):
        if a >= target:
            if i == 0:
                return float(b)
            b0, a0 = curve.budgets[i - 1], curve.accuracy[i - 1]
            return b0 + (b - b0) * (target - a0) / (a - a0)
    return None


def aulc(curve: Curve, upto: int) -> float:
    b = np.array([x for x in curve.budgets if x <= upto], dtype=float)
    a = np.array(curve.accuracy[: len(b)], dtype=float)
    if len(b) < 2:
        return float(a[0]) if len(a) else float("nan")
    return float(np.trapezoid(a, b) / (b[-1] - b[0]))


class Smalltext:
    """small-text's query strategies on our model and features (same budgets)."""

    def __init__(self, name: str, k: int) -> None:
        from small_text import BreakingTies, PredictionEntropy, SklearnClassifier
        from small_text.data import SklearnDataset

        self.k = k
        self.query = PredictionEntropy() if name == "smalltext_entropy" else BreakingTies()
        self._clf = lambda: SklearnClassifier(model(), k)
        self._ds = SklearnDataset

    def select(self, x_pool: Any, y_pool: np.ndarray, labeled: np.ndarray, n: int) -> np.ndarray:
        clf = self._clf()
        clf.fit(self._ds(x_pool[labeled], y_pool[labeled]))
        ds = self._ds(x_pool, y_pool)
        unlabeled = np.setdiff1d(np.arange(x_pool.shape[0]), labeled)
        return np.asarray(self.query.query(clf, ds, unlabeled, labeled, y_pool[labeled], n=n))


def run_strategy(
    name: str,
    *,
    x_pool: Any,
    y_pool: np.ndarray,
    x_test: Any,
    y_test: np.ndarray,
    emb_pool: np.ndarray,
    tfidf_pool: Any,
    budgets: list[int],
    k: int,
    seed: int,
    stop_at: float | None = None,
    min_budget: int = 0,
) -> Curve:
    """One simulated loop; stops once accuracy has reached ``stop_at`` and budget >= min_budget."""
    n_pool = x_pool.shape[0]
    labeled = np.zeros(n_pool, dtype=bool)
    curve = Curve()
    rng = np.random.default_rng(seed * 1000 + 7)
    peer = Smalltext(name, k) if name in PEERS else None
    density = name.endswith("+density")
    strategy = name.removesuffix("+density")
    strategy = "committee" if strategy == "committee_kl" else strategy
    reached = False
    for step, budget in enumerate(budgets):
        need = budget - int(labeled.sum())
        idx_l = np.flatnonzero(labeled)
        two_classes = len(np.unique(y_pool[idx_l])) >= 2
        if need > 0:
            emb = emb_pool if strategy in NEEDS_EMBEDDINGS or density else None
            if not two_classes:
                sel = select_batch(
                    "random" if peer is not None else strategy,
                    need,
                    n_pool=n_pool,
                    embeddings=emb,
                    exclude=labeled,
                    random_state=rng,
                ).indices
            elif peer is not None:
                sel = peer.select(x_pool, y_pool, idx_l, need)
            else:
                kwargs: dict[str, Any] = {}
                probas = None
                if strategy != "random" and strategy != "diversity":
                    probas = fit_proba(model(), x_pool[idx_l], y_pool[idx_l], x_pool, k)
                if strategy == "committee":
                    members = [
                        probas,
                        fit_proba(
                            MultinomialNB(alpha=0.1),
                            tfidf_pool[idx_l],
                            y_pool[idx_l],
                            tfidf_pool,
                            k,
                        ),
                        fit_proba(model(), emb_pool[idx_l], y_pool[idx_l], emb_pool, k),
                    ]
                    kwargs["member_probas"] = np.stack(members)
                    kwargs["method"] = "kl" if name == "committee_kl" else "vote_entropy"
                if density:
                    kwargs["density"] = 1.0
                if strategy == "class_balanced":
                    kwargs["class_counts"] = np.bincount(y_pool[idx_l], minlength=k)
                sel = select_batch(
                    strategy,
                    need,
                    n_pool=n_pool,
                    probas=probas,
                    embeddings=emb,
                    exclude=labeled,
                    random_state=rng,
                    **kwargs,
                ).indices
            assert not labeled[sel].any(), f"{name} selected a labeled item"
            labeled[sel] = True
        idx_l = np.flatnonzero(labeled)
        if len(np.unique(y_pool[idx_l])) >= 2:
            est = model().fit(x_pool[idx_l], y_pool[idx_l])
            acc = float((est.predict(x_test) == y_test).mean())
        else:  # one class known: the model can only predict it
            acc = float((y_test == y_pool[idx_l][0]).mean())
        curve.budgets.append(budget)
        curve.accuracy.append(acc)
        reached = reached or (stop_at is not None and acc >= stop_at)
        if reached and budget >= min_budget:
            break
        if step == len(budgets) - 1:
            break
    return curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--text-col", default="text")
    ap.add_argument("--label-col", default="label")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument(
        "--C",
        type=float,
        default=DEFAULT_C,
        help=f"inverse regularisation of the logistic regression (default {DEFAULT_C:g})",
    )
    ap.add_argument("--test-size", type=float, default=0.25)
    ap.add_argument("--init", type=int, default=20)
    ap.add_argument("--growth", type=float, default=1.25)
    ap.add_argument(
        "--max-factor",
        type=float,
        default=3.0,
        help="other strategies run until they reach 95%% too, at most this many times "
        "random's budget (default 3)",
    )
    ap.add_argument("--embeddings", choices=("lsa", "minilm"), default="lsa")
    ap.add_argument(
        "--features",
        choices=("tfidf", "minilm"),
        default="tfidf",
        help="model input: TF-IDF (default) or MiniLM sentence embeddings (EmbeddingLabeler)",
    )
    ap.add_argument("--strategies", default=",".join(OURS + PEERS))
    args = ap.parse_args()
    global MODEL_C
    MODEL_C = args.C
    warnings.filterwarnings("ignore")

    t0 = time.perf_counter()
    texts, y, classes = load(args.data, args.text_col, args.label_col)
    k = len(classes)
    tfidf_all = sparse.csr_matrix(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2).fit_transform(texts)
    )
    x_all: Any = tfidf_all
    if args.features == "minilm":
        x_all = minilm_embeddings(texts, args.data)
    if args.embeddings == "minilm":
        emb_all = minilm_embeddings(texts, args.data)
    else:
        emb_all = TruncatedSVD(100, random_state=0).fit_transform(tfidf_all)
        emb_all /= np.maximum(np.linalg.norm(emb_all, axis=1, keepdims=True), 1e-12)
    names = [s for s in args.strategies.split(",") if s]
    if any(n in PEERS for n in names):
        try:
            import small_text  # noqa: F401
        except ImportError:
            print("note: small-text not installed; peer strategies skipped", file=sys.stderr)
            names = [n for n in names if n not in PEERS]
    if "random" not in names:
        names.insert(0, "random")
    names.remove("random")
    names.insert(0, "random")

    full: list[float] = []
    per: dict[str, dict[str, list[Any]]] = {n: {"l95": [], "aulc": [], "sec": []} for n in names}
    random_stop: list[int] = []
    for seed in range(args.seeds):
        idx = np.arange(len(texts))
        pool_i, test_i = train_test_split(
            idx, test_size=args.test_size, stratify=y, random_state=seed
        )
        rng = np.random.default_rng(seed)
        pool_i = rng.permutation(pool_i)
        x_pool, y_pool, x_test, y_test = x_all[pool_i], y[pool_i], x_all[test_i], y[test_i]
        emb_pool = emb_all[pool_i]
        tfidf_pool = tfidf_all[pool_i]
        full_acc = float((model().fit(x_pool, y_pool).predict(x_test) == y_test).mean())
        full.append(full_acc)
        target = 0.95 * full_acc
        budgets = schedule(args.init, args.growth, len(pool_i))
        common = dict(
            x_pool=x_pool,
            y_pool=y_pool,
            x_test=x_test,
            y_test=y_test,
            emb_pool=emb_pool,
            tfidf_pool=tfidf_pool,
            k=k,
        )
        t = time.perf_counter()
        rand = run_strategy("random", budgets=budgets, seed=seed, stop_at=target, **common)
        per["random"]["sec"].append(time.perf_counter() - t)
        stop = rand.budgets[-1]
        random_stop.append(stop)
        budgets = [b for b in budgets if b <= args.max_factor * stop]
        curves = {"random": rand}
        for name in names[1:]:
            t = time.perf_counter()
            curves[name] = run_strategy(
                name, budgets=budgets, seed=seed, stop_at=target, min_budget=stop, **common
            )
            per[name]["sec"].append(time.perf_counter() - t)
        for name, c in curves.items():
            per[name]["l95"].append(crossing(c, target))
            per[name]["aulc"].append(aulc(c, stop))
        print(
            f"seed {seed}: full-data accuracy {full_acc:.4f}, random stop {stop} labels, "
            f"{time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
        )

    def mean_or_none(v: list[float | None]) -> float | None:
        return (
            None if any(x is None for x in v) else float(np.mean([x for x in v if x is not None]))
        )

    rand_l95 = mean_or_none(per["random"]["l95"])
    result: dict[str, Any] = {
        "data": args.data,
        "n_items": len(texts),
        "n_classes": k,
        "seeds": args.seeds,
        "test_size": args.test_size,
        "init": args.init,
        "growth": args.growth,
        "embeddings": args.embeddings,
        "features": args.features,
        "labels_to_95_method": "linear interpolation between budget steps; mean over seeds",
        "full_data_accuracy": float(np.mean(full)),
        "full_data_accuracy_per_seed": full,
        "pool_size": len(texts) - round(args.test_size * len(texts)),
        "random_stop_budget_per_seed": random_stop,
        "strategies": {},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    for name in names:
        l95 = mean_or_none(per[name]["l95"])
        result["strategies"][name] = {
            "labels_to_95": None if l95 is None else round(l95, 1),
            "labels_to_95_per_seed": [None if v is None else round(v, 1) for v in per[name]["l95"]],
            "ratio_to_random": None if l95 is None or not rand_l95 else round(l95 / rand_l95, 3),
            "aulc": round(float(np.mean(per[name]["aulc"])), 4),
            "seconds": round(float(np.sum(per[name]["sec"])), 1),
            "peer": name in PEERS,
        }
    strategies = result["strategies"]
    ours = {n: s for n, s in strategies.items() if not s["peer"] and n != "random"}
    reached = {n: s for n, s in ours.items() if s["labels_to_95"] is not None}
    if reached:
        best = min(reached, key=lambda n: reached[n]["labels_to_95"])
        result["best_strategy"] = best
        result["best_ratio_to_random"] = strategies[best]["ratio_to_random"]
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{Path(args.data).parent.name}: {len(texts)} items, {k} classes; full-data accuracy "
        f"{result['full_data_accuracy']:.4f} (target 95% = {0.95 * result['full_data_accuracy']:.4f}); "
        f"{args.seeds} seeds; random stops at {random_stop} labels; {result['seconds']} s"
    )
    print(f"{'strategy':<26}{'labels_to_95':>14}{'vs random':>11}{'AULC':>8}{'sec':>8}")
    for name, s in strategies.items():
        l95 = "-" if s["labels_to_95"] is None else f"{s['labels_to_95']:.0f}"
        ratio = "-" if s["ratio_to_random"] is None else f"{s['ratio_to_random']:.2f}"
        label = name + (" (peer)" if s["peer"] else "")
        print(f"{label:<26}{l95:>14}{ratio:>11}{s['aulc']:>8.4f}{s['seconds']:>8.1f}")


if __name__ == "__main__":
    main()
