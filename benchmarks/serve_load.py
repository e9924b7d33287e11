"""Submissions under load on `labelloop serve` (skeleton): simulated annotators replay a
real crowd set through the JSON API with asyncio httpx clients.

Usage: python benchmarks/serve_load.py [--data DIR] [--clients 40] [--items 400]
[--store sqlite|postgres] [--json]

Setup (untimed, through the library): a fresh workspace, a schema with the set's labels, its
first ``--items`` tasks as items (text "task <id>"), gold for 20 of them marked as
calibration and for one in ten of the others (hidden gold), and ``--clients`` annotators with API tokens. Then the real server
(`python -m labelloop serve`, one worker) on a free 127.0.0.1 port, and each client in a
loop: GET tasks/next, POST tasks/{id}/answer with an Idempotency-Key. Calibration tasks are
answered with their gold (the simulated people pass the gate); other tasks with one of
the real answers to that task, in turn. Reported: submissions/s over the replay, p50/p99 of
the answer requests, acknowledged answers, answers stored afterwards, duplicate event ids.
Not yet: PostgreSQL with 2 workers, the load generator's CPU share, aggregate accuracy,
adaptive vs fixed overlap, Label Studio.

First figure (dog, 400 items, 40 clients, SQLite, 2 cores shared with other work, load ~5):
23.8 submissions/s, p50 827 ms, p99 1400 ms; 2,276 acknowledged = 2,276 stored, 0 duplicates.
Far from the 400/s goal; where the time goes is not measured yet.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serve import serving  # noqa: E402
from _stores import add_store_options, base_env, selected_stores, store_env  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "crowd" / "dog"
CALIBRATION = 20


def _read(data: Path, items: int) -> tuple[dict[str, list[str]], dict[str, str]]:
    answers: dict[str, list[str]] = defaultdict(list)
    with open(data / "answers.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["task"] in answers or len(answers) < items:
                answers[row["task"]].append(row["label"])
    with open(data / "gold.csv", encoding="utf-8", newline="") as fh:
        gold = {r["task"]: r["label"] for r in csv.DictReader(fh) if r["task"] in answers}
    return dict(answers), gold


def _setup(folder: Path, env: dict[str, str], data: Path, items: int, clients: int) -> Any:
    """The workspace, items, gold, calibration and people; returns (tokens, truth, answers)."""
    os.environ.update(env)
    os.chdir(folder)
    from labelloop.service.annotate.work import mark_calibration, set_policy
    from labelloop.service.project import accounts
    from labelloop.service.project.schemas import apply_schema_file
    from labelloop.service.project.workspace import init_workspace, load_secret_key
    from labelloop.service.source.imports import import_gold, import_items

    answers, known = _read(data, items)
    order = sorted(known)
    # calibration gold, then one in ten of the rest as hidden gold; the others are work
    gold = {t: known[t] for n, t in enumerate(order) if n < CALIBRATION or n % 10 == 0}
    labels = sorted({y for ys in answers.values() for y in ys})
    schema = ["name: load", 'version: "1"', "task: single_label", "inputs:"]
    schema += ["  - {name: text, type: text}", "labels:"]
    schema += [f"  - {{name: '{y}', description: class {y}}}" for y in labels]
    (folder / "schema.yaml").write_text("\n".join(schema) + "\n", encoding="utf-8")
    with open(folder / "items.jsonl", "w", encoding="utf-8") as fh:
        for task in answers:
            fh.write(json.dumps({"id": task, "text": f"task {task}"}) + "\n")
    with open(folder / "gold.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("task", "label"), *gold.items()])
    ws, _ = init_workspace(folder, "load")
    with ws:
        apply_schema_file(ws.store, None, folder / "schema.yaml")
        import_items(ws.store, None, folder / "items.jsonl")
        import_gold(ws.store, None, folder / "gold.csv")
        mark_calibration(ws.store, None, order[:CALIBRATION])
        set_policy(ws.store, None, threshold=0.5)
        keys = accounts.Keys.from_secret(load_secret_key(ws.root))
        tokens = []
        for n in range(clients):
            added = accounts.add_user(ws.store, f"a{n}", role="annotator", project_name="load")
            tokens.append(accounts.create_api_token(ws.store, keys, added.user, "load")[1])
    return tokens, gold, answers


async def _annotator(
    base: str,
    token: str,
    n: int,
    truth: dict[str, str],
    answers: dict[str, list[str]],
    turns: dict[str, int],
    out: dict[str, list[Any]],
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    api = "/api/v1/projects/load"
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
        for k in range(10_000):
            res = await client.get(f"{api}/tasks/next")
            task = res.json()["task"]
            if task is None:
                return
            item = task["data"]["text"].removeprefix("task ")
            calibrating = k < CALIBRATION and item in truth
            if calibrating:
                label = truth[item]
            else:
                label = answers[item][turns[item] % len(answers[item])]
                turns[item] += 1
            start = time.perf_counter()
            res = await client.post(
                f"{api}/tasks/{task['assignment']}/answer",
                json={"label": label},
                headers={"Idempotency-Key": f"a{n}-{k}"},
            )
            out["ms"].append(1000 * (time.perf_counter() - start))
            if res.status_code == 200:
                out["events"].append(res.json()["event_id"])
            else:
                out["errors"].append(res.text)


async def _replay(base: str, tokens: list[str], truth: Any, answers: Any) -> dict[str, Any]:
    out: dict[str, list[Any]] = {"ms": [], "events": [], "errors": []}
    turns: dict[str, int] = defaultdict(int)
    start = time.perf_counter()
    await asyncio.gather(
        *(_annotator(base, t, n, truth, answers, turns, out) for n, t in enumerate(tokens))
    )
    out["wall_s"] = [time.perf_counter() - start]
    return out


def measure(store: str, data: Path, items: int, clients: int) -> dict[str, Any]:
    here = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp, store_env(store, base_env()) as env:
        folder = Path(tmp)
        tokens, truth, answers = _setup(folder, env, data, items, clients)
        with serving(folder, env) as base:
            out = asyncio.run(_replay(base, tokens, truth, answers))
        from labelloop.service.project.status import project_status
        from labelloop.service.project.workspace import open_workspace

        with open_workspace(folder) as ws:
            stored = int(project_status(ws.store, "load")["answers"])
        os.chdir(here)
    spent = sorted(out["ms"])
    events = out["events"]
    return {
        "store": store,
        "clients": clients,
        "submissions": len(spent),
        "submissions_per_s": round(len(spent) / out["wall_s"][0], 1),
        "p50_ms": round(spent[len(spent) // 2], 2) if spent else None,
        "p99_ms": round(spent[min(len(spent) - 1, int(len(spent) * 0.99))], 2) if spent else None,
        "acknowledged": len(events),
        "stored": stored,
        "duplicates": len(events) - len(set(events)),
        "errors": len(out["errors"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--json", action="store_true")
    add_store_options(parser)
    args = parser.parse_args()
    data = args.data.resolve()
    results = [measure(s, data, args.items, args.clients) for s in selected_stores(args)]
    if args.json:
        print(json.dumps({"results": results}))
        return
    cols = ("store", "clients", "submissions_per_s", "p50_ms", "p99_ms", "acknowledged")
    cols += ("stored", "duplicates", "errors")
    print(" ".join(f"{c:>17}" for c in cols))
    for r in results:
        print(" ".join(f"{r[c]!s:>17}" for c in cols))


if __name__ == "__main__":
    main()
