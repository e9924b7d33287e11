"""`labelloop release export NAME --format jsonl|csv|parquet|hf|label_studio --out DIR`.

The export of a release is a folder ``DIR/.versions/NAME-FORMAT-<sha256[:16]>`` holding the
label file (with its siblings, for formats of several files) and ``manifest.json`` (written
last: the sha256 and size of every file, the
release's checkpoint and labels digest), made current by pointing the symlink
``DIR/NAME-FORMAT`` at it in one rename (formats.files.publish_folder). Every file is
fsynced first, so a kill at any point leaves the previous export or the complete new one.
The rows come from the release's stored labels sorted by item key and are written the same
way every time: re-exporting a release gives files with the same sha256.
"""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelloop import registry
from labelloop.core.provenance import canonical_json
from labelloop.formats.files import publish_folder
from labelloop.formats.release_files import Row
from labelloop.store import releases as rs
from labelloop.store import repo
from labelloop.store.engine import Store

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ExportReport:
    project: str
    release: str
    format: str
    rows: int
    path: str
    """The current export (the symlink)."""
    folder: str
    """The versioned folder it points at."""
    sha256: str
    """Of the label file."""
    read_seconds: float
    write_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: an export builds millions of small lists and
    dicts and keeps them all, which would make it rescan them again and again for nothing
    (they form no cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def export_release(
    store: Store, project_name: str | None, name: str, fmt: str, out: Path
) -> ExportReport:
    """Write release ``name`` as ``fmt`` under ``out`` (see the module notes)."""
    with _gc_paused():
        return _export_release(store, project_name, name, fmt, out)


def _export_release(
    store: Store, project_name: str | None, name: str, fmt: str, out: Path
) -> ExportReport:
    import time

    plugin = registry.exporters.resolve(fmt)  # an unknown format lists the known ones
    exporter = registry.exporters.make(plugin.key)
    fmt = plugin.name
    start = time.perf_counter()
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        release = rs.get_release(conn, project, name)
        labels = rs.release_labels(conn, release.id)
        details = rs.answer_details(conn, project)
    method, schema_version = release.body["method"], release.body["schema"]["version"]
    rows: list[Row] = []
    for x in labels:
        seen = [details[s] for s in x.answers if s in details]
        labelers, kinds, when, answered, spent = (
            map(list, zip(*seen, strict=True)) if seen else ([], [], [], [], [])
        )
        rows.append(
            {
                "item": x.item,
                "label": x.label,
                "confidence": x.confidence,
                "soft_label": x.soft_label,
                "source": x.source,
                "method": method,
                "schema_version": schema_version,
                "split": x.split,
                "event_seq": x.event_seq,
                "answers": list(x.answers),
                "labelers": labelers,
                "labeler_kinds": kinds,
                "answered_at": when,
                "answer_labels": answered,
                "time_spent_ms": spent,
            }
        )
    read_seconds = time.perf_counter() - start
    start = time.perf_counter()
    file_name, write = exporter.file_name, exporter.write
    out = Path(out)
    versions = out / ".versions"
    versions.mkdir(parents=True, exist_ok=True)
    for stale in versions.glob("*.partial-*"):  # left by a killed export
        shutil.rmtree(stale, ignore_errors=True)
    staging = versions / f"{name}-{fmt}.partial-{os.getpid()}"
    try:
        staging.mkdir()
        write(staging / file_name, rows)
        digest = _sha256(staging / file_name)
        body = release.body
        manifest = {
            "labelloop": "release-export",
            "project": project.name,
            "release": name,
            "format": plugin.key,
            "files": {
                f.name: {
                    "sha256": digest if f.name == file_name else _sha256(f),
                    "bytes": f.stat().st_size,
                    **({"rows": len(rows)} if f.name == file_name else {}),
                }
                for f in sorted(staging.iterdir())
            },
            "checkpoint": body["checkpoint"],
            "labels_sha256": body["labels_sha256"],
            "schema": body["schema"],
            "method": body["method"],
            "params": body["params"],
            "columns_note": "answers: seqs of the answer events used, in the project's chain; "
            "labelers, labeler_kinds, answered_at, answer_labels, time_spent_ms: theirs",
        }
        (staging / MANIFEST).write_text(canonical_json(manifest) + "\n", encoding="utf-8")
        folder = versions / f"{name}-{fmt}-{digest[:16]}"
        publish_folder(staging, folder, out / f"{name}-{fmt}")
    except BaseException:
        with suppress(OSError):
            shutil.rmtree(staging)
        raise
    return ExportReport(
        project.name,
        name,
        fmt,
        len(rows),
        str(out / f"{name}-{fmt}"),
        str(folder),
        digest,
        round(read_seconds, 3),
        round(time.perf_counter() - start, 3),
    )
