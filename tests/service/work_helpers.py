"""A project people can work in: a schema with worked examples (calibration gold), items,
optional gold, and helpers that answer tasks the way a given person would."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labelloop.service.annotate.submit import Submission, submit
from labelloop.service.annotate.work import next_task
from labelloop.service.project.schemas import apply_schema_file
from labelloop.service.source.imports import import_gold, import_items

LABELS = ("yes", "no")


def example_text(i: int) -> str:
    return f"worked example {i}"


def example_label(i: int) -> str:
    return LABELS[i % 2]


def make_project(
    store: Any,
    tmp_path: Path,
    *,
    items: dict[str, str],
    gold: dict[str, str] | None = None,
    examples: int = 20,
    labels: tuple[str, ...] = LABELS,
) -> dict[str, str]:
    """Apply a schema (``examples`` worked examples), import ``items`` (key -> text) and
    ``gold`` (key -> label). Returns the truth by item text (examples included)."""
    lines = [
        "name: work",
        'version: "1"',
        "task: single_label",
        "inputs:",
        "  - name: text",
        "    type: text",
        "labels:",
        *[f"  - {{name: '{label}', description: the {label} class}}" for label in labels],
        "examples:",
    ]
    for i in range(examples):
        lines += [
            f"  - input: {{text: '{example_text(i)}'}}",
            f"    label: '{labels[i % len(labels)]}'",
            "    rationale: worked example",
        ]
    path = tmp_path / "schema.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    apply_schema_file(store, None, path)
    with open(tmp_path / "items.jsonl", "w", encoding="utf-8") as fh:
        for key, text in items.items():
            fh.write(json.dumps({"id": key, "text": text}) + "\n")
    import_items(store, None, tmp_path / "items.jsonl")
    if gold:
        with open(tmp_path / "gold.csv", "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["task", "label"])
            writer.writerows(gold.items())
        import_gold(store, None, tmp_path / "gold.csv")
    truth = {example_text(i): labels[i % len(labels)] for i in range(examples)}
    truth.update({items[k]: v for k, v in (gold or {}).items()})
    return truth


def work(
    store: Any,
    person: int,
    answer: Callable[[str], str | None],
    *,
    limit: int = 10_000,
    prefix: str = "k",
) -> list[tuple[str, str, str | None]]:
    """Let ``person`` take and answer tasks until none is left (or ``limit``); returns
    (assignment, text, label given) per task. ``answer`` returning None skips the task."""
    done = []
    for n in range(limit):
        task = next_task(store, None, person)
        if task is None:
            break
        text = task.data["text"]
        label = answer(text)
        submit(
            store,
            None,
            Submission(
                person,
                task.assignment,
                f"{prefix}{n}",
                label=label,
                skip=None if label is not None else "cannot_tell",
                time_spent_ms=1200,
            ),
        )
        done.append((task.assignment, text, label))
    return done


def calibrate(store: Any, person: int, truth: dict[str, str]) -> int:
    """Answer the calibration set right; returns how many tasks that took."""
    from labelloop.service.annotate.work import people_status

    n = 0
    while True:
        stage = {p["labeler_id"]: p["stage"] for p in people_status(store, None)}.get(person)
        if stage == "production":
            return n
        task = next_task(store, None, person)
        assert task is not None, "calibration ran out of items"
        submit(
            store,
            None,
            Submission(person, task.assignment, f"cal{n}", label=truth[task.data["text"]]),
        )
        n += 1
