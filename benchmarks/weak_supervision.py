"""Weak supervision on WRENCH sets: our label model vs majority vote vs Snorkel's LabelModel.

Usage:
    python benchmarks/weak_supervision.py                 # every wrench_* set in ../shared/data/ws
    python benchmarks/weak_supervision.py --data DIR      # one WRENCH-format folder
    python benchmarks/weak_supervision.py --json          # one JSON object

Protocol (identical for every method): fit on the train split's LF votes (no labels; a set
without train.jsonl, e.g. chemprot, fits on valid votes), pick hyper-parameters by the
valid split's gold score, report the test score (accuracy; binary F1 of class 1 for sms, as
in WRENCH) with argmax predictions. Selection grids:

- ours (``labelloop.core.label_model.select_label_model``): class balance {estimated,
  uniform, dev} x EM iterations {1, 3, 10, 100} x abstain weight {1, 0.5}, correlated-LF
  grouping at firing correlation 0.5;
- Snorkel 0.10 ``LabelModel``: class balance {uniform (its default), dev (``Y_dev``)} x
  n_epochs {100, 500} x lr {0.01, 0.001}, seed 123, run in ``benchmarks/.venv-peers``
  (created by ``benchmarks/setup_peers.sh``) in a subprocess;
- majority vote (``majority_vote.v1``) has nothing to select.

``fit_seconds`` is the fastest of 5 fits (ours, MV) or 3 fits (Snorkel) of the selected
configuration, the figure least disturbed by other load on a shared machine. Defaults without
selection are reported too. The end model is scikit-learn TF-IDF + logistic regression
trained on the train texts covered by at least one LF, with our label model's argmax labels
weighted by its confidence; its test score is reported.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from labelloop.core.aggregate import make_aggregator  # noqa: E402
from labelloop.core.label_model import LabelModel, score_labels, select_label_model  # noqa: E402
from labelloop.core.weak import votes_from_matrix  # noqa: E402

HERE = Path(__file__).resolve().parent
PEERS_PY = HERE / ".venv-peers" / "bin" / "python"
DEFAULT_ROOT = HERE.parent.parent / "shared" / "data" / "ws"
METRICS = {"wrench_sms": "f1", "sms": "f1"}

SNORKEL_RUNNER = r"""
import json, sys, time, os
os.environ["OMP_NUM_THREADS"] = "1"
import numpy as np, torch
torch.set_num_threads(1)
from snorkel.labeling.model import LabelModel
d = json.load(open(sys.argv[1]))
k = d["k"]; metric = d["metric"]
Ltr, Lva, Lte = (np.array(d[s], dtype=np.int64) for s in ("train", "valid", "test"))
yva, yte = np.array(d["yva"]), np.array(d["yte"])
def score(y, p):
    if metric == "f1":
        tp = ((p == 1) & (y == 1)).sum(); fp = ((p == 1) & (y != 1)).sum(); fn = ((p != 1) & (y == 1)).sum()
        return 0.0 if tp == 0 else float(2 * tp / (2 * tp + fp + fn))
    return float((y == p).mean())
def fit(cb, ep, lr):
    m = LabelModel(cardinality=k, verbose=False)
    t = time.perf_counter()
    m.fit(Ltr, n_epochs=ep, lr=lr, seed=123, progress_bar=False, Y_dev=yva if cb == "dev" else None)
    return m, time.perf_counter() - t
fit(None, 10, 0.01)  # warm-up (torch first-call overhead)
rows = []
for cb in (None, "dev"):
    for ep in (100, 500):
        for lr in (0.01, 0.001):
            m, dt = fit(cb, ep, lr)
            rows.append({"class_balance": cb or "uniform", "n_epochs": ep, "lr": lr,
                         "valid": score(yva, m.predict_proba(Lva).argmax(1)),
                         "test": score(yte, m.predict_proba(Lte).argmax(1)), "seconds": dt})
best = max(rows, key=lambda r: r["valid"])  # first wins ties
times = [fit(best["class_balance"] if best["class_balance"] == "dev" else None,
             best["n_epochs"], best["lr"])[1] for _ in range(3)]
default = rows[0]
print(json.dumps({"score": best["test"], "fit_seconds": min(times), "selected": best,
                  "default_score": default["test"], "default_fit_seconds": default["seconds"]}))
"""


def load_split(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    if not rows or "weak_labels" not in rows[0]:
        raise SystemExit(f"{path}: expected JSONL rows with 'weak_labels' and 'label'")
    votes = np.array([r["weak_labels"] for r in rows], dtype=np.int64)
    gold = np.array([r["label"] for r in rows], dtype=np.int64)
    return votes, gold, [str(r.get("text", "")) for r in rows]


def best_seconds(fn: Any, repeat: int = 5) -> float:
    """Fastest of ``repeat`` runs (as timeit does: the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run_snorkel(payload: dict[str, Any]) -> dict[str, Any]:
    if not PEERS_PY.exists():
        return {"error": "benchmarks/.venv-peers missing: run benchmarks/setup_peers.sh"}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(payload, f)
        name = f.name
    try:
        proc = subprocess.run(
            [str(PEERS_PY), "-c", SNORKEL_RUNNER, name], capture_output=True, text=True
        )
    finally:
        os.unlink(name)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def end_model_score(
    texts: list[str],
    probas: np.ndarray,
    covered: np.ndarray,
    test_texts: list[str],
    yte: np.ndarray,
    metric: str,
) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    idx = np.flatnonzero(covered)
    labels = probas[idx].argmax(axis=1)
    if len(np.unique(labels)) < 2:
        return float("nan")
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    x = vec.fit_transform([texts[i] for i in idx])
    clf = LogisticRegression(max_iter=2000, C=10.0)
    clf.fit(x, labels, sample_weight=probas[idx].max(axis=1))
    pred = clf.predict(vec.transform(test_texts))
    return score_labels(yte, pred, metric=metric)


def run_set(
    folder: Path, *, with_snorkel: bool = True, metric: str | None = None
) -> dict[str, Any]:
    train_path = folder / "train.jsonl"
    fit_split = "train" if train_path.exists() else "valid"
    ltr, _ytr, ttr = load_split(folder / f"{fit_split}.jsonl")
    lva, yva, _ = load_split(folder / "valid.jsonl")
    lte, yte, tte = load_split(folder / "test.jsonl")
    k = int(max(yva.max(), yte.max(), ltr.max(), lva.max(), lte.max())) + 1
    metric = metric or METRICS.get(folder.name, "accuracy")
    a_tr, a_va, a_te = (votes_from_matrix(m, k) for m in (ltr, lva, lte))

    t0 = time.perf_counter()
    best, _scores = select_label_model(a_tr, a_va, yva, metric=metric)
    select_seconds = time.perf_counter() - t0
    params = {
        p: getattr(best, p)
        for p in ("class_balance", "max_iter", "abstain_weight", "correlation_threshold")
    }
    lm_fit = best_seconds(lambda: LabelModel(**params).fit(a_tr))
    lm_score = score_labels(yte, best.predict(a_te), metric=metric)
    default = LabelModel()
    default_fit = best_seconds(lambda: default.fit(a_tr))
    default_score = score_labels(yte, default.predict(a_te), metric=metric)

    mv = make_aggregator("majority_vote.v1")
    mv_fit = best_seconds(lambda: mv.fit(a_te))
    mv_pred = np.where(mv.labels_ < 0, 0, mv.labels_)  # no vote: class 0 (argmax of a tie)
    mv_score = score_labels(yte, mv_pred, metric=metric)

    covered = np.bincount(a_tr.item, minlength=a_tr.n_items) > 0
    end = end_model_score(ttr, best.fit(a_tr).probas_, covered, tte, yte, metric)
    sel = dict(params)
    if isinstance(sel["class_balance"], np.ndarray):
        sel["class_balance"] = "dev"
    out: dict[str, Any] = {
        "set": folder.name,
        "metric": metric,
        "fit_split": fit_split,
        "n_fit": int(ltr.shape[0]),
        "n_test": int(lte.shape[0]),
        "n_lfs": int(ltr.shape[1]),
        "n_classes": k,
        "label_model": {
            "score": lm_score,
            "fit_seconds": lm_fit,
            "selected": sel,
            "selection_seconds": select_seconds,
            "default_score": default_score,
            "default_fit_seconds": default_fit,
        },
        "majority_vote": {"score": mv_score, "fit_seconds": mv_fit},
        "end_model": {"score": end, "model": "tfidf(1-2)+LogisticRegression, label model labels"},
    }
    if with_snorkel:
        payload = {
            "k": k,
            "metric": metric,
            "train": ltr.tolist(),
            "valid": lva.tolist(),
            "test": lte.tolist(),
            "yva": yva.tolist(),
            "yte": yte.tolist(),
        }
        out["snorkel"] = run_snorkel(payload)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="Label model vs majority vote vs Snorkel")
    ap.add_argument("--data", type=Path, help="one WRENCH-format folder")
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--no-snorkel", action="store_true", help="skip the Snorkel peer")
    ap.add_argument(
        "--metric", choices=("accuracy", "f1"), help="default: f1 for sms, else accuracy"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    folders = [args.data] if args.data else sorted(args.root.glob("wrench_*"))
    results = [run_set(f, with_snorkel=not args.no_snorkel, metric=args.metric) for f in folders]
    if args.json:
        print(json.dumps(results[0] if args.data else {"sets": results}))
        return
    head = (
        f"{'set':<16}{'metric':>9}{'ours':>8}{'MV':>8}{'Snorkel':>9}{'ours fit s':>12}"
        f"{'Snorkel fit s':>15}{'speed-up':>10}{'end model':>11}{'ours dflt':>11}{'Snk dflt':>10}"
    )
    print(head)
    for r in results:
        sn = r.get("snorkel", {})
        lm = r["label_model"]
        s_score = sn.get("score", float("nan"))
        s_fit = sn.get("fit_seconds", float("nan"))
        print(
            f"{r['set']:<16}{r['metric']:>9}{lm['score']:>8.3f}{r['majority_vote']['score']:>8.3f}"
            f"{s_score:>9.3f}{lm['fit_seconds']:>12.4f}{s_fit:>15.4f}"
            f"{s_fit / lm['fit_seconds']:>9.0f}x{r['end_model']['score']:>11.3f}"
            f"{lm['default_score']:>11.3f}{sn.get('default_score', float('nan')):>10.3f}"
        )
        if "error" in sn:
            print(f"  snorkel: {sn['error']}", file=sys.stderr)


if __name__ == "__main__":
    main()
