"""Stateless truth inference on files: `labelloop aggregate ANSWERS.csv --out OUT.csv`.

For teams arriving with crowd answers in files. Nothing touches a database; imports stay
light (numpy, pyarrow, the core) so that the whole process starts fast.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.core.aggregate import make_aggregator, resolve_name
from labelloop.core.answers import ABSTAIN, LabelSpace
from labelloop.errors import InvalidInput
from labelloop.formats.answers import read_answers, read_gold, write_labels_csv


def aggregate_file(
    answers_path: Path,
    *,
    method: str,
    out: Path | None,
    params: dict[str, Any] | None = None,
    gold_path: Path | None = None,
    clamp_gold: bool = False,
    labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Fit ``method`` on ``worker,task,label`` rows and write ``task,label,confidence``.

    A worker's last answer on a task counts. Gold (``task,label``) scores the result and
    is used for fitting only with ``clamp_gold``. Returns the summary (``seconds`` is the
    fit time); without ``out`` the summary's ``results`` holds the rows instead (``label``
    None where no label was inferred).
    """
    name = resolve_name(method)  # an unknown method fails before any reading
    aggregator = make_aggregator(name, **(params or {}))
    space = None
    if labels is not None:
        try:
            space = LabelSpace(tuple(labels))
        except ValueError as exc:
            raise InvalidInput(f"--labels: {exc}") from None
    table = read_answers(answers_path, label_space=space)
    raw = table.answers
    ans = raw.deduplicate(keep="last")
    single = np.flatnonzero(ans.answers_per_item() == 1)

    gold_codes = None
    n_gold_listed = 0
    if gold_path is not None:
        gold_map = read_gold(gold_path)
        n_gold_listed = len(gold_map)
        index = {task: i for i, task in enumerate(table.item_ids)}
        gold_codes = np.full(ans.n_items, ABSTAIN, dtype=np.int64)
        for task, lab in gold_map.items():
            i = index.get(task)
            if i is None:
                continue
            if lab not in table.label_space:
                raise InvalidInput(
                    f"gold label {lab!r} of task {task!r} is not in the label set "
                    f"{list(table.label_space.labels)}",
                    source=str(gold_path),
                )
            gold_codes[i] = table.label_space.code(lab)

    start = time.perf_counter()
    aggregator.fit(ans, gold_codes if clamp_gold else None)
    seconds = time.perf_counter() - start

    labels_out = aggregator.labels_
    conf = aggregator.probas_[np.arange(ans.n_items), np.maximum(labels_out, 0)]
    if out is not None:
        write_labels_csv(out, table.item_ids, table.label_space.labels, labels_out, conf)

    summary: dict[str, Any] = {
        "method": name,
        "params": aggregator.params(),
        "iterations": int(aggregator.n_iter_),
        "converged": bool(aggregator.converged_),
        "seconds": round(seconds, 6),
        "log_likelihood": aggregator.log_likelihood_,
        "n_answers": len(raw),
        "n_answers_used": len(ans),
        "duplicates_dropped": len(raw) - len(ans),
        "n_tasks": ans.n_items,
        "n_workers": ans.n_labelers,
        "labels": list(table.label_space.labels),
        "single_answer_tasks": int(single.size),
        "single_answer_example": table.item_ids[int(single[0])] if single.size else None,
        "out": None if out is None else str(out),
    }
    if out is None:
        names = table.label_space.labels
        summary["results"] = [
            {
                "task": task,
                "label": None if code < 0 else names[code],
                "confidence": round(float(c), 6),
            }
            for task, code, c in zip(table.item_ids, labels_out.tolist(), conf, strict=True)
        ]
    if gold_codes is not None:
        known = gold_codes != ABSTAIN
        n = int(known.sum())
        acc = float((labels_out[known] == gold_codes[known]).mean()) if n else None
        summary["accuracy"] = acc
        summary["gold"] = {
            "listed": n_gold_listed,
            "tasks_scored": n,
            "accuracy": acc,
            "clamped": clamp_gold,
        }
    return summary
