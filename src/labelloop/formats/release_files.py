"""Release exporters: one file of label rows per format, written byte-for-byte the same for
the same rows (sorted input, canonical JSON, fixed Parquet options, no timestamps).

Each format is an exporter in :data:`labelloop.registry.exporters` (``jsonl.v1``, ``parquet.v1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from labelloop.core.provenance import canonical_json

Row = dict[str, Any]
COLUMNS = (
    "item",
    "label",
    "confidence",
    "soft_label",
    "source",
    "split",
    "event_seq",
    "answers",
    "labelers",
    "labeler_kinds",
    "answered_at",
)
"""Fields of every exported label (``soft_label``: label -> probability; ``answers``: seqs
of the answer events used; ``labelers``/``labeler_kinds``/``answered_at``: theirs)."""


def write_jsonl(path: Path, rows: Sequence[Row]) -> None:
    """One canonical JSON object per line."""
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(canonical_json({c: row[c] for c in COLUMNS}) + "\n")


def write_parquet(path: Path, rows: Sequence[Row]) -> None:
    """A Parquet file (zstd, no timestamps): labels as strings, or JSON text when any
    label is not a string (multi-label lists)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    text_labels = all(isinstance(r["label"], str) for r in rows)
    schema = pa.schema(
        [
            ("item", pa.string()),
            ("label", pa.string()),
            ("confidence", pa.float64()),
            ("soft_label", pa.map_(pa.string(), pa.float64())),
            ("source", pa.string()),
            ("split", pa.string()),
            ("event_seq", pa.int64()),
            ("answers", pa.list_(pa.int64())),
            ("labelers", pa.list_(pa.string())),
            ("labeler_kinds", pa.list_(pa.string())),
            ("answered_at", pa.list_(pa.string())),
        ]
    )
    columns: dict[str, list[Any]] = {c: [r[c] for r in rows] for c in COLUMNS}
    if not text_labels:
        columns["label"] = [canonical_json(v) for v in columns["label"]]
    columns["soft_label"] = [
        None if v is None else sorted(v.items()) for v in columns["soft_label"]
    ]
    table = pa.Table.from_pydict(columns, schema=schema)
    pq.write_table(table, path, compression="zstd", write_statistics=False)


class JsonlExporter:
    """A release's labels as JSON Lines (registered as ``jsonl.v1``)."""

    file_name: ClassVar[str] = "labels.jsonl"

    def write(self, path: Path, rows: Sequence[Row]) -> None:
        write_jsonl(path, rows)


class ParquetExporter:
    """A release's labels as one Parquet file, zstd (registered as ``parquet.v1``)."""

    file_name: ClassVar[str] = "labels.parquet"

    def write(self, path: Path, rows: Sequence[Row]) -> None:
        write_parquet(path, rows)
