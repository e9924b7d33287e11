"""Telemetry import speed: N generated production prediction records into a fresh workspace.

Runs `labelloop init` and `labelloop telemetry import` as child processes (the real CLI
path) for several sizes and reports records/s, seconds and the importer's peak RSS (from
wait4), so memory independence of file size is visible side by side. Records carry
probabilities, a request id and a timestamp; half of the inputs repeat (two predictions per
item), so item deduplication by content is exercised. A second import of the largest file
measures the re-import path (every record already present: nothing added); ``--parallel``
adds a fresh import of it with parsing in a second process. Peak RSS is the importer's own
(the parser child's is not included). With ``--store postgres`` every size runs on SQLite
and on a fresh PostgreSQL database (created on ``LABELLOOP_BENCH_POSTGRES_URL``, default the
local server as user postgres, and dropped afterwards), one after the other on the same file.

    python benchmarks/telemetry_import.py                   # SQLite, 250k and 1M records
    python benchmarks/telemetry_import.py --store postgres  # SQLite and PostgreSQL
    python benchmarks/telemetry_import.py --json      # one JSON object: "stores" holds the
        # largest first import per store, "runs" every run; the top-level figures are the
        # largest first import of --store
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _stores import add_store_options, base_env, selected_stores, store_env  # noqa: E402

CPU: list[float] = []
WORDS = "free win call now prize claim text reply stop hello meet lunch later tonight".split()


def generate(path: Path, n: int) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            p = round(rng.random(), 4)
            words = " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(6))
            record = {
                "input": {"text": f"{words} message {i % max(1, n // 2)}"},
                "prediction": "spam" if p > 0.5 else "ham",
                "probabilities": {"spam": p, "ham": round(1 - p, 4)},
                "model": "spam-clf",
                "model_version": "v3" if i % 2 else "v2",
                "timestamp": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i % 59:02d}Z",
                "request_id": f"req-{i}",
            }
            fh.write(json.dumps(record) + "\n")


def run_child(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one child process; its CPU seconds
    (user + system, the parser grandchild included) go to ``CPU[-1]``."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{err}{out}")
    CPU.append(usage.ru_utime + usage.ru_stime)
    return seconds, usage.ru_maxrss / 1024, out


def measure(
    exe: str, data: Path, n: int, store: str, folder: Path, *, largest: bool, parallel: bool
) -> list[dict]:
    """First import of ``data`` into a fresh workspace on ``store``; for the largest size also
    the --parallel first import (when asked) and the re-import."""
    runs = []
    cmd = [exe, "telemetry", "import", str(data), "--json"]

    def record(path: str, seconds: float, rss: float, new_items: int) -> None:
        runs.append(
            {
                "store": store,
                "records": n,
                "path": path,
                "seconds": round(seconds, 2),
                "records_per_s": round(n / seconds),
                "us_per_record": round(seconds / n * 1e6, 1),
                "cpu_seconds": round(CPU[-1], 1),
                "peak_rss_mb": round(rss, 1),
                "new_items": new_items,
                "file_mb": round(data.stat().st_size / 2**20, 1),
                "load_avg_1m": round(load, 2),
            }
        )

    with store_env(store, base_env()) as env:
        load = os.getloadavg()[0]
        run_child([exe, "init", "bench"], folder, env)
        seconds, rss, out = run_child(cmd, folder, env)
        report = json.loads(out)
        assert report["added"] == n, report
        record("first import", seconds, rss, report["new_items"])
        if largest:
            load = os.getloadavg()[0]
            seconds, rss, out = run_child(cmd, folder, env)
            assert json.loads(out)["added"] == 0
            record("re-import (all present)", seconds, rss, 0)
    if largest and parallel:
        fresh = folder / "parallel"
        fresh.mkdir()
        with store_env(store, base_env()) as env:
            load = os.getloadavg()[0]
            run_child([exe, "init", "bench"], fresh, env)
            seconds, rss, out = run_child([*cmd, "--parallel"], fresh, env)
            assert json.loads(out)["added"] == n
            record("first import --parallel", seconds, rss, report["new_items"])
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250_000, 1_000_000])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--parallel",
        action="store_true",
        help="also import the largest file with --parallel (parsing in a second process)",
    )
    add_store_options(parser)
    args = parser.parse_args()

    exe = shutil.which("labelloop", path=str(Path(sys.executable).parent)) or "labelloop"
    stores = selected_stores(args)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(args.sizes):
            data = Path(tmp) / f"telemetry{n}.jsonl"
            generate(data, n)
            for store in stores:
                folder = Path(tmp) / f"ws{n}-{store}"
                folder.mkdir()
                largest = n == max(args.sizes)
                runs += measure(
                    exe, data, n, store, folder, largest=largest, parallel=args.parallel
                )
                shutil.rmtree(folder)
            data.unlink()
    per_store = {
        store: max(
            (r for r in runs if r["store"] == store and r["path"] == "first import"),
            key=lambda r: r["records"],
        )
        for store in stores
    }
    main_run = per_store[stores[-1]]
    if args.json:
        print(
            json.dumps(
                {
                    "store": stores[-1],
                    "records": main_run["records"],
                    "seconds": main_run["seconds"],
                    "records_per_s": main_run["records_per_s"],
                    "peak_rss_mb": main_run["peak_rss_mb"],
                    "cpu_seconds": main_run["cpu_seconds"],
                    "load_avg_1m": main_run["load_avg_1m"],
                    "stores": per_store,
                    "runs": runs,
                }
            )
        )
        return
    print(
        f"telemetry import via the CLI ({os.cpu_count()} CPUs; load = 1-min load average at start)"
    )
    print(
        f"{'store':<9} {'records':>10} {'path':<24} {'seconds':>8} {'CPU s':>7} {'records/s':>10} "
        f"{'us/rec':>7} {'peak RSS MB':>12} {'file MB':>8} {'load':>5}"
    )
    for r in runs:
        print(
            f"{r['store']:<9} {r['records']:>10,} {r['path']:<24} {r['seconds']:>8.1f} "
            f"{r['cpu_seconds']:>7.1f} {r['records_per_s']:>10,} {r['us_per_record']:>7} "
            f"{r['peak_rss_mb']:>12.1f} {r['file_mb']:>8.1f} {r['load_avg_1m']:>5}"
        )


if __name__ == "__main__":
    main()
