"""Release exporters: one file of label rows per format, written byte-for-byte the same for
the same rows (sorted input, canonical JSON, fixed Parquet options, no timestamps).

Each format is an exporter in :data:`labelloop.registry.exporters` (``jsonl.v1``, ``csv.v1``,
``parquet.v1``, ``hf.v1``, ``label_studio.v1``).
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
    "method",
    "schema_version",
    "split",
    "event_seq",
    "answers",
    "labelers",
    "labeler_kinds",
    "answered_at",
    "answer_labels",
    "time_spent_ms",
)
"""Fields of every exported label (``soft_label``: label -> probability; ``method`` and
``schema_version``: of the release; ``answers``: seqs of the answer events used;
``labelers``/``labeler_kinds``/``answered_at``/``answer_labels``/``time_spent_ms``: theirs)."""

PERSON_KINDS = ("human", "expert")
"""Labeler kinds whose answers Label Studio calls annotations (the others: predictions)."""


def _text_labels(rows: Sequence[Row]) -> bool:
    """Whether every label (final and answered) is a string or None: then labels are
    written as text, else as canonical JSON text (multi-label lists)."""
    return all(
        isinstance(r["label"], str)
        and all(v is None or isinstance(v, str) for v in r["answer_labels"])
        for r in rows
    )


def _label_text(value: Any, text_labels: bool) -> str | None:
    if value is None:
        return None
    return value if text_labels else canonical_json(value)


def write_jsonl(path: Path, rows: Sequence[Row]) -> None:
    """One canonical JSON object per line."""
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(canonical_json({c: row[c] for c in COLUMNS}) + "\n")


def write_csv(path: Path, rows: Sequence[Row]) -> None:
    """A CSV file with a header: scalars as text (empty for None), lists and soft labels as
    canonical JSON text; labels as text, or JSON text when any is not a string."""
    import csv

    text_labels = _text_labels(rows)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(COLUMNS)
        for r in rows:
            cells: list[Any] = []
            for c in COLUMNS:
                v = r[c]
                if c == "label":
                    v = _label_text(v, text_labels)
                elif isinstance(v, list | dict):
                    v = canonical_json(v)
                cells.append("" if v is None else repr(v) if isinstance(v, float) else v)
            out.writerow(cells)


def label_table(rows: Sequence[Row]) -> Any:
    """The rows as a pyarrow Table with a fixed schema: labels as strings, or JSON text when
    any label is not a string (multi-label lists); soft labels as a map label -> p."""
    import pyarrow as pa

    text_labels = _text_labels(rows)
    schema = pa.schema(
        [
            ("item", pa.string()),
            ("label", pa.string()),
            ("confidence", pa.float64()),
            ("soft_label", pa.map_(pa.string(), pa.float64())),
            ("source", pa.string()),
            ("method", pa.string()),
            ("schema_version", pa.string()),
            ("split", pa.string()),
            ("event_seq", pa.int64()),
            ("answers", pa.list_(pa.int64())),
            ("labelers", pa.list_(pa.string())),
            ("labeler_kinds", pa.list_(pa.string())),
            ("answered_at", pa.list_(pa.string())),
            ("answer_labels", pa.list_(pa.string())),
            ("time_spent_ms", pa.list_(pa.int64())),
        ]
    )
    columns: dict[str, list[Any]] = {c: [r[c] for r in rows] for c in COLUMNS}
    if not text_labels:
        columns["label"] = [_label_text(v, False) for v in columns["label"]]
        columns["answer_labels"] = [
            [_label_text(v, False) for v in vs] for vs in columns["answer_labels"]
        ]
    columns["soft_label"] = [
        None if v is None else sorted(v.items()) for v in columns["soft_label"]
    ]
    return pa.Table.from_pydict(columns, schema=schema)


def write_parquet(path: Path, rows: Sequence[Row]) -> None:
    """A Parquet file (zstd, no timestamps) of :func:`label_table`."""
    import pyarrow.parquet as pq

    pq.write_table(label_table(rows), path, compression="zstd", write_statistics=False)


def write_hf(path: Path, rows: Sequence[Row]) -> None:
    """A Hugging Face dataset folder (what ``datasets.load_from_disk`` reads), written with
    pyarrow alone: the Arrow stream ``path`` of :func:`label_table` (soft labels as a list
    of ``{label, p}``, which every ``datasets`` version reads), and beside it
    ``dataset_info.json`` (features left to be read from the Arrow schema) and
    ``state.json`` (fingerprint: the data file's sha256)."""
    import hashlib

    import pyarrow as pa

    table = label_table(rows)
    soft = pa.list_(pa.struct([("label", pa.string()), ("p", pa.float64())]))
    at = table.schema.get_field_index("soft_label")
    table = table.set_column(at, pa.field("soft_label", soft), table.column(at).cast(soft))
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as out:
        out.write_table(table)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    info = {
        "builder_name": None,
        "citation": "",
        "description": "labelloop release labels (one row per item; see manifest.json)",
        "features": None,
        "homepage": "",
        "license": "",
    }
    state: dict[str, Any] = {
        "_data_files": [{"filename": path.name}],
        "_fingerprint": digest[:16],
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": None,
    }
    for name, body in (("dataset_info.json", info), ("state.json", state)):
        (path.parent / name).write_text(canonical_json(body) + "\n", encoding="utf-8")


def _ls_result(seq: int, label: Any) -> list[Row]:
    """A Label Studio ``choices`` result holding one label (a list for multi-label)."""
    if label is None:  # abstained or withdrawn: an empty result
        return []
    choices = label if isinstance(label, list) else [label]
    return [
        {
            "from_name": "label",
            "id": f"e{seq}",
            "origin": "manual",
            "to_name": "item",
            "type": "choices",
            "value": {"choices": choices},
        }
    ]


def label_studio_tasks(rows: Sequence[Row]) -> list[Row]:
    """The rows as Label Studio JSON tasks (the shape of its JSON export).

    Per task: ``data.item`` (the item key); one annotation per person's answer
    (``completed_by``: the labeler's number, ``lead_time`` in seconds, ``created_at``), plus
    a ``ground_truth`` annotation for a gold or corrected label; one prediction per answer
    of a model, LLM or rule (``model_version``: the labeler) and one for an aggregate label
    (``model_version``: ``labelloop:METHOD``, ``score``: its confidence). Label Studio
    numbers users, so labelers are numbered from 1 in key order and ``meta.labelloop``
    keeps each number's labeler key, with the label's other fields.
    """
    numbers = {k: n for n, k in enumerate(sorted({k for r in rows for k in r["labelers"]}), 1)}
    tasks = []
    for task_id, r in enumerate(rows, 1):
        annotations: list[Row] = []
        predictions: list[Row] = []
        for seq, who, kind, when, label, spent in zip(
            r["answers"],
            r["labelers"],
            r["labeler_kinds"],
            r["answered_at"],
            r["answer_labels"],
            r["time_spent_ms"],
            strict=True,
        ):
            if kind in PERSON_KINDS:
                annotations.append(
                    {
                        "completed_by": numbers[who],
                        "created_at": when,
                        "ground_truth": False,
                        "id": seq,
                        "lead_time": None if spent is None else spent / 1000,
                        "result": _ls_result(seq, label),
                        "task": task_id,
                        "updated_at": when,
                        "was_cancelled": False,
                    }
                )
            else:
                predictions.append(
                    {
                        "created_at": when,
                        "id": seq,
                        "model_version": who,
                        "result": _ls_result(seq, label),
                        "score": None,
                        "task": task_id,
                    }
                )
        if r["source"] == "aggregate":
            predictions.append(
                {
                    "id": None,
                    "model_version": f"labelloop:{r['method']}",
                    "result": _ls_result(0, r["label"]),
                    "score": r["confidence"],
                    "task": task_id,
                }
            )
        else:
            annotations.append(
                {
                    "completed_by": None,
                    "ground_truth": True,
                    "id": r["event_seq"],
                    "lead_time": None,
                    "result": _ls_result(r["event_seq"], r["label"]),
                    "task": task_id,
                    "was_cancelled": False,
                }
            )
        meta = {
            c: r[c]
            for c in ("confidence", "soft_label", "source", "method", "schema_version", "split")
        }
        meta["labelers"] = {str(numbers[k]): k for k in r["labelers"]}
        tasks.append(
            {
                "annotations": annotations,
                "data": {"item": r["item"]},
                "id": task_id,
                "meta": {"labelloop": meta},
                "predictions": predictions,
            }
        )
    return tasks


def write_label_studio(path: Path, rows: Sequence[Row]) -> None:
    """A JSON array of :func:`label_studio_tasks`, one canonical task per line."""
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("[\n")
        for i, task in enumerate(label_studio_tasks(rows)):
            fh.write(("," if i else "") + canonical_json(task) + "\n")
        fh.write("]\n")


class JsonlExporter:
    """A release's labels as JSON Lines (registered as ``jsonl.v1``)."""

    file_name: ClassVar[str] = "labels.jsonl"

    def write(self, path: Path, rows: Sequence[Row]) -> None:
        write_jsonl(path, rows)


class CsvExporter:
    """A release's labels as CSV (registered as ``csv.v1``)."""

    file_name: ClassVar[str] = "labels.csv"

    def write(self, path: Path, rows: Sequence[Row]) -> None:
        write_csv(path, rows)


class ParquetExporter:
    """A release's labels as one Parquet file, zstd (registered as ``parquet.v1``)."""

    file_name: ClassVar[str] = "labels.parquet"

    def write(self, path: Path, rows: Sequence[Row]) -> None:
        write_parquet(path, rows)


class HfExporter:
    """A release's labels as a Hugging Face dataset folder (registered as ``hf.v1``)."""

    file_name: ClassVar[str] = "data-00000-of-00001.arrow"

    def write(self, path: Path, rows: Sequence[Row]) -> None:
        write_hf(path, rows)


class LabelStudioExporter:
    """A release's labels as Label Studio JSON tasks (registered as ``label_studio.v1``)."""

    file_name: ClassVar[str] = "tasks.json"

    def write(self, path: Path, rows: Sequence[Row]) -> None:
        write_label_studio(path, rows)
