"""Finding things in a large project: `items list` (by state) and `items show` on SQLite.

Usage: python benchmarks/items_list.py [--n 200000] [--repeat 3] [--json]

Builds a project of N generated items (three answers on every other item, gold on every
tenth, a majority-vote consensus, one sampled batch of 100 with half of it handed out, and
100 corrections), then times `labelloop.service.source.items.list_items` (50 rows and the total)
per state and `show_item` on one item; best of ``--repeat`` runs. Setup time is printed
too but is not what is measured.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from labelloop.service.adjudicate.adjudicate import adjudicate  # noqa: E402
from labelloop.service.annotate.batches import export_batch  # noqa: E402
from labelloop.service.project.schemas import apply_schema_file  # noqa: E402
from labelloop.service.project.workspace import Workspace, init_workspace  # noqa: E402
from labelloop.service.sample.sampling import sample  # noqa: E402
from labelloop.service.source.imports import import_answers, import_gold, import_items  # noqa: E402
from labelloop.service.source.items import correct_item, list_items, show_item  # noqa: E402
from labelloop.store.listing import ITEM_STATES  # noqa: E402

SCHEMA = """name: bench
version: "1"
task: single_label
instructions: Is the comment spam?
inputs:
  - name: text
labels:
  - name: spam
    description: advertising
  - name: ham
    description: anything else
"""


def build(folder: Path, n: int) -> tuple[Workspace, float]:
    rng = random.Random(0)
    words = ["buy now", "nice song", "check my channel", "love it", "who is here"]
    (folder / "schema.yaml").write_text(SCHEMA)
    with open(folder / "items.jsonl", "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"i{i}", "text": f"comment {i} {rng.choice(words)}"}))
            fh.write("\n")
    with open(folder / "answers.csv", "w") as fh:
        fh.write("worker,task,label\n")
        for i in range(0, n, 2):
            for w in ("w1", "w2", "w3"):
                fh.write(f"{w},i{i},{rng.choice(['spam', 'ham'])}\n")
    with open(folder / "gold.csv", "w") as fh:
        fh.write("task,label\n")
        for i in range(1, n, 10):
            fh.write(f"i{i},ham\n")
    start = time.perf_counter()
    ws, _ = init_workspace(folder, "bench")
    store = ws.store
    apply_schema_file(store, None, folder / "schema.yaml")
    import_items(store, None, folder / "items.jsonl")
    import_answers(store, None, folder / "answers.csv")
    import_gold(store, None, folder / "gold.csv")
    adjudicate(store, None, method="majority_vote")
    batch = sample(store, None, "random", 50)
    assert batch.batch_id is not None
    export_batch(store, None, batch.batch_id, folder / "b.jsonl", claim=True)
    sample(store, None, "random", 50)
    for i in range(0, 200, 2):
        correct_item(store, None, f"i{i}", "spam", reason="bench", labeler="bench")
    return ws, time.perf_counter() - start


def best(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws, setup = build(Path(tmp), args.n)
        store = ws.store
        rows = []
        for state in (None, *ITEM_STATES):
            seconds, (_, total) = best(
                args.repeat, lambda s=state: list_items(store, None, state=s, limit=50)
            )
            rows.append({"query": f"items list --state {state or '(any)'}", "matches": total,
                         "seconds": round(seconds, 3)})  # fmt: skip
        key = f"i{args.n // 2 + 1}"  # gold, answered by nobody
        seconds, _ = best(args.repeat, lambda: show_item(store, None, key))
        rows.append({"query": f"items show {key}", "matches": 1, "seconds": round(seconds, 3)})
        ws.close()
    if args.json:
        print(json.dumps({"n_items": args.n, "setup_seconds": round(setup, 1), "rows": rows}))
        return
    print(f"{args.n:,} items (setup {setup:.1f} s); best of {args.repeat}, 50 rows + total")
    print(f"{'query':<36} {'matches':>9} {'seconds':>8}")
    for r in rows:
        print(f"{r['query']:<36} {r['matches']:>9,} {r['seconds']:>8.3f}")


if __name__ == "__main__":
    main()
