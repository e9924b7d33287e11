"""Use cases that read a whole project: adjudicate, status, verify, LF apply and LF report.

Usage: python benchmarks/project_queries.py [--answers 1000000] [--repeat 2] [--json]
       [--cases adjudicate_dawid_skene project_status verify_chain lf_apply lf_report]

Builds once (cached in ``benchmarks/.cache/project_queries/<answers>/``) a SQLite workspace:
``answers / 5`` items with a short comment each, ``answers`` answers from 2,000 simulated
Dawid-Skene workers (two classes, spam / ham; five answers per item) and gold on every
twentieth item. Then times, each in a fresh copy of that workspace, best of ``--repeat``:

- ``adjudicate`` with ``dawid_skene`` (project mode: answers read from the store, one
  adjudication event per item written);
- ``project_status`` and ``verify_chain`` (the whole hash chain);
- ``apply_lf_module`` with the demo's nine LFs (one process) and then ``lf_report`` without
  the end model.

The times include reading and writing the store, which is what the figures are for
(``aggregation.py`` times the DS fit itself). Run it on two checkouts, one after the other
(``PYTHONPATH=OTHER/src``), to compare them on the same template.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import labelloop  # noqa: E402
from items_list import SCHEMA  # noqa: E402  (benchmarks/ is on the path: same schema)
from labelloop.service.adjudicate.adjudicate import adjudicate  # noqa: E402
from labelloop.service.annotate.lf import apply_lf_module, lf_report  # noqa: E402
from labelloop.service.project.schemas import apply_schema_file  # noqa: E402
from labelloop.service.project.status import project_status, verify_chain  # noqa: E402
from labelloop.service.project.workspace import init_workspace, open_workspace  # noqa: E402
from labelloop.service.source.imports import import_answers, import_gold, import_items  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache" / "project_queries"
LFS = Path(labelloop.__file__).resolve().parent / "data" / "demo" / "youtube_lfs.py"
SPAM = ["check out my channel", "subscribe plz", "free money at www.x.com", "sub to me please"]
HAM = ["love this song", "2 billion views", "nice", "who is here in 2026", "great voice"]
PER_ITEM = 5
CASES = ("adjudicate_dawid_skene", "project_status", "verify_chain", "lf_apply", "lf_report")
WORKERS = 2_000


def build(folder: Path, n_answers: int) -> float:
    """Write the template workspace into ``folder``; returns the seconds it took."""
    rng = np.random.default_rng(0)
    n_items = n_answers // PER_ITEM
    truth = rng.integers(0, 2, size=n_items)
    conf = rng.dirichlet(np.ones(2), size=(WORKERS, 2))
    conf += 3.0 * rng.random((WORKERS, 1, 1)) * np.eye(2)
    conf /= conf.sum(axis=2, keepdims=True)
    workers = np.stack([rng.permutation(WORKERS)[:PER_ITEM] for _ in range(n_items)])
    labels = (rng.random((n_items, PER_ITEM)) > conf[workers, truth[:, None], 0]).astype(int)
    names = ("spam", "ham")
    folder.mkdir(parents=True)
    (folder / "schema.yaml").write_text(SCHEMA)
    with open(folder / "items.jsonl", "w") as fh:
        for i in range(n_items):
            pool = SPAM if truth[i] == 0 else HAM
            text = f"{pool[rng.integers(len(pool))]} #{i}"
            fh.write(json.dumps({"id": f"t{i}", "text": text}) + "\n")
    with open(folder / "answers.csv", "w") as fh:
        fh.write("worker,task,label\n")
        for i in range(n_items):
            for j in range(PER_ITEM):
                fh.write(f"w{workers[i, j]},t{i},{names[labels[i, j]]}\n")
    with open(folder / "gold.csv", "w") as fh:
        fh.write("task,label\n")
        for i in range(0, n_items, 20):
            fh.write(f"t{i},{names[truth[i]]}\n")
    start = time.perf_counter()
    ws, _ = init_workspace(folder, "bench")
    with ws:
        apply_schema_file(ws.store, None, folder / "schema.yaml")
        import_items(ws.store, None, folder / "items.jsonl")
        import_answers(ws.store, None, folder / "answers.csv")
        import_gold(ws.store, None, folder / "gold.csv")
    return time.perf_counter() - start


def timed(template: Path, run: Callable[[Any], Any], repeat: int, before: Any = None) -> float:
    """Best wall seconds of ``run(store)``, each in a fresh copy of the template."""
    best = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "ws"
            shutil.copytree(template, folder)
            with open_workspace(folder) as ws:
                if before is not None:
                    before(ws.store)
                start = time.perf_counter()
                run(ws.store)
                best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    args = parser.parse_args()
    os.environ.pop("LABELLOOP_DATABASE_URL", None)  # the template is a SQLite workspace

    template = CACHE / str(args.answers)
    build_seconds = None
    if not (template / "labelloop.toml").exists():
        shutil.rmtree(template, ignore_errors=True)
        build_seconds = round(build(template, args.answers), 1)

    def apply(store: Any) -> None:
        apply_lf_module(store, None, LFS, n_jobs=1)

    cases: dict[str, Callable[[], float]] = {
        "adjudicate_dawid_skene": lambda: timed(
            template, lambda s: adjudicate(s, None, method="dawid_skene"), args.repeat
        ),
        "project_status": lambda: timed(template, lambda s: project_status(s, None), args.repeat),
        "verify_chain": lambda: timed(template, lambda s: verify_chain(s, None), args.repeat),
        "lf_apply": lambda: timed(template, apply, args.repeat),
        "lf_report": lambda: timed(
            template, lambda s: lf_report(s, None, end_model=False), args.repeat, before=apply
        ),
    }
    figures = {name: cases[name]() for name in args.cases}
    report = {
        "answers": args.answers,
        "items": args.answers // PER_ITEM,
        "repeat": args.repeat,
        "build_seconds": build_seconds,
        "load_average": round(os.getloadavg()[0], 1),
        "seconds": {k: round(v, 3) for k, v in figures.items()},
    }
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"{args.answers:,} answers over {args.answers // PER_ITEM:,} items (SQLite), best of "
        f"{args.repeat}; load average {report['load_average']}"
    )
    print(f"{'use case':<26} {'seconds':>8}")
    for name, seconds in report["seconds"].items():
        print(f"{name:<26} {seconds:>8.3f}")


if __name__ == "__main__":
    main()
