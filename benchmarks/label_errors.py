"""Label-error benchmark: our score (``core.audit.score_label_errors``) vs cleanlab's default ranking.

Data: the four sets in ``../shared/data/labelerrors`` that ship out-of-sample predicted
probabilities (20news, MNIST, CIFAR-10, IMDB; Northcutt, Athalye & Mueller 2021). The
candidates are the items cleanlab flagged and Mechanical Turk workers checked; a candidate
is a *validated* error when fewer than 3 workers chose the given label. IMDB candidate ids
map to indices through ``dataset_indexing`` (strip ``test/``, add ``.txt``).

Both scores rank the candidates: ``cleanlab`` = 1 - ``cleanlab.rank.get_label_quality_scores``
at its defaults (self-confidence); ``ours`` = the model-only variant of our posterior
score (no annotator answers exist for these sets). Per set: average precision and
precision@k (k = number of validated errors), with 95 % bootstrap intervals over the
candidates (``--boot`` resamples, seed 0), and the bootstrap interval of ``ours - cleanlab``.
Flags: cleanlab's ``find_label_issues`` at its defaults, ours = items whose given label has
posterior < 0.5; flags outside the checked candidates cannot be verified and are only counted.

How ours was chosen (not on the scored candidates): ``--tune`` injects synthetic noise into
CIFAR-10's *non-candidate* items (2 % of them, each flipped to a class drawn from the
model's probabilities over the other classes, i.e. plausible confusions; seeds 0-4), takes
cleanlab's flags on the noisy labels as the candidates (as in the real study), and compares
self-confidence with the posterior at temperatures ``TEMPERATURES`` by average precision on
them; the best (``TEMPERATURE``) is fixed here. Result: mean AP 0.984 at T = 0.5, 0.981 at
T = 1, 0.976 at T = 2, 0.958 at T = 4, self-confidence 0.983 -- nearly saturated, so this
tuning separates the settings only weakly. ``--json`` prints one JSON object.
Needs the ``audit`` extra (``pip install 'labelloop[audit]'``). Run from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
from sklearn.metrics import average_precision_score  # noqa: E402

from labelloop.core.audit import score_label_errors  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "labelerrors"
SETS = {
    "20news": "20news_test_set",
    "mnist": "mnist_test_set",
    "cifar10": "cifar10_test_set",
    "imdb": "imdb_test_set",
}
TUNE_SET = "cifar10"
TEMPERATURES = (0.5, 1.0, 2.0, 4.0)
TEMPERATURE = 0.5  # chosen with --tune (see the docstring)
NOISE = 0.02


def load(name: str, data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(given labels, probabilities, candidate indices, validated mask over candidates)."""
    stem = SETS[name]
    labels = np.load(data / "original_test_labels" / f"{stem}_original_labels.npy")
    probas = np.load(data / "cross_validated_predicted_probabilities" / f"{stem}_pyx.npy")
    records = json.loads((data / "mturk" / f"{name}_mturk.json").read_text())
    if name == "imdb":
        files = json.loads(
            (data / "dataset_indexing" / "imdb_test_set_index_to_filename.json").read_text()
        )
        where = {f: i for i, f in enumerate(files)}
        idx = [where[r["id"].removeprefix("test/") + ".txt"] for r in records]
    else:
        idx = [int(r["id"]) for r in records]
    validated = np.array([r["mturk"]["given"] < 3 for r in records])
    probas = np.clip(probas.astype(np.float64), 0.0, None)  # float16 rows may sum past 1
    probas /= probas.sum(axis=1, keepdims=True)
    return labels.astype(np.int64), probas, np.array(idx), validated


def ours(labels: np.ndarray, probas: np.ndarray, temperature: float = TEMPERATURE) -> np.ndarray:
    return score_label_errors(labels, probas, temperature=temperature)


def cleanlab_score(labels: np.ndarray, probas: np.ndarray) -> np.ndarray:
    from cleanlab.rank import get_label_quality_scores

    return 1.0 - get_label_quality_scores(labels, probas)


def cleanlab_flags(labels: np.ndarray, probas: np.ndarray) -> np.ndarray:
    from cleanlab.filter import find_label_issues

    return np.asarray(find_label_issues(labels, probas))


def metrics(truth: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """(average precision, precision@k with k = number of positives)."""
    k = int(truth.sum())
    if k == 0 or k == truth.shape[0]:
        return float("nan"), float("nan")
    top = np.argsort(-score, kind="stable")[:k]
    return float(average_precision_score(truth, score)), float(truth[top].mean())


def evaluate(
    truth: np.ndarray, ours_s: np.ndarray, clean_s: np.ndarray, n_boot: int
) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    point = {"ours": metrics(truth, ours_s), "cleanlab": metrics(truth, clean_s)}
    reps = []
    for _ in range(n_boot):
        b = rng.integers(0, truth.shape[0], truth.shape[0])
        reps.append([*metrics(truth[b], ours_s[b]), *metrics(truth[b], clean_s[b])])
    r = np.array(reps)
    ci = np.nanpercentile(r, [2.5, 97.5], axis=0).T
    diff = np.nanpercentile(r[:, :2] - r[:, 2:], [2.5, 97.5], axis=0).T
    out: dict[str, Any] = {}
    for j, who in enumerate(("ours", "cleanlab")):
        ap, pk = point[who]
        out[who] = {
            "ap": ap,
            "precision_at_k": pk,
            "ap_ci": ci[2 * j].tolist(),
            "precision_at_k_ci": ci[2 * j + 1].tolist(),
        }
    out["ours_minus_cleanlab_ci"] = {"ap": diff[0].tolist(), "precision_at_k": diff[1].tolist()}
    return out


def run_set(name: str, data: Path, n_boot: int) -> dict[str, Any]:
    labels, probas, idx, validated = load(name, data)
    o, c = ours(labels, probas), cleanlab_score(labels, probas)
    res = evaluate(validated, o[idx], c[idx], n_boot)
    res["candidates"] = len(idx)
    res["validated_errors"] = int(validated.sum())
    checked = np.zeros(labels.shape[0], dtype=bool)
    checked[idx] = True
    for who, flags in (("ours", o > 0.5), ("cleanlab", cleanlab_flags(labels, probas))):
        res[who]["flagged"] = int(flags.sum())
        res[who]["flagged_checked"] = int((flags & checked).sum())
        res[who]["flagged_unverifiable"] = int((flags & ~checked).sum())
        res[who]["flagged_validated"] = int(flags[idx][validated].sum())
    return res


def tune(data: Path) -> list[dict[str, Any]]:
    """AP on synthetic noise in the tuning set's non-candidate items (see the docstring)."""
    labels, probas, idx, _ = load(TUNE_SET, data)
    keep = np.ones(labels.shape[0], dtype=bool)
    keep[idx] = False
    y0, p = labels[keep], probas[keep] / probas[keep].sum(axis=1, keepdims=True)
    k = p.shape[1]
    rows: dict[str, list[float]] = {}
    for seed in range(5):
        rng = np.random.default_rng(seed)
        flip = rng.random(y0.shape[0]) < NOISE
        other = p.copy()
        other[np.arange(y0.shape[0]), y0] = 0.0
        other = (other + 1e-9) / (other + 1e-9).sum(axis=1, keepdims=True)
        new = np.array([rng.choice(k, p=row) for row in other[flip]])
        y = y0.copy()
        y[flip] = new
        cand = cleanlab_flags(y, p)
        truth = flip[cand]
        rows.setdefault("cleanlab (self_confidence)", []).append(
            metrics(truth, cleanlab_score(y, p)[cand])[0]
        )
        for t in TEMPERATURES:
            rows.setdefault(f"posterior T={t}", []).append(metrics(truth, ours(y, p, t)[cand])[0])
    return [{"method": m, "ap_mean": float(np.mean(v))} for m, v in rows.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--data", type=Path, default=DATA, help="the labelerrors folder")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--tune", action="store_true", help="show the synthetic tuning")
    args = parser.parse_args()
    result: dict[str, Any] = {name: run_set(name, args.data, args.boot) for name in SETS}
    if args.tune:
        result["tuning"] = tune(args.data)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    if args.tune:
        print(f"tuning on synthetic noise in {TUNE_SET} non-candidates (mean AP, 5 seeds):")
        for row in result["tuning"]:
            print(f"  {row['method']:28s} {row['ap_mean']:.3f}")
    print(
        f"{'set':8s} {'cand':>5s} {'errors':>6s} | {'AP ours':>16s} {'AP cleanlab':>16s} | "
        f"{'P@k ours':>16s} {'P@k cleanlab':>16s} | {'unverif. ours/cl':>16s}"
    )
    for name in SETS:
        r = result[name]
        o, c = r["ours"], r["cleanlab"]

        def fmt(m: dict[str, Any], key: str) -> str:
            lo, hi = m[f"{key}_ci"]
            return f"{m[key]:.3f} [{lo:.2f},{hi:.2f}]"

        print(
            f"{name:8s} {r['candidates']:5d} {r['validated_errors']:6d} | "
            f"{fmt(o, 'ap'):>16s} {fmt(c, 'ap'):>16s} | "
            f"{fmt(o, 'precision_at_k'):>16s} {fmt(c, 'precision_at_k'):>16s} | "
            f"{o['flagged_unverifiable']:>7d}/{c['flagged_unverifiable']:<8d}"
        )


if __name__ == "__main__":
    main()
