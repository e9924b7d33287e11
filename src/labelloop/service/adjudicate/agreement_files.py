"""Agreement on files: `labelloop agreement ANSWERS.csv` (no database involved)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.core import agreement as ag
from labelloop.core.agreement import AgreementResult
from labelloop.core.disagreement import SchemaGapReport, schema_gap_report
from labelloop.errors import InvalidInput
from labelloop.formats.answers import AnswerTable, read_answers


def _num(x: float) -> float | None:
    """JSON-safe float: NaN/inf become null."""
    return float(x) if math.isfinite(x) else None


def _record(result: AgreementResult) -> dict[str, Any]:
    return {
        "value": _num(result.value),
        "ci_low": _num(result.ci_low),
        "ci_high": _num(result.ci_high),
        "n_items": result.n_items,
        "band": result.band,
    }


def _class_values(table: AnswerTable, level: str) -> Any:
    labels = table.label_space.labels
    if level == "nominal":
        return None
    try:
        return np.asarray([float(x) for x in labels], dtype=np.float64)
    except ValueError:
        if level == "interval":
            bad = next(x for x in labels if not _is_number(x))
            raise InvalidInput(
                f"--level interval needs numeric labels; label {bad!r} is not a number "
                f"(labels seen: {list(labels)[:10]})"
            ) from None
        return None  # ordinal on names: the natural order of the label set


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def agreement_file(
    path: Path,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: str = "nominal",
    report: bool = False,
    min_pair_items: int = 20,
    confidence: float = 0.95,
    keep: str = "last",
    top: int = 5,
) -> tuple[dict[str, Any], SchemaGapReport | None, AnswerTable]:
    """Agreement of a ``worker,task,label`` file: (JSON-ready summary, gap report, table)."""
    _check_options(level, keep, confidence)
    table = read_answers(path)
    return agreement_of(
        table,
        {"file": str(path)},
        n_boot=n_boot,
        seed=seed,
        level=level,
        report=report,
        min_pair_items=min_pair_items,
        confidence=confidence,
        keep=keep,
        top=top,
        where=lambda row: f"line {row + 2}",
        source=str(path),
    )


def _check_options(level: str, keep: str, confidence: float) -> None:
    if level not in ag.LEVELS:
        raise InvalidInput(f"--level {level!r}: expected one of {list(ag.LEVELS)}")
    if keep not in ("last", "first"):
        raise InvalidInput(f"--keep {keep!r}: expected 'last' or 'first'")
    if not 0.0 < confidence < 1.0:
        raise InvalidInput(f"--confidence {confidence}: expected a number between 0 and 1")


def agreement_of(
    table: AnswerTable,
    head: dict[str, Any],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: str = "nominal",
    report: bool = False,
    min_pair_items: int = 20,
    confidence: float = 0.95,
    keep: str = "last",
    top: int = 5,
    where: Callable[[int], str] = lambda row: f"answer {row + 1}",
    source: str | None = None,
) -> tuple[dict[str, Any], SchemaGapReport | None, AnswerTable]:
    """Agreement of answers in ``table`` (rows in the order given; ``keep`` picks the first
    or last of a worker's repeated answers); the summary starts with ``head``."""
    _check_options(level, keep, confidence)
    raw = table.answers
    ans = raw.deduplicate(keep="last" if keep == "last" else "first")
    per_item = ans.answers_per_item()
    single = np.flatnonzero(per_item == 1)
    if not np.any(per_item >= 2):
        first = int(single[0]) if single.size else 0
        row = int(np.argmax(raw.item == first))
        raise InvalidInput(
            f"no task has two or more answers: all {ans.n_items} task(s) have a single answer "
            f"(e.g. task {table.item_ids[first]!r}, {where(row)}); agreement compares workers "
            "on the same task, so at least one task needs answers from two workers",
            source=source,
        )
    values = _class_values(table, level)
    lvl: ag.Level = (
        "nominal" if level == "nominal" else "ordinal" if level == "ordinal" else "interval"
    )
    opts: dict[str, Any] = {"n_boot": n_boot, "confidence": confidence, "random_state": seed}

    pa_res = ag.percent_agreement(ans, **opts)
    fleiss = ag.fleiss_kappa(ans, **opts)
    alpha = ag.krippendorff_alpha(ans, level=lvl, values=values, **opts)
    cohen = ag.cohen_kappa_mean(ans, min_items=min_pair_items, **opts)
    pairs = ag.cohen_kappa_pairs(ans, min_items=min_pair_items)
    per_label = ag.agreement_per_label(ans, **opts)

    labels = list(table.label_space.labels)
    summary: dict[str, Any] = {
        **head,
        "n_answers": len(raw),
        "n_answers_used": int(per_item[per_item >= 2].sum()),
        "duplicates_dropped": len(raw) - len(ans),
        "keep": keep,
        "n_tasks": ans.n_items,
        "n_items": int(np.count_nonzero(per_item >= 2)),
        "n_workers": ans.n_labelers,
        "labels": labels,
        "level": level,
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        "percent_agreement": _record(pa_res),
        "cohen_kappa_mean": {
            **_record(cohen),
            "n_pairs": len(pairs),
            "n_pairs_undefined": int(np.count_nonzero(~np.isfinite(pairs.kappa))),
            "min_pair_items": min_pair_items,
        },
        "fleiss_kappa": _record(fleiss),
        "krippendorff_alpha": {**_record(alpha), "level": level},
        "band": alpha.band,
        "excluded_items": {
            "count": int(single.size),
            "reason": "single answer",
            "examples": [table.item_ids[int(i)] for i in single[:5]],
        },
        "per_label": [
            {
                "label": labels[c],
                "alpha": _num(float(per_label.alpha[c])),
                "ci_low": _num(float(per_label.ci_low[c])),
                "ci_high": _num(float(per_label.ci_high[c])),
                "n_answers": int(per_label.n_values[c]),
                "band": per_label.bands[c],
            }
            for c in range(len(labels))
        ],
    }
    gap = None
    if report:
        gap = schema_gap_report(ans, labels=labels, top=top)
        summary["report"] = _report_json(gap, table, labels)
    return summary, gap, table


def _report_json(gap: SchemaGapReport, table: AnswerTable, labels: list[str]) -> dict[str, Any]:
    u, d = gap.uncertain_items, gap.deviant_labelers
    return {
        "confused_pairs": [
            {
                "labels": [labels[p.class_a], labels[p.class_b]],
                "share": p.share,
                "ratio_to_chance": _num(p.ratio_to_chance),
                "excess": p.excess,
                "coincidences": p.coincidences,
            }
            for p in gap.confused_pairs
        ],
        "uncertain_items": [
            {
                "task": table.item_ids[int(i)],
                "entropy": float(h),
                "votes": {labels[c]: int(v[c]) for c in range(len(labels)) if v[c] > 0},
            }
            for i, h, v in zip(u.items, u.entropy, u.votes, strict=True)
        ],
        "deviant_labelers": [
            {
                "worker": table.labeler_ids[r.labeler],
                "deviation": r.deviation,
                "n_answers": r.n_answers,
                "worst_label": labels[r.worst_class],
                "over_given": labels[r.over_given],
                "given_rate": r.given_rate,
                "group_rate": r.group_rate,
            }
            for r in d.rows()
        ],
    }
