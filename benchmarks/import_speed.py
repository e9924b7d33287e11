"""Import speed: generate N small JSONL items and import them into a fresh workspace.

Runs `labelloop init` and `labelloop import items` as child processes (the real CLI path),
for several sizes, and reports items/s, the importer's CPU seconds and peak RSS (from
wait4), so that linear growth and memory independence of file size are visible side by
side; then imports the same file again (every item already present). With
``--store postgres`` each size runs on SQLite and on a fresh PostgreSQL database (created on
``LABELLOOP_BENCH_POSTGRES_URL``, default the local server as user postgres, and dropped
afterwards), one after the other on the same file. ``--answers`` then imports N answers
(`worker,task,label`, 2,000 workers, tasks among the N items) into the same workspace.

    python benchmarks/import_speed.py                   # SQLite, table for 250k and 1M items
    python benchmarks/import_speed.py --store postgres  # SQLite and PostgreSQL side by side
    python benchmarks/import_speed.py --json            # one JSON object: "stores" holds the
        # largest run and the 1M/250k time ratio per store, "runs" every run; the top-level
        # "seconds", "items_per_s", "peak_rss_mb" are the largest run of --store
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _stores import add_store_options, base_env, selected_stores, store_env

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron".split()


def generate(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            a, b, c = WORDS[i % 15], WORDS[(i // 15) % 15], WORDS[(i // 225) % 15]
            fh.write(f'{{"id": "i{i}", "text": "{a} {b} {c} message number {i}"}}\n')


def generate_answers(path: Path, n: int) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("worker,task,label\n")
        for _ in range(n):
            fh.write(f"w{rng.randrange(2000)},i{rng.randrange(n)},{rng.choice('abcd')}\n")


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out, err = proc.communicate()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{err.decode()}{out.decode()}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def summary(runs: list[dict], store: str) -> dict:
    """The largest run of ``store`` and how its time grew against the smallest."""
    mine = sorted((r for r in runs if r["store"] == store), key=lambda r: r["items"])
    small, large = mine[0], mine[-1]
    return {
        "items": large["items"],
        "seconds": large["seconds"],
        "items_per_s": large["items_per_s"],
        "peak_rss_mb": large["peak_rss_mb"],
        "growth": {
            "items": [small["items"], large["items"]],
            "items_ratio": round(large["items"] / small["items"], 2),
            "seconds_ratio": round(large["seconds"] / small["seconds"], 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250_000, 1_000_000])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--answers", action="store_true", help="also import N answers")
    add_store_options(parser)
    args = parser.parse_args()

    exe = shutil.which("labelloop", path=str(Path(sys.executable).parent)) or "labelloop"
    stores = selected_stores(args)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(args.sizes):
            data = Path(tmp) / f"items{n}.jsonl"
            generate(data, n)
            answers = Path(tmp) / f"answers{n}.csv"
            if args.answers:
                generate_answers(answers, n)
            for store in stores:
                folder = Path(tmp) / f"ws{n}-{store}"
                folder.mkdir()
                with store_env(store, base_env()) as env:
                    load = os.getloadavg()[0]
                    run([exe, "init", "bench"], folder, env)
                    seconds, cpu, rss = run([exe, "import", "items", str(data)], folder, env)
                    again, _, _ = run([exe, "import", "items", str(data)], folder, env)
                    if args.answers:
                        cmd = [exe, "import", "answers", str(answers)]
                        answers_seconds, _, _ = run(cmd, folder, env)
                runs.append(
                    {
                        "store": store,
                        "items": n,
                        "file_mb": round(data.stat().st_size / 1e6, 1),
                        "seconds": round(seconds, 2),
                        "items_per_s": round(n / seconds),
                        "us_per_item": round(seconds / n * 1e6, 1),
                        "cpu_seconds": round(cpu, 1),
                        "peak_rss_mb": round(rss, 1),
                        "reimport_seconds": round(again, 2),
                        "load_avg_1m": round(load, 2),
                    }
                )
                if args.answers:
                    runs[-1]["answers_seconds"] = round(answers_seconds, 2)
                    runs[-1]["answers_per_s"] = round(n / answers_seconds)
                shutil.rmtree(folder)
            data.unlink()
            answers.unlink(missing_ok=True)
    per_store = {store: summary(runs, store) for store in stores}
    main_store = per_store[stores[-1]]
    if args.json:
        print(
            json.dumps(
                {
                    "store": stores[-1],
                    "items_per_s": main_store["items_per_s"],
                    "seconds": main_store["seconds"],
                    "peak_rss_mb": main_store["peak_rss_mb"],
                    "stores": per_store,
                    "cpus": os.cpu_count(),
                    "runs": runs,
                }
            )
        )
        return
    print(f"import items via the CLI ({os.cpu_count()} CPUs; load = 1-min load average at start)")
    print(
        f"{'store':<9} {'items':>10} {'file MB':>8} {'seconds':>8} {'items/s':>9} {'us/item':>8} "
        f"{'CPU s':>6} {'peak RSS MB':>12} {'re-import s':>12} {'load':>5}"
    )
    for r in runs:
        print(
            f"{r['store']:<9} {r['items']:>10,} {r['file_mb']:>8} {r['seconds']:>8} "
            f"{r['items_per_s']:>9,} {r['us_per_item']:>8} {r['cpu_seconds']:>6} "
            f"{r['peak_rss_mb']:>12} {r['reimport_seconds']:>12} {r['load_avg_1m']:>5}"
            + (f"  answers {r['answers_seconds']} s" if "answers_seconds" in r else "")
        )
    for store, s in per_store.items():
        g = s["growth"]
        print(
            f"{store}: {g['items_ratio']}x the items took {g['seconds_ratio']}x the time "
            f"({g['items'][0]:,} -> {g['items'][1]:,})"
        )


if __name__ == "__main__":
    main()
