"""Import speed: generate N small JSONL items and import them into a fresh SQLite workspace.

Runs `labelloop init` and `labelloop import items` as child processes (the real CLI path),
for several sizes, and reports items/s and the importer's peak RSS (from wait4), so that
memory independence of file size is visible side by side.

    python benchmarks/import_speed.py            # table for 250k and 1M items
    python benchmarks/import_speed.py --json     # {"items_per_s", "seconds", "peak_rss_mb", "runs": [...]}
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron".split()


def generate(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            a, b, c = WORDS[i % 15], WORDS[(i // 15) % 15], WORDS[(i // 225) % 15]
            fh.write(f'{{"id": "i{i}", "text": "{a} {b} {c} message number {i}"}}\n')


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out, err = proc.communicate()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{err.decode()}{out.decode()}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250_000, 1_000_000])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    exe = shutil.which("labelloop", path=str(Path(sys.executable).parent)) or "labelloop"
    env = {k: v for k, v in os.environ.items() if k != "LABELLOOP_DATABASE_URL"}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            folder = Path(tmp) / f"ws{n}"
            folder.mkdir()
            data = folder / "items.jsonl"
            generate(data, n)
            run([exe, "init", "bench"], folder, env)
            seconds, rss = run([exe, "import", "items", str(data)], folder, env)
            again, _ = run([exe, "import", "items", str(data)], folder, env)
            runs.append(
                {
                    "items": n,
                    "file_mb": round(data.stat().st_size / 1e6, 1),
                    "seconds": round(seconds, 2),
                    "items_per_s": round(n / seconds),
                    "peak_rss_mb": round(rss, 1),
                    "reimport_seconds": round(again, 2),
                }
            )
            shutil.rmtree(folder)
    largest = runs[-1]
    if args.json:
        print(
            json.dumps(
                {
                    "items_per_s": largest["items_per_s"],
                    "seconds": largest["seconds"],
                    "peak_rss_mb": largest["peak_rss_mb"],
                    "runs": runs,
                }
            )
        )
        return
    print(
        f"{'items':>10} {'file MB':>8} {'seconds':>8} {'items/s':>9} {'peak RSS MB':>12} {'re-import s':>12}"
    )
    for r in runs:
        print(
            f"{r['items']:>10,} {r['file_mb']:>8} {r['seconds']:>8} {r['items_per_s']:>9,} "
            f"{r['peak_rss_mb']:>12} {r['reimport_seconds']:>12}"
        )


if __name__ == "__main__":
    main()
