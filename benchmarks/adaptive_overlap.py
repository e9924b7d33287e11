"""Adaptive overlap vs fixed overlap k=5, replaying real crowd answers.

Each item's real answers arrive in file order (the order the crowd gave them). **Fixed**
takes the first 5 answers of every item. **Adaptive** takes answers one at a time and, from
the ``k``-th on, asks the posterior that labelloop's submissions use
(:func:`labelloop.core.quality.item_posterior` with labelers' confusion matrices re-fitted
by the default aggregator every ``--refit`` answers, :func:`~labelloop.core.quality.
fit_reliabilities`; a labeler not in the last fit counts as one-coin at ``--unknown``):
top class at ``--confidence`` or more → done; else another answer, up to ``--max``; still
unsure → the expert queue. Items are processed in the order of their first answer, so the
reliabilities are only ever fitted on answers already collected (no look-ahead).

Both final label sets come from the default aggregator (``auto``) fitted on the answers
each collected, as ``labelloop aggregate`` would. Reported per set: gold accuracy and
answers used for each; for adaptive also the number of items sent to experts, and the
accuracy if those items got their gold label (an expert assumed right).

The defaults (k=3, max 7, confidence 0.95) were chosen on ``temp`` and ``dog`` from
k in {2, 3}, max in {5, 7} and confidence in {0.8, 0.9, 0.95, 0.99}: the cheapest setting
whose accuracy reached fixed k=5 on both; score them on the other sets (``rte``, ``face``,
``possent``, ``weather_amt``).

``--data DIR`` (repeatable) takes any folder with ``answers.csv`` (worker,task,label) and
``gold.csv`` (task,label); default ``../shared/data/crowd/rte``. ``--json`` prints one JSON
object. Run from the repository root: ``.venv/bin/python benchmarks/adaptive_overlap.py``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from labelloop.core.aggregate import make_aggregator  # noqa: E402
from labelloop.core.answers import Answers  # noqa: E402
from labelloop.core.quality import (  # noqa: E402
    fit_reliabilities,
    item_posterior,
    one_coin_confusion,
    overlap_verdict,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "crowd" / "rte"


def read_set(folder: Path) -> tuple[dict[str, list[tuple[str, str]]], dict[str, str], list[str]]:
    """Answers per task in file order (a worker's first answer on a task), gold, labels."""
    per_task: dict[str, list[tuple[str, str]]] = {}
    seen: set[tuple[str, str]] = set()
    with open(folder / "answers.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            key = (row["worker"], row["task"])
            if key in seen:
                continue
            seen.add(key)
            per_task.setdefault(row["task"], []).append((row["worker"], row["label"]))
    with open(folder / "gold.csv", encoding="utf-8") as fh:
        gold = {row["task"]: row["label"] for row in csv.DictReader(fh)}
    labels = sorted({y for answers in per_task.values() for _, y in answers} | set(gold.values()))
    return per_task, gold, labels


def aggregate(collected: list[tuple[str, str, str]], labels: list[str]) -> dict[str, str]:
    """Default aggregator's label per task over (task, worker, label) answers."""
    tasks, t_code = np.unique([a[0] for a in collected], return_inverse=True)
    workers, w_code = np.unique([a[1] for a in collected], return_inverse=True)
    codes = np.array([labels.index(a[2]) for a in collected])
    answers = Answers(t_code, w_code, codes, len(tasks), len(workers), len(labels))
    model = make_aggregator("auto").fit(answers)
    return {str(t): labels[int(c)] for t, c in zip(tasks, model.labels_, strict=True) if c >= 0}


def accuracy(predicted: dict[str, str], gold: dict[str, str]) -> float:
    scored = [t for t in gold if t in predicted]
    return sum(predicted[t] == gold[t] for t in scored) / max(len(scored), 1)


def run_adaptive(
    per_task: dict[str, list[tuple[str, str]]], labels: list[str], args: argparse.Namespace
) -> tuple[list[tuple[str, str, str]], set[str], float]:
    """Collected answers, items sent to experts, seconds spent on posteriors."""
    n = len(labels)
    collected: list[tuple[str, str, str]] = []
    experts: set[str] = set()
    confusions: dict[str, np.ndarray] = {}
    prior = np.full(n, 1.0 / n)
    since = 0
    posterior_seconds = 0.0
    unknown = one_coin_confusion(args.unknown, n)
    for task, answers in per_task.items():
        votes: list[tuple[str, int]] = []
        for worker, label in answers[: args.max]:
            votes.append((worker, labels.index(label)))
            collected.append((task, worker, label))
            since += 1
            if since >= args.refit and len(collected) >= 50:
                since = 0
                workers, w_code = np.unique([a[1] for a in collected], return_inverse=True)
                tasks, t_code = np.unique([a[0] for a in collected], return_inverse=True)
                codes = np.array([labels.index(a[2]) for a in collected])
                pi, prior = fit_reliabilities(
                    Answers(t_code, w_code, codes, len(tasks), len(workers), n)
                )
                confusions = {str(w): pi[c] for c, w in enumerate(workers.tolist())}
            start = time.perf_counter()
            stack = np.array([confusions.get(w, unknown) for w, _ in votes])
            post = item_posterior([c for _, c in votes], stack, prior)
            posterior_seconds += time.perf_counter() - start
            verdict = overlap_verdict(
                post, len(votes), k=args.k, max_answers=args.max, confidence=args.confidence
            )
            if verdict == "done":
                break
            if verdict == "expert":
                experts.add(task)
                break
        else:
            if len(votes) < args.max and len(votes) < args.k:
                continue  # the set has fewer answers than k for this item
            if len(votes) == len(answers) and len(votes) < args.max:
                experts.add(task)  # ran out of real answers while unsure
    return collected, experts, posterior_seconds


def bench_set(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    per_task, gold, labels = read_set(folder)
    fixed = [(t, w, y) for t, answers in per_task.items() for w, y in answers[:5]]
    fixed_acc = accuracy(aggregate(fixed, labels), gold)
    collected, experts, seconds = run_adaptive(per_task, labels, args)
    adaptive = aggregate(collected, labels)
    with_experts = {**adaptive, **{t: gold[t] for t in experts if t in gold}}
    return {
        "set": folder.name,
        "items": len(per_task),
        "gold_items": len(gold),
        "fixed_k5": {"answers": len(fixed), "accuracy": round(fixed_acc, 4)},
        "adaptive": {
            "answers": len(collected),
            "accuracy": round(accuracy(adaptive, gold), 4),
            "expert_items": len(experts),
            "accuracy_with_experts": round(accuracy(with_experts, gold), 4),
            "posterior_us_per_answer": round(1e6 * seconds / max(len(collected), 1), 1),
        },
        "answers_saved": round(1 - len(collected) / max(len(fixed), 1), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", help="folder with answers.csv")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--max", type=int, default=7)
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--refit", type=int, default=200)
    parser.add_argument("--unknown", type=float, default=0.7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    folders = args.data or [DEFAULT]
    results = [bench_set(folder, args) for folder in folders]
    params = {k: getattr(args, k) for k in ("k", "max", "confidence", "refit", "unknown")}
    if args.json:
        print(json.dumps({"params": params, "sets": results}))
        return
    print(f"adaptive overlap {params} vs fixed k=5 (default aggregator on what each collected)")
    print(
        f"{'set':<12} {'fixed ans':>9} {'fixed acc':>9} {'adapt ans':>9} {'adapt acc':>9} "
        f"{'saved':>6} {'experts':>7} {'acc+exp':>7}"
    )
    for r in results:
        f, a = r["fixed_k5"], r["adaptive"]
        print(
            f"{r['set']:<12} {f['answers']:>9} {f['accuracy']:>9.4f} {a['answers']:>9} "
            f"{a['accuracy']:>9.4f} {r['answers_saved']:>6.1%} {a['expert_items']:>7} "
            f"{a['accuracy_with_experts']:>7.4f}"
        )


if __name__ == "__main__":
    main()
