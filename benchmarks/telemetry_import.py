"""Telemetry import speed: N generated production prediction records into a fresh workspace.

Runs `labelloop init` and `labelloop telemetry import` as child processes (the real CLI
path) for several sizes and reports records/s, seconds and the importer's peak RSS (from
wait4), so memory independence of file size is visible side by side. Records carry
probabilities, a request id and a timestamp; half of the inputs repeat (two predictions per
item), so item deduplication by content is exercised. A second import of the largest file
measures the re-import path (every record already present: nothing added); ``--parallel``
adds a fresh import of it with parsing in a second process. Peak RSS is the importer's own
(the parser child's is not included).

    python benchmarks/telemetry_import.py             # table for 250k and 1M records
    python benchmarks/telemetry_import.py --json      # one JSON object
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250_000, 1_000_000])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--parallel",
        action="store_true",
        help="also import the largest file with --parallel (parsing in a second process)",
    )
    args = parser.parse_args()

    exe = shutil.which("labelloop", path=str(Path(sys.executable).parent)) or "labelloop"
    env = {k: v for k, v in os.environ.items() if k != "LABELLOOP_DATABASE_URL"}
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            folder = Path(tmp) / f"ws{n}"
            folder.mkdir()
            data = folder / "telemetry.jsonl"
            generate(data, n)
            run_child([exe, "init", "bench"], folder, env)
            cmd = [exe, "telemetry", "import", str(data), "--json"]
            seconds, rss, out = run_child(cmd, folder, env)
            report = json.loads(out)
            assert report["added"] == n, report
            runs.append(
                {
                    "records": n,
                    "seconds": round(seconds, 2),
                    "records_per_s": round(n / seconds),
                    "cpu_seconds": round(CPU[-1], 1),
                    "peak_rss_mb": round(rss, 1),
                    "new_items": report["new_items"],
                    "file_mb": round(data.stat().st_size / 2**20, 1),
                    "path": "first import",
                }
            )
            if n == max(args.sizes) and args.parallel:
                fresh = folder / "parallel"
                fresh.mkdir()
                run_child([exe, "init", "bench"], fresh, env)
                seconds, rss, out = run_child([*cmd, "--parallel"], fresh, env)
                assert json.loads(out)["added"] == n
                runs.append(
                    {
                        "records": n,
                        "seconds": round(seconds, 2),
                        "records_per_s": round(n / seconds),
                        "cpu_seconds": round(CPU[-1], 1),
                        "peak_rss_mb": round(rss, 1),
                        "new_items": report["new_items"],
                        "file_mb": round(data.stat().st_size / 2**20, 1),
                        "path": "first import --parallel",
                    }
                )
            if n == max(args.sizes):
                seconds, rss, out = run_child(cmd, folder, env)
                assert json.loads(out)["added"] == 0
                runs.append(
                    {
                        "records": n,
                        "seconds": round(seconds, 2),
                        "records_per_s": round(n / seconds),
                        "cpu_seconds": round(CPU[-1], 1),
                        "peak_rss_mb": round(rss, 1),
                        "new_items": 0,
                        "file_mb": round(data.stat().st_size / 2**20, 1),
                        "path": "re-import (all present)",
                    }
                )
            shutil.rmtree(folder)
    main_run = max((r for r in runs if r["path"] == "first import"), key=lambda r: r["records"])
    load = os.getloadavg()[0]
    if args.json:
        print(
            json.dumps(
                {
                    "records": main_run["records"],
                    "seconds": main_run["seconds"],
                    "records_per_s": main_run["records_per_s"],
                    "peak_rss_mb": main_run["peak_rss_mb"],
                    "cpu_seconds": main_run["cpu_seconds"],
                    "load_avg_1m": round(load, 2),
                    "runs": runs,
                }
            )
        )
        return
    print(
        f"telemetry import into SQLite via the CLI (1-min load average {load:.1f}, {os.cpu_count()} CPUs)"
    )
    print(
        f"{'records':>10} {'path':<24} {'seconds':>8} {'CPU s':>7} {'records/s':>10} "
        f"{'peak RSS MB':>12} {'file MB':>8}"
    )
    for r in runs:
        print(
            f"{r['records']:>10,} {r['path']:<24} {r['seconds']:>8.1f} {r['cpu_seconds']:>7.1f} "
            f"{r['records_per_s']:>10,} "
            f"{r['peak_rss_mb']:>12.1f} {r['file_mb']:>8.1f}"
        )


if __name__ == "__main__":
    main()
