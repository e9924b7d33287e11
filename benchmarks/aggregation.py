"""Truth-inference benchmark: labelloop's aggregators vs crowd-kit 1.4.2.

One run measures

1. **Real sets**: every registered method of ours and crowd-kit's counterparts (MajorityVote,
   Wawa, ZeroBasedSkill, DawidSkene, OneCoinDawidSkene, GLAD, MACE, MMSR, and KOS on binary
   sets) on every categorical set in ``../shared/data/crowd`` (``emotion`` is numeric and
   excluded; ``hitspam_cf`` is degenerate -- every item has one distinct label -- and is
   reported but left out of the means). Accuracy on the gold items that have answers, and
   seconds. Repeated (worker, task) answers are reduced to the last one for both sides.
   crowd-kit's per-dataset best (chosen by looking at gold) is compared with our ``auto``.
   crowd-kit is slow here (GLAD and MACE take minutes per set), and its results are
   deterministic, so they are cached in ``benchmarks/.cache/crowdkit_real.json`` keyed by
   crowd-kit version, method and the file's SHA-256; ``--no-cache`` recomputes them.
2. **1M answers** (200,000 items, 2,000 workers, 4 classes, random Dirichlet confusion
   matrices with a random diagonal boost, seed 0; 5 distinct workers per item):
   - DawidSkene fit, ours vs crowd-kit, both at their **default settings** (each stops on
     its own test: crowd-kit on ELBO/n change < 1e-5 or 100 iterations; ours on
     log-likelihood/n gain < 1e-6 or 100 iterations), each in a fresh subprocess, best of
     ``--repeat`` runs; iterations, seconds per iteration, accuracy on all items, and the
     peak memory allocated during the fit (tracemalloc, in a separate run).
   - Whole process: ``labelloop aggregate FILE --method dawid_skene --out OUT`` vs a
     crowd-kit script doing ``pandas.read_csv`` + ``DawidSkene().fit_predict_proba`` +
     ``to_csv``, both as subprocesses: wall seconds and peak RSS (``os.wait4``).
   - Every other method of ours; crowd-kit's MajorityVote, Wawa, OneCoinDawidSkene and
     ZeroBasedSkill too. crowd-kit's GLAD and MACE are **skipped** on 1M (minutes per
     iteration, GBs of memory).
3. **10M answers** (2,000,000 items, 20,000 workers, same generator), ours only: DS fit
   seconds and peak RSS of the fitting process, and the whole ``labelloop aggregate`` process.

4. **Honest evaluation of ``auto``** (``auto.v3`` chooses per dataset from the answers alone):
   - *Leave-one-dataset-out* over the real sets: auto.v3's one threshold (``margin``, the
     standard errors by which a candidate's held-out likelihood must beat its anchored self
     -- its labeler model on majority vote's posteriors -- to enter the stack) is
     chosen from ``MARGINS`` on the other real sets plus the synthetic families, then
     applied to the left-out set; its candidate pool is fixed in advance and its stacking
     weights come from the set's own answers. Per set: ``auto - MV``, ``auto - best fixed
     method of ours`` and crowd-kit's best (picked with gold).
   - *Synthetic families* with known structure (``make_family``; 3 seeds each): long-tail
     sparse binary (4 prolific biased workers, a tail with 10-20 answers each, 6-11 answers
     per item, a quarter of the tail near-random, item difficulty) and a harsher variant,
     adversarial workers, strong class imbalance, class-dependent confusions. Accuracy on all items.
   - *What gold buys*: auto.v3 given 5 % / 10 % of the gold items (clamped and used to
     select by cross-validated gold accuracy), scored on the gold items not given, vs
     label-free auto.v3 and majority vote on the same items (mean of 3 draws).

``--json`` prints one JSON object with all figures; otherwise a table. ``--quick`` skips the
10M set. Run from the repository root: ``.venv/bin/python benchmarks/aggregation.py``.
Always set OMP_NUM_THREADS=1 (the script sets it for its children).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CROWD = ROOT.parent / "shared" / "data" / "crowd"
CACHE = Path(__file__).resolve().parent / ".cache"
NUMERIC = {"emotion"}
DEGENERATE = {"hitspam_cf"}
CK_METHODS = [
    "MajorityVote",
    "Wawa",
    "ZeroBasedSkill",
    "DawidSkene",
    "OneCoinDawidSkene",
    "GLAD",
    "MACE",
    "MMSR",
    "KOS",
]
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONWARNINGS": "ignore",
    "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
}


# --------------------------------------------------------------------------- data


def make_synthetic(
    n_answers: int, n_items: int, n_workers: int, n_classes: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Answers from random Dawid-Skene labelers: (item, worker, label, truth)."""
    rng = np.random.default_rng(seed)
    per = n_answers // n_items
    truth = rng.choice(n_classes, size=n_items, p=rng.dirichlet(np.full(n_classes, 5.0)))
    conf = rng.dirichlet(np.ones(n_classes), size=(n_workers, n_classes))
    conf += 3.0 * rng.random((n_workers, 1, 1)) * np.eye(n_classes)
    conf /= conf.sum(axis=2, keepdims=True)
    workers = rng.integers(0, n_workers, size=(n_items, per))
    for _ in range(50):  # redraw rows with a repeated worker
        s = np.sort(workers, axis=1)
        dup = (s[:, 1:] == s[:, :-1]).any(axis=1)
        if not dup.any():
            break
        workers[dup] = rng.integers(0, n_workers, size=(int(dup.sum()), per))
    item = np.repeat(np.arange(n_items), per)
    worker = workers.ravel()
    label = np.empty(item.shape[0], dtype=np.int64)
    chunk = 2_000_000
    for lo in range(0, item.shape[0], chunk):
        sl = slice(lo, lo + chunk)
        cum = conf[worker[sl], truth[item[sl]]].cumsum(axis=1)
        u = rng.random(cum.shape[0])[:, None]
        label[sl] = np.minimum((u > cum).sum(axis=1), n_classes - 1)
    return item, worker, label, truth


def write_synthetic(folder: Path, n_answers: int, n_items: int, n_workers: int) -> Path:
    """Write answers.csv, gold.csv and arrays.npz once (cached by size)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "arrays.npz").exists():
        return folder
    item, worker, label, truth = make_synthetic(n_answers, n_items, n_workers)
    order = np.random.default_rng(1).permutation(item.shape[0])  # file rows in random order
    item, worker, label = item[order], worker[order], label[order]

    table = pa.table(
        {
            "worker": pc_concat("w", worker),
            "task": pc_concat("t", item),
            "label": pa.array(label.astype(str)),
        }
    )
    pacsv.write_csv(
        table, folder / "answers.csv", write_options=pacsv.WriteOptions(quoting_style="none")
    )
    gold = pa.table(
        {"task": pc_concat("t", np.arange(n_items)), "label": pa.array(truth.astype(str))}
    )
    pacsv.write_csv(
        gold, folder / "gold.csv", write_options=pacsv.WriteOptions(quoting_style="none")
    )
    np.savez(folder / "arrays.npz", item=item, worker=worker, label=label, truth=truth)
    return folder


def pc_concat(prefix: str, codes: np.ndarray) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(prefix, pa.array(codes).cast(pa.string()), "")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def categorical_sets() -> list[str]:
    return sorted(
        p.name for p in CROWD.iterdir() if (p / "answers.csv").exists() and p.name not in NUMERIC
    )


# --------------------------------------------------------------------------- synthetic families

FAMILIES = ("long_tail", "long_tail_harsh", "adversarial", "imbalance", "class_confusion")


def make_family(
    family: str, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """One synthetic crowd with known structure: (item, worker, label, truth, n_classes).

    - ``long_tail``: binary, 1,500 items, 6-11 answers each; 4 prolific workers answer a
      third of the items each, the rest comes from a long tail of workers with ~15 answers
      (10-20); accuracies spread from near-random (0.5) to 0.95, prolific workers biased
      toward one class; items vary in difficulty (hard items pull everyone toward a coin).
    - ``long_tail_harsh``: the same, with the prolific workers on half of the items each,
      worse (accuracy 0.55-0.75) and more biased (up to 0.25), and 40 % of the tail
      near-random.
    - ``adversarial``: 3 classes, 600 items, 7 answers each from 60 workers; 15 % of the
      workers answer a fixed wrong permutation of the truth most of the time.
    - ``imbalance``: binary, 2,000 items, 90/10 class split, 5 answers each from 100
      workers with class-dependent sensitivity/specificity.
    - ``class_confusion``: 4 classes, 800 items, 6 answers each from 50 workers who confuse
      classes 0/1 and 2/3 with each other (random per-worker confusion matrices).
    """
    rng = np.random.default_rng(seed)
    if family in ("long_tail", "long_tail_harsh"):
        harsh = family == "long_tail_harsh"
        k, n_items = 2, 1500
        truth = (rng.random(n_items) < 0.4).astype(np.int64)
        n_pro = 4
        per_item = rng.integers(6, 12, size=n_items)
        pro_take = rng.random((n_items, n_pro)) < (1 / 2 if harsh else 1 / 3)
        n_tail_answers = int((per_item - np.minimum(pro_take.sum(1), per_item)).sum())
        tail_sizes = []
        while sum(tail_sizes) < n_tail_answers:
            tail_sizes.append(int(rng.integers(10, 21)))
        n_tail = len(tail_sizes)
        n_workers = n_pro + n_tail
        acc = np.empty(n_workers)
        acc[:n_pro] = (
            rng.uniform(0.55, 0.75, size=n_pro) if harsh else rng.uniform(0.6, 0.85, size=n_pro)
        )
        acc[n_pro:] = np.where(
            rng.random(n_tail) < (0.4 if harsh else 0.25),
            rng.uniform(0.45, 0.6, n_tail),
            rng.beta(8, 2.5, n_tail),
        )
        bias = np.zeros(n_workers)  # shift of P(answer 1) for prolific workers
        b = 0.25 if harsh else 0.15
        bias[:n_pro] = rng.uniform(-b, b, size=n_pro)
        slots = np.repeat(np.arange(n_pro, n_workers), tail_sizes)[rng.permutation(sum(tail_sizes))]
        items, workers, pos = [], [], 0
        for i in range(n_items):
            pros = list(np.flatnonzero(pro_take[i])[: per_item[i]])
            need = per_item[i] - len(pros)
            tail = []
            while len(tail) < need and pos < slots.shape[0]:
                if slots[pos] not in tail:
                    tail.append(int(slots[pos]))
                pos += 1
            ws = pros + tail
            items += [i] * len(ws)
            workers += ws
        item, worker = np.array(items), np.array(workers)
        hard = rng.beta(1.2, 4.0, size=n_items)  # 0 easy .. 1 coin
        p_correct = 0.5 + (acc[worker] - 0.5) * (1 - hard[item])
        correct = rng.random(item.shape[0]) < p_correct
        label = np.where(correct, truth[item], 1 - truth[item])
        flip = rng.random(item.shape[0]) < np.abs(bias[worker])
        label = np.where(flip, (bias[worker] > 0).astype(np.int64), label)
        return item, worker, label.astype(np.int64), truth, k
    if family == "adversarial":
        k, n_items, n_workers, per = 3, 600, 60, 7
        truth = rng.integers(0, k, n_items)
        acc = rng.uniform(0.5, 0.9, n_workers)
        adv = rng.random(n_workers) < 0.15
        conf = np.stack([one_coin(a, k) for a in acc])
        perm = np.roll(np.eye(k), 1, axis=1)
        conf[adv] = 0.8 * perm + 0.2 / k
    elif family == "imbalance":
        k, n_items, n_workers, per = 2, 2000, 100, 5
        truth = (rng.random(n_items) < 0.1).astype(np.int64)
        sens = rng.beta(6, 3, n_workers)
        spec = rng.beta(12, 2, n_workers)
        conf = np.stack([[[s2, 1 - s2], [1 - s1, s1]] for s1, s2 in zip(sens, spec, strict=True)])
    elif family == "class_confusion":
        k, n_items, n_workers, per = 4, 800, 50, 6
        truth = rng.integers(0, k, n_items)
        conf = np.empty((n_workers, k, k))
        for w in range(n_workers):
            a = rng.uniform(0.45, 0.9)
            m = np.full((k, k), 0.02)
            for c in range(k):
                m[c, c ^ 1] = (1 - a) * rng.uniform(0.6, 1.0)
                m[c, c] = a
            conf[w] = m / m.sum(axis=1, keepdims=True)
    else:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    workers = np.stack([rng.choice(n_workers, per, replace=False) for _ in range(n_items)])
    item = np.repeat(np.arange(n_items), per)
    worker = workers.ravel()
    cum = conf[worker, truth[item]].cumsum(axis=1)
    label = np.minimum((rng.random(item.shape[0])[:, None] > cum).sum(axis=1), k - 1)
    return item, worker, label.astype(np.int64), truth, k


def one_coin(acc: float, k: int) -> np.ndarray:
    m = np.full((k, k), (1 - acc) / (k - 1))
    np.fill_diagonal(m, acc)
    return m


# --------------------------------------------------------------------------- children


def child_ours_real(name: str) -> dict[str, Any]:
    from labelloop.core.aggregate import AGGREGATORS, make_aggregator
    from labelloop.formats.answers import read_answers, read_gold

    table = read_answers(CROWD / name / "answers.csv")
    answers = table.answers.deduplicate(keep="last")
    gold = read_gold(CROWD / name / "gold.csv")
    index = {t: i for i, t in enumerate(table.item_ids)}
    gi = np.array([index[t] for t in gold if t in index], dtype=np.int64)
    gl = np.array(
        [
            table.label_space.code(gold[t]) if gold[t] in table.label_space else -2
            for t in gold
            if t in index
        ]
    )
    out: dict[str, Any] = {}
    for method in sorted(AGGREGATORS):
        start = time.perf_counter()
        agg = make_aggregator(method).fit(answers)
        seconds = time.perf_counter() - start
        out[method] = {
            "accuracy": float((agg.labels_[gi] == gl).mean()),
            "seconds": seconds,
            "iterations": agg.n_iter_,
        }
        if method == AUTO:
            out[method]["selection"] = selection_record(agg)
    out[AUTO]["by_margin"] = accuracy_by_margin(answers, gi, gl)
    gold = np.full(answers.n_items, -1, dtype=np.int64)
    ok = gl >= 0
    gold[gi[ok]] = gl[ok]
    out["gold_share"] = gold_share_runs(answers, gold)
    return out


AUTO = "auto.v3"
GOLD_SHARES = (0.05, 0.10)
GOLD_SEEDS = (0, 1, 2)


def accuracy_by_margin(answers: Any, index: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """auto.v3's accuracy at each margin of ``MARGINS`` (for leave-one-dataset-out); fits
    once per distinct set of eligible candidates."""
    from labelloop.core.aggregate import AnchoredAutoAggregator

    sel = AnchoredAutoAggregator().fit(answers).selection_
    gain, se = sel.anchor_gain or {}, sel.anchor_stderr or {}
    out: dict[str, float] = {}
    done: dict[frozenset[str], float] = {}
    for margin in MARGINS:
        key = frozenset(c for c in gain if gain[c] > margin * se[c])
        if key not in done:
            labels = AnchoredAutoAggregator(margin=margin).fit(answers).labels_
            done[key] = float((labels[index] == truth).mean())
        out[f"{margin:g}"] = done[key]
    return out


def selection_record(agg: Any) -> dict[str, Any]:
    """What auto.v3 chose and the figures it chose by (for the report)."""
    from dataclasses import asdict

    sel = asdict(agg.selection_)
    mv = (
        np.asarray(agg.members_["majority_vote"].labels_)
        if "majority_vote" in agg.members_
        else None
    )
    return {**sel, "has_floor_member": mv is not None}


def gold_share_runs(answers: Any, gold: np.ndarray) -> dict[str, Any]:
    """auto.v3 with 5 % / 10 % of the gold items given (clamped, and used to select by
    cross-validated gold accuracy), scored on the gold items *not* given; majority vote
    and label-free auto.v3 on the same items for comparison. Mean over GOLD_SEEDS."""
    from labelloop.core.aggregate import AnchoredAutoAggregator, MajorityVote

    known = np.flatnonzero(gold >= 0)
    free = AnchoredAutoAggregator().fit(answers).labels_
    mv = MajorityVote().fit(answers).labels_
    out: dict[str, Any] = {}
    for share in GOLD_SHARES:
        rows = []
        for seed in GOLD_SEEDS:
            rng = np.random.default_rng(seed)
            given = rng.choice(known, size=max(1, round(share * known.size)), replace=False)
            g = np.full_like(gold, -1)
            g[given] = gold[given]
            test = np.setdiff1d(known, given)
            auto = AnchoredAutoAggregator().fit(answers, g)
            rows.append(
                {
                    "auto_gold": float((auto.labels_[test] == gold[test]).mean()),
                    "auto_label_free": float((free[test] == gold[test]).mean()),
                    "majority_vote": float((mv[test] == gold[test]).mean()),
                    "criterion": auto.selection_.criterion,
                    "chosen": auto.chosen_,
                    "n_given": int(given.size),
                }
            )
        out[f"{share:.2f}"] = {
            key: float(np.mean([r[key] for r in rows]))
            for key in ("auto_gold", "auto_label_free", "majority_vote")
        } | {"runs": rows}
    return out


def child_family(family: str, seed: int) -> dict[str, Any]:
    """Every registered method of ours on one synthetic family member: accuracy on all items."""
    from labelloop.core.aggregate import AGGREGATORS, make_aggregator
    from labelloop.core.answers import Answers

    item, worker, label, truth, k = make_family(family, seed)
    answers = Answers(item, worker, label, truth.shape[0], int(worker.max()) + 1, k)
    out: dict[str, Any] = {}
    for method in sorted(AGGREGATORS):
        if method == "label_model.v1":
            continue
        start = time.perf_counter()
        agg = make_aggregator(method).fit(answers)
        out[method] = {
            "accuracy": float((agg.labels_ == truth).mean()),
            "seconds": time.perf_counter() - start,
        }
        if method == AUTO:
            out[method]["selection"] = selection_record(agg)
    out[AUTO]["by_margin"] = accuracy_by_margin(answers, np.arange(truth.shape[0]), truth)
    return out


# --------------------------------------------------------------------------- honest evaluation

FAMILY_SEEDS = (0, 1, 2)
MARGINS = (0.0, 1.0, 2.0, 3.0, 5.0)
"""Grid of auto.v3's one threshold (standard errors by which a candidate's held-out
likelihood must beat its anchored self) that leave-one-dataset-out chooses from."""


def auto_at_margin(res: dict[str, Any], margin: float) -> float:
    """auto.v3's accuracy had its margin been ``margin``."""
    return float(res[AUTO]["by_margin"][f"{margin:g}"])


def fixed_methods(res: dict[str, Any]) -> dict[str, float]:
    skip = {AUTO, "gold_share", "auto.v1", "auto.v2", "label_model.v1"}
    return {m: r["accuracy"] for m, r in res.items() if m not in skip and "accuracy" in r}


def lodo(real: dict[str, Any], families: dict[str, Any]) -> dict[str, Any]:
    """Leave-one-dataset-out: for each real set, auto.v3's margin is chosen (from MARGINS,
    by mean accuracy) on the other real sets and the synthetic families, then applied to
    the left-out set. The candidate pool is fixed in advance and stacking weights come from
    each set's own answers, so nothing else is fitted to the scored set."""
    names = [n for n in real if n not in DEGENERATE]
    synth = [families[f]["runs"][str(seed)] for f in families for seed in FAMILY_SEEDS]
    out: dict[str, Any] = {}
    for n in names:
        pool = [real[m]["ours"] for m in names if m != n] + synth

        def score(margin: float, pool: list[dict[str, Any]] = pool) -> float:
            return float(np.mean([auto_at_margin(r, margin) for r in pool]))

        best = max(MARGINS, key=lambda z: (round(score(z), 6), z))
        ours = real[n]["ours"]
        acc = auto_at_margin(ours, best)
        fixed = fixed_methods(ours)
        ck_best = max(
            (r["accuracy"] for r in real[n]["crowdkit"].values() if r.get("accuracy") is not None),
            default=None,
        )
        out[n] = {
            "margin": best,
            "auto": acc,
            "majority_vote": ours["majority_vote.v1"]["accuracy"],
            "best_fixed": max(fixed.values()),
            "best_fixed_method": max(fixed, key=lambda m: fixed[m]),
            "crowdkit_best": ck_best,
            "auto_minus_mv_pp": 100 * (acc - ours["majority_vote.v1"]["accuracy"]),
            "auto_minus_best_fixed_pp": 100 * (acc - max(fixed.values())),
            "auto_v2": ours["auto.v2"]["accuracy"],
        }
    mean = {
        key: float(np.mean([out[n][key] for n in names if out[n][key] is not None]))
        for key in ("auto", "majority_vote", "best_fixed", "crowdkit_best", "auto_v2")
    }
    return {"per_set": out, "mean": mean}


def family_sets(log: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for family in FAMILIES:
        runs = {}
        for seed in FAMILY_SEEDS:
            log(f"synthetic family {family} seed {seed}")
            runs[str(seed)] = run_child("family", family, str(seed))
        rows = {}
        for seed, r in runs.items():
            fixed = fixed_methods(r)
            rows[seed] = {
                "auto": r[AUTO]["accuracy"],
                "majority_vote": r["majority_vote.v1"]["accuracy"],
                "one_coin": r["one_coin_dawid_skene.v1"]["accuracy"],
                "best_fixed": max(fixed.values()),
                "best_fixed_method": max(fixed, key=lambda m: fixed[m]),
                "auto_v1": r["auto.v1"]["accuracy"],
                "auto_v2": r["auto.v2"]["accuracy"],
                "chosen": r[AUTO]["selection"]["chosen"],
            }
        out[family] = {"runs": runs, "summary": rows}
    return out


def _ck_classes() -> dict[str, Any]:
    import crowdkit.aggregation as cka
    import crowdkit.aggregation.classification.wawa as wawa_mod
    import crowdkit.aggregation.classification.zero_based_skill as zbs_mod

    # crowd-kit 1.4.2's predict() calls sklearn's check_is_fitted, which fails with the
    # installed scikit-learn (no __sklearn_tags__); the fitted state is there, skip the check
    wawa_mod.check_is_fitted = lambda *a, **k: None  # type: ignore[attr-defined]
    zbs_mod.check_is_fitted = lambda *a, **k: None  # type: ignore[attr-defined]
    return {m: getattr(cka, m) for m in CK_METHODS}


def child_ck_real(name: str, method: str) -> dict[str, Any]:
    import warnings

    import pandas as pd

    warnings.filterwarnings("ignore")
    cls = _ck_classes()[method]
    df = pd.read_csv(CROWD / name / "answers.csv", dtype=str)
    df = df.drop_duplicates(["worker", "task"], keep="last")
    gold = (
        pd.read_csv(CROWD / name / "gold.csv", dtype=str)
        .drop_duplicates("task")
        .set_index("task")["label"]
    )
    gold = gold[gold.index.isin(df.task)]
    start = time.perf_counter()
    labels = cls().fit_predict(df)
    seconds = time.perf_counter() - start
    acc = float((labels.reindex(gold.index).astype(str) == gold).mean())
    return {"accuracy": acc, "seconds": seconds}


def child_fit(side: str, method: str, folder: str, trace: bool) -> dict[str, Any]:
    """Fit one method on the arrays of a synthetic set; seconds (or traced peak bytes)."""
    import tracemalloc

    data = np.load(Path(folder) / "arrays.npz")
    item, worker, label, truth = data["item"], data["worker"], data["label"], data["truth"]
    n_items = int(truth.shape[0])
    if side == "ours":
        from labelloop.core.aggregate import make_aggregator
        from labelloop.core.answers import Answers

        answers = Answers(item, worker, label, n_items, int(worker.max()) + 1, int(label.max()) + 1)
        agg = make_aggregator(method)
        if trace:
            tracemalloc.start()
        start = time.perf_counter()
        agg.fit(answers)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        pred = agg.labels_
        iters = int(agg.n_iter_)
    else:
        import warnings

        import pandas as pd

        warnings.filterwarnings("ignore")
        df = pd.DataFrame({"task": item, "worker": worker, "label": label})
        model = _ck_classes()[method]()
        if trace:
            tracemalloc.start()
        start = time.perf_counter()
        model.fit(df)
        if method in ("Wawa", "ZeroBasedSkill"):
            model.predict(df)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        pred = model.labels_.reindex(np.arange(n_items)).to_numpy()
        iters = len(getattr(model, "loss_history_", []) or []) or None
    import resource

    return {
        "seconds": seconds,
        "iterations": iters,
        "accuracy": float((pred == truth).mean()),
        "peak_traced_bytes": peak,
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


CK_SCRIPT = """
import sys, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from crowdkit.aggregation import DawidSkene
df = pd.read_csv(sys.argv[1], dtype=str)
df = df.drop_duplicates(["worker", "task"], keep="last")
probas = DawidSkene().fit_predict_proba(df)
out = pd.DataFrame({"task": probas.index, "label": probas.idxmax(axis=1).to_numpy(),
                    "confidence": probas.max(axis=1).to_numpy()})
out.to_csv(sys.argv[2], index=False)
"""


# --------------------------------------------------------------------------- runners


def run_child(*args: str, timeout: float | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed: {proc.stderr[-2000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run_process(cmd: list[str]) -> dict[str, Any]:
    """Wall seconds and peak RSS of one subprocess (os.wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed: {err[-2000:]}")
    return {"seconds": wall, "max_rss_bytes": usage.ru_maxrss * 1024, "stdout": out}


def real_sets(use_cache: bool, jobs: int, log: Any, cached_only: bool = False) -> dict[str, Any]:
    import crowdkit

    version = getattr(crowdkit, "__version__", "1.4.2")
    cache_file = CACHE / "crowdkit_real.json"
    cache: dict[str, Any] = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    results: dict[str, Any] = {}
    todo: list[tuple[str, str, str]] = []
    for name in categorical_sets():
        log(f"real set {name}: ours")
        digest = sha256(CROWD / name / "answers.csv")
        n_classes = len(
            {
                line.rsplit(",", 1)[-1]
                for line in (CROWD / name / "answers.csv").read_text().splitlines()[1:]
            }
        )
        results[name] = {
            "ours": run_child("ours_real", name),
            "crowdkit": {},
            "n_classes": n_classes,
        }
        for method in CK_METHODS:
            if method == "KOS" and n_classes != 2:
                continue
            key = f"{version}|{method}|{name}|{digest}"
            if use_cache and key in cache:
                results[name]["crowdkit"][method] = {**cache[key], "cached": True}
            elif not cached_only:
                todo.append((name, method, key))

    def work(job: tuple[str, str, str]) -> tuple[str, str, str, dict[str, Any]]:
        name, method, key = job
        log(f"real set {name}: crowd-kit {method}")
        try:
            res = run_child("ck_real", name, method, timeout=3600)
        except Exception as exc:  # a peer failing is a result, not a crash
            res = {"accuracy": None, "seconds": None, "error": str(exc)[-300:]}
        return name, method, key, res

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for name, method, key, res in pool.map(work, todo):
            results[name]["crowdkit"][method] = {**res, "cached": False}
            if res.get("accuracy") is not None:
                cache[key] = {"accuracy": res["accuracy"], "seconds": res["seconds"]}
                CACHE.mkdir(exist_ok=True)
                cache_file.write_text(json.dumps(cache, indent=1, sort_keys=True))
    return results


def summarize_real(results: dict[str, Any]) -> dict[str, Any]:
    used = [n for n in results if n not in DEGENERATE]
    ours_methods = sorted(m for m in next(iter(results.values()))["ours"] if m != "gold_share")
    ours_mean = {
        m: float(np.mean([results[n]["ours"][m]["accuracy"] for n in used])) for m in ours_methods
    }
    ck_methods = sorted({m for n in used for m in results[n]["crowdkit"]})
    ck_mean = {}
    for m in ck_methods:
        vals = [results[n]["crowdkit"].get(m, {}).get("accuracy") for n in used]
        if all(v is not None for v in vals):
            ck_mean[m] = float(np.mean(vals))
    best = {}
    for n in used:
        cands = {
            m: r["accuracy"]
            for m, r in results[n]["crowdkit"].items()
            if r.get("accuracy") is not None
        }
        if not cands:  # --ck-cached-only with nothing cached for this set
            continue
        m = max(cands, key=lambda k: cands[k])
        best[n] = {"method": m, "accuracy": cands[m], "of_methods": len(cands)}
    best_mean = float(np.mean([b["accuracy"] for b in best.values()])) if best else float("nan")
    return {
        "datasets": used,
        "excluded": sorted(DEGENERATE) + sorted(NUMERIC),
        "ours_mean_accuracy": ours_mean,
        "crowdkit_mean_accuracy": ck_mean,
        "crowdkit_per_dataset_best": best,
        "crowdkit_per_dataset_best_mean": best_mean,
        "auto_mean": ours_mean[AUTO],
        "auto_minus_best_mean_pp": 100 * (ours_mean[AUTO] - best_mean),
        "gold_share": {
            share: {
                key: float(np.mean([results[n]["ours"]["gold_share"][share][key] for n in used]))
                for key in ("auto_gold", "auto_label_free", "majority_vote")
            }
            for share in next(iter(results.values()))["ours"]["gold_share"]
        },
    }


def million(repeat: int, log: Any) -> dict[str, Any]:
    folder = write_synthetic(CACHE / "synth_1m", 1_000_000, 200_000, 2_000)
    out: dict[str, Any] = {
        "n_answers": 1_000_000,
        "n_items": 200_000,
        "n_workers": 2_000,
        "n_classes": 4,
    }

    def best_of(side: str, method: str, n: int) -> dict[str, Any]:
        runs = [run_child("fit", side, method, str(folder), "0") for _ in range(n)]
        best = min(runs, key=lambda r: r["seconds"])
        best["all_seconds"] = [r["seconds"] for r in runs]
        return best

    log("1M: DawidSkene fit, ours")
    ours = best_of("ours", "dawid_skene", repeat)
    ours["peak_traced_bytes"] = run_child("fit", "ours", "dawid_skene", str(folder), "1")[
        "peak_traced_bytes"
    ]
    log("1M: DawidSkene fit, crowd-kit")
    ck = best_of("crowdkit", "DawidSkene", repeat)
    ck["peak_traced_bytes"] = run_child("fit", "crowdkit", "DawidSkene", str(folder), "1")[
        "peak_traced_bytes"
    ]
    out["dawid_skene_fit"] = {
        "ours": ours,
        "crowdkit": ck,
        "speedup": ck["seconds"] / ours["seconds"],
        "per_iteration_speedup": (ck["seconds"] / ck["iterations"])
        / (ours["seconds"] / ours["iterations"]),
        "accuracy_diff_pp": 100 * (ours["accuracy"] - ck["accuracy"]),
        "memory_ratio": ours["peak_traced_bytes"] / ck["peak_traced_bytes"],
    }

    log("1M: whole process")
    with tempfile.TemporaryDirectory() as tmp:
        ours_p = [
            run_process(
                [
                    sys.executable,
                    "-m",
                    "labelloop",
                    "aggregate",
                    str(folder / "answers.csv"),
                    "--method",
                    "dawid_skene",
                    "--gold",
                    str(folder / "gold.csv"),
                    "--out",
                    f"{tmp}/ours.csv",
                    "--json",
                ]
            )
            for _ in range(repeat)
        ]
        ck_p = [
            run_process(
                [sys.executable, "-c", CK_SCRIPT, str(folder / "answers.csv"), f"{tmp}/ck.csv"]
            )
            for _ in range(max(1, repeat - 1))
        ]
    ours_best = min(ours_p, key=lambda r: r["seconds"])
    summary = json.loads(ours_best.pop("stdout"))
    for r in ours_p + ck_p:
        r.pop("stdout", None)
    ck_best = min(ck_p, key=lambda r: r["seconds"])
    out["whole_process"] = {
        "ours": {
            **ours_best,
            "fit_seconds": summary["seconds"],
            "accuracy": summary["gold"]["accuracy"],
            "all_seconds": [r["seconds"] for r in ours_p],
        },
        "crowdkit": {**ck_best, "all_seconds": [r["seconds"] for r in ck_p]},
        "speedup": ck_best["seconds"] / ours_best["seconds"],
        "rss_ratio": ours_best["max_rss_bytes"] / ck_best["max_rss_bytes"],
    }

    log("1M: other methods")
    from labelloop.core.aggregate import AGGREGATORS

    others: dict[str, Any] = {}
    for method in sorted(AGGREGATORS):
        if method != "dawid_skene.v1":
            others[method] = run_child("fit", "ours", method, str(folder), "0")
    ck_others: dict[str, Any] = {}
    for method in ("MajorityVote", "Wawa", "OneCoinDawidSkene", "ZeroBasedSkill"):
        log(f"1M: crowd-kit {method}")
        ck_others[method] = run_child("fit", "crowdkit", method, str(folder), "0")
    out["other_methods"] = {
        "ours": others,
        "crowdkit": ck_others,
        "crowdkit_skipped": {
            "GLAD": "minutes per iteration",
            "MACE": "too slow",
            "MMSR": "not a counterpart",
        },
    }
    return out


def ten_million(log: Any) -> dict[str, Any]:
    folder = write_synthetic(CACHE / "synth_10m", 10_000_000, 2_000_000, 20_000)
    log("10M: DawidSkene fit, ours")
    fit = run_child("fit", "ours", "dawid_skene", str(folder), "0")
    log("10M: whole process, ours")
    with tempfile.TemporaryDirectory() as tmp:
        proc = run_process(
            [
                sys.executable,
                "-m",
                "labelloop",
                "aggregate",
                str(folder / "answers.csv"),
                "--method",
                "dawid_skene",
                "--out",
                f"{tmp}/ours.csv",
                "--json",
            ]
        )
    summary = json.loads(proc.pop("stdout"))
    return {
        "n_answers": 10_000_000,
        "n_items": 2_000_000,
        "n_workers": 20_000,
        "fit": fit,
        "whole_process": {
            **proc,
            "fit_seconds": summary["seconds"],
            "iterations": summary["iterations"],
        },
    }


# --------------------------------------------------------------------------- report


def print_tables(report: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    if report.get("families"):
        print_families(console, report["families"])
    if report.get("real"):
        print_real(console, report["real"], report["real_summary"])
        print_lodo(console, report["lodo"])
        print_gold_share(console, report["real"], report["real_summary"])
    print_scale(console, report)


def print_families(console: Any, families: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table(
        title="Synthetic families (accuracy %, all items; auto.v3 vs majority vote / best fixed)"
    )
    for col in (
        "family",
        "seed",
        "auto",
        "MV",
        "one-coin",
        "best fixed",
        "auto-MV",
        "auto-best",
        "auto.v1",
        "auto.v2",
        "chosen",
    ):
        t.add_column(col, justify="left" if col in ("family", "best fixed", "chosen") else "right")
    for family, f in families.items():
        for seed, r in f["summary"].items():
            t.add_row(
                family,
                seed,
                f"{100 * r['auto']:.2f}",
                f"{100 * r['majority_vote']:.2f}",
                f"{100 * r['one_coin']:.2f}",
                f"{100 * r['best_fixed']:.2f} {r['best_fixed_method'].split('.')[0]}",
                f"{100 * (r['auto'] - r['majority_vote']):+.2f}",
                f"{100 * (r['auto'] - r['best_fixed']):+.2f}",
                f"{100 * r['auto_v1']:.2f}",
                f"{100 * r['auto_v2']:.2f}",
                r["chosen"],
            )
    console.print(t)


def print_lodo(console: Any, lodo_report: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table(
        title="Leave-one-dataset-out: auto.v3 (margin chosen without the set) per real set (%)"
    )
    for col in (
        "set",
        "margin",
        "auto",
        "MV",
        "auto-MV",
        "best fixed (ours)",
        "auto-best",
        "auto.v2",
        "ck best",
    ):
        t.add_column(col, justify="left" if col in ("set", "best fixed (ours)") else "right")
    for n, r in lodo_report["per_set"].items():
        t.add_row(
            n,
            f"{r['margin']:g}",
            f"{100 * r['auto']:.2f}",
            f"{100 * r['majority_vote']:.2f}",
            f"{r['auto_minus_mv_pp']:+.2f}",
            f"{100 * r['best_fixed']:.2f} {r['best_fixed_method'].split('.')[0]}",
            f"{r['auto_minus_best_fixed_pp']:+.2f}",
            f"{100 * r['auto_v2']:.2f}",
            "-" if r["crowdkit_best"] is None else f"{100 * r['crowdkit_best']:.2f}",
        )
    m = lodo_report["mean"]
    t.add_row(
        "mean",
        "",
        f"{100 * m['auto']:.2f}",
        f"{100 * m['majority_vote']:.2f}",
        f"{100 * (m['auto'] - m['majority_vote']):+.2f}",
        f"{100 * m['best_fixed']:.2f}",
        f"{100 * (m['auto'] - m['best_fixed']):+.2f}",
        f"{100 * m['auto_v2']:.2f}",
        f"{100 * m['crowdkit_best']:.2f}",
    )
    console.print(t)


def print_gold_share(console: Any, real: dict[str, Any], s: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table(title="What gold buys: auto.v3 with 5 % / 10 % of gold given, scored on the rest (%)")
    shares = list(s["gold_share"])
    t.add_column("set")
    for share in shares:
        for col in ("MV", "label-free", "with gold"):
            t.add_column(f"{float(share):.0%} {col}", justify="right")
    for n in [*s["datasets"], "mean"]:
        row = [n]
        for share in shares:
            g = s["gold_share"][share] if n == "mean" else real[n]["ours"]["gold_share"][share]
            row += [f"{100 * g[k]:.2f}" for k in ("majority_vote", "auto_label_free", "auto_gold")]
        t.add_row(*row)
    console.print(t)


def print_real(console: Any, real: dict[str, Any], s: dict[str, Any]) -> None:
    from rich.table import Table

    ours_m = sorted(m for m in next(iter(real.values()))["ours"] if m != "gold_share")
    ck_m = [m for m in CK_METHODS if any(m in real[n]["crowdkit"] for n in real)]
    t = Table(title="Accuracy on gold items (%) -- ours | crowd-kit 1.4.2")
    t.add_column("set")
    for m in ours_m:
        t.add_column(m.split(".")[0][:12], justify="right")
    for m in ck_m:
        t.add_column("ck:" + m[:9], justify="right")
    t.add_column("ck best", justify="right")

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.2f}"

    for n in real:
        row = [n + (" (excl.)" if n in DEGENERATE else "")]
        row += [fmt(real[n]["ours"][m]["accuracy"]) for m in ours_m]
        row += [fmt(real[n]["crowdkit"].get(m, {}).get("accuracy")) for m in ck_m]
        b = s["crowdkit_per_dataset_best"].get(n)
        row.append(f"{100 * b['accuracy']:.2f} {b['method']}" if b else "-")
        t.add_row(*row)
    row = ["mean"] + [fmt(s["ours_mean_accuracy"][m]) for m in ours_m]
    row += [fmt(s["crowdkit_mean_accuracy"].get(m)) for m in ck_m]
    row.append(f"{100 * s['crowdkit_per_dataset_best_mean']:.2f}")
    t.add_row(*row)
    console.print(t)
    console.print(
        f"auto mean {100 * s['auto_mean']:.2f} vs crowd-kit per-dataset best mean "
        f"{100 * s['crowdkit_per_dataset_best_mean']:.2f} ({s['auto_minus_best_mean_pp']:+.2f} pp)"
    )


def print_scale(console: Any, report: dict[str, Any]) -> None:
    from rich.table import Table

    if "million" in report:
        m = report["million"]
        d = m["dawid_skene_fit"]
        console.print(
            f"1M DS fit: ours {d['ours']['seconds']:.3f} s ({d['ours']['iterations']} it, acc "
            f"{100 * d['ours']['accuracy']:.2f}%, peak {d['ours']['peak_traced_bytes'] / 2**20:.0f} MiB) | "
            f"crowd-kit {d['crowdkit']['seconds']:.2f} s ({d['crowdkit']['iterations']} it, acc "
            f"{100 * d['crowdkit']['accuracy']:.2f}%, peak {d['crowdkit']['peak_traced_bytes'] / 2**20:.0f} MiB) "
            f"-> {d['speedup']:.1f}x (per iteration {d['per_iteration_speedup']:.1f}x)"
        )
        w = m["whole_process"]
        console.print(
            f"1M whole process: labelloop aggregate {w['ours']['seconds']:.2f} s, "
            f"{w['ours']['max_rss_bytes'] / 2**20:.0f} MiB RSS | crowd-kit script "
            f"{w['crowdkit']['seconds']:.2f} s, {w['crowdkit']['max_rss_bytes'] / 2**20:.0f} MiB -> "
            f"{w['speedup']:.1f}x"
        )
        t2 = Table(title="1M answers: other methods (fit seconds / iterations / accuracy)")
        for c in ("method", "ours", "crowd-kit"):
            t2.add_column(c)
        pairs = {
            "majority_vote.v1": "MajorityVote",
            "wawa.v1": "Wawa",
            "one_coin_dawid_skene.v1": "OneCoinDawidSkene",
            "zero_based_skill.v1": "ZeroBasedSkill",
        }
        for meth, r in m["other_methods"]["ours"].items():
            ck = m["other_methods"]["crowdkit"].get(pairs.get(meth, ""), None)
            t2.add_row(
                meth,
                f"{r['seconds']:.3f} s / {r['iterations']} / {100 * r['accuracy']:.2f}%",
                "-"
                if ck is None
                else f"{ck['seconds']:.2f} s / {ck['iterations']} / {100 * ck['accuracy']:.2f}%",
            )
        console.print(t2)
    if "ten_million" in report:
        tm = report["ten_million"]
        console.print(
            f"10M DS: fit {tm['fit']['seconds']:.2f} s ({tm['fit']['iterations']} it, acc "
            f"{100 * tm['fit']['accuracy']:.2f}%, fit process RSS {tm['fit']['max_rss_bytes'] / 2**30:.2f} GiB); "
            f"whole process {tm['whole_process']['seconds']:.2f} s, RSS "
            f"{tm['whole_process']['max_rss_bytes'] / 2**30:.2f} GiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="skip the 10M set")
    parser.add_argument("--no-cache", action="store_true", help="recompute crowd-kit on real sets")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--skip-million", action="store_true")
    parser.add_argument("--skip-families", action="store_true")
    parser.add_argument(
        "--ck-cached-only",
        action="store_true",
        help="use cached crowd-kit real-set results only (missing ones are left out)",
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs per timing (best is kept)")
    parser.add_argument(
        "--jobs", type=int, default=2, help="parallel crowd-kit children on real sets"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, *rest = args.child
        if kind == "ours_real":
            res = child_ours_real(rest[0])
        elif kind == "ck_real":
            res = child_ck_real(rest[0], rest[1])
        elif kind == "family":
            res = child_family(rest[0], int(rest[1]))
        elif kind == "fit":
            res = child_fit(rest[0], rest[1], rest[2], rest[3] == "1")
        else:
            raise SystemExit(f"unknown child {kind}")
        print(json.dumps(res))
        return

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    report: dict[str, Any] = {"crowdkit_version": "1.4.2", "cores": os.cpu_count()}
    if not args.skip_families:
        report["families"] = family_sets(log)
    if not args.skip_real:
        report["real"] = real_sets(not args.no_cache, args.jobs, log, args.ck_cached_only)
        report["real_summary"] = summarize_real(report["real"])
        report["lodo"] = lodo(report["real"], report.get("families", {}))
    if not args.skip_million:
        report["million"] = million(args.repeat, log)
    if not args.quick:
        report["ten_million"] = ten_million(log)
    report["benchmark_seconds"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(report))
    else:
        print_tables(report)
        print(f"benchmark took {report['benchmark_seconds']:.0f} s")


if __name__ == "__main__":
    main()
