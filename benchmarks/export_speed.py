"""Release export speed and crash safety on SQLite.

Usage: python benchmarks/export_speed.py [--labels 1000000] [--kills 20] [--json]

Builds a workspace of N items with one answer each (4 labels, 2,000 workers) through the
service layer, makes a release (majority vote), then times `release export` to Parquet and
to JSONL with their manifests: the database read (the release's stored labels and their
answers' labelers), the file writing (with fsync and the folder swap), and the whole call.
Then exports the same release again and compares sha256 (bit-identical re-export). Last,
``--kills`` times it starts `labelloop release export` as a child process and kills it
(SIGKILL) after a random delay up to the child's usual duration, and after each kill checks
that the current export is either the previous complete one or the new complete one
(manifest present, file sha256 as the manifest says). Setup time is printed, not measured.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from labelloop.service.project.workspace import init_workspace  # noqa: E402
from labelloop.service.release.export import export_release  # noqa: E402
from labelloop.service.release.releases import create_release  # noqa: E402
from labelloop.service.source.imports import import_answers  # noqa: E402


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def complete(current: Path) -> bool:
    """Whether the export at ``current`` (absent counts) is whole: manifest and data agree."""
    if not current.exists():
        return True
    manifest = current / "manifest.json"
    if not manifest.exists():
        return False
    files = json.loads(manifest.read_text())["files"]
    return all(
        (current / name).exists() and sha256(current / name) == meta["sha256"]
        for name, meta in files.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ll_export_"))
    result: dict[str, Any] = {"labels": args.labels, "cpus": os.cpu_count()}
    try:
        os.environ.pop("LABELLOOP_DATABASE_URL", None)
        start = time.perf_counter()
        ws, _ = init_workspace(root, "bench")
        rng = random.Random(0)
        answers = root / "answers.csv"
        with open(answers, "w", encoding="utf-8") as fh:
            fh.write("worker,task,label\n")
            for i in range(args.labels):
                fh.write(f"w{rng.randrange(2000)},i{i},{rng.choice('abcd')}\n")
        import_answers(ws.store, None, answers)
        create_release(ws.store, root, None, "v1", method="majority_vote")
        result["setup_seconds"] = round(time.perf_counter() - start, 1)
        out = root / "exports"
        for fmt in ("parquet", "jsonl"):
            start = time.perf_counter()
            first = export_release(ws.store, None, "v1", fmt, out)
            seconds = time.perf_counter() - start
            again = export_release(ws.store, None, "v1", fmt, out)
            result[fmt] = {
                "seconds": round(seconds, 2),
                "read_seconds": first.read_seconds,
                "write_seconds": first.write_seconds,
                "mb": round(sum(p.stat().st_size for p in Path(first.folder).iterdir()) / 1e6, 1),
                "identical_reexport": first.sha256 == again.sha256,
            }
        result["labels"] = first.rows
        result["seconds"] = result["parquet"]["seconds"]
        ws.close()
        exe = shutil.which("labelloop", path=str(Path(sys.executable).parent)) or "labelloop"
        cmd = [exe, "release", "export", "v1", "--format", "parquet", "--out", str(out)]
        start = time.perf_counter()
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)
        usual = time.perf_counter() - start
        partial = 0
        for _ in range(args.kills):
            if rng.random() < 0.5:  # half the time from scratch: no previous version to keep
                shutil.rmtree(out, ignore_errors=True)
            child = subprocess.Popen(
                cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(rng.uniform(0, usual))
            child.send_signal(signal.SIGKILL)
            child.wait()
            partial += not complete(out / "v1-parquet")
        result["kills"] = {"runs": args.kills, "child_seconds": round(usual, 2), "partial": partial}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['labels']:,} labels (setup {result['setup_seconds']} s, not measured)")
    print("| format | seconds | db read s | write s | MB | identical re-export |")
    print("|---|---:|---:|---:|---:|---|")
    for fmt in ("parquet", "jsonl"):
        r = result[fmt]
        print(
            f"| {fmt} | {r['seconds']} | {r['read_seconds']} | {r['write_seconds']} | "
            f"{r['mb']} | {r['identical_reexport']} |"
        )
    k = result["kills"]
    print(
        f"kill -9 during {k['runs']} exports (child ~{k['child_seconds']} s): {k['partial']} left a partial export current"
    )


if __name__ == "__main__":
    main()
