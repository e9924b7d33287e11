"""`labelloop agreement`: inter-annotator agreement of a crowd answers file, with bands."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from labelloop.cli import app

if TYPE_CHECKING:
    from labelloop.core.agreement import AgreementResult
    from labelloop.core.disagreement import SchemaGapReport
    from labelloop.formats.answers_csv import AnswerTable

_HELP = """Measure inter-annotator agreement of ANSWERS.csv (worker,task,label).

Reports percent agreement, mean pairwise Cohen's kappa, Fleiss' kappa and Krippendorff's
alpha (--level nominal|ordinal|interval), each with a bootstrap percentile interval over
tasks, and one-vs-rest alpha per label. Bands: > 0.8 excellent, 0.6-0.8 good, 0.4-0.6
workable, < 0.4 the schema is broken. Repeated answers of one worker on one task count once
(the LAST in file order, or --keep first). Tasks with a single answer cannot show agreement:
they are excluded and reported. --report adds the schema gap report: the label pairs
confused most, the most ambiguous tasks and the workers who deviate most from the group.
"""

_BAND_STYLE = {
    "excellent": "bold green",
    "good": "green",
    "workable": "yellow",
    "broken": "bold red",
    "undefined": "dim",
}


@app.command("agreement", help=_HELP, rich_help_panel="Adjudicate")
def agreement(
    answers: Path = typer.Argument(
        ..., help="ANSWERS.csv (worker,task,label).", show_default=False
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    n_boot: int = typer.Option(1000, "--n-boot", min=0, help="Bootstrap replicates (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    level: str = typer.Option(
        "nominal",
        "--level",
        help="Krippendorff's alpha metric: nominal, ordinal (label order) or interval "
        "(numeric labels).",
    ),
    report: bool = typer.Option(False, "--report", help="Add the schema gap report."),
    min_pair_items: int = typer.Option(
        20, "--min-pair-items", min=1, help="Tasks two workers must share for Cohen's kappa."
    ),
    confidence: float = typer.Option(0.95, "--confidence", help="Interval coverage."),
    keep: str = typer.Option("last", "--keep", help="Repeated answers: keep last or first."),
    top: int = typer.Option(5, "--top", min=1, help="Entries per report section."),
) -> None:
    summary, gap, table = _compute(
        answers, n_boot, seed, level, report, min_pair_items, confidence, keep, top
    )
    excluded = summary["excluded_items"]
    if excluded["count"]:
        typer.echo(
            f"warning: {excluded['count']} of {summary['n_tasks']} task(s) have a single answer "
            f"and are excluded (e.g. {excluded['examples'][0]!r})",
            err=True,
        )
    if as_json:
        import json

        typer.echo(json.dumps(summary, allow_nan=False))
        return
    _print_human(summary, gap, table)


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
    import numpy as np

    from labelloop.errors import InvalidInput

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


def _compute(
    path: Path,
    n_boot: int,
    seed: int,
    level: str,
    report: bool,
    min_pair_items: int,
    confidence: float,
    keep: str,
    top: int,
) -> tuple[dict[str, Any], SchemaGapReport | None, AnswerTable]:
    import numpy as np

    from labelloop.core import agreement as ag
    from labelloop.core.disagreement import schema_gap_report
    from labelloop.errors import InvalidInput
    from labelloop.formats.answers_csv import read_answers_csv

    if level not in ag.LEVELS:
        raise InvalidInput(f"--level {level!r}: expected one of {list(ag.LEVELS)}")
    if keep not in ("last", "first"):
        raise InvalidInput(f"--keep {keep!r}: expected 'last' or 'first'")
    if not 0.0 < confidence < 1.0:
        raise InvalidInput(f"--confidence {confidence}: expected a number between 0 and 1")

    table = read_answers_csv(path)
    raw = table.answers
    ans = raw.deduplicate(keep="last" if keep == "last" else "first")
    per_item = ans.answers_per_item()
    single = np.flatnonzero(per_item == 1)
    if not np.any(per_item >= 2):
        first = int(single[0]) if single.size else 0
        line = int(np.argmax(raw.item == first)) + 2
        raise InvalidInput(
            f"no task has two or more answers: all {ans.n_items} task(s) have a single answer "
            f"(e.g. task {table.item_ids[first]!r}, line {line}); agreement compares workers "
            "on the same task, so at least one task needs answers from two workers",
            source=str(path),
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
        "file": str(path),
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
                "worker": table.labeler_ids[int(w)],
                "deviation": float(dev),
                "n_answers": int(n),
                "worst_label": labels[int(kc)],
                "over_given": labels[int(og)],
                "given_rate": float(r_w),
                "group_rate": float(r_g),
            }
            for w, dev, n, kc, og, r_w, r_g in zip(
                d.labelers,
                d.deviation,
                d.n_answers,
                d.worst_class,
                d.over_given,
                d.given_rate,
                d.group_rate,
                strict=True,
            )
        ],
    }


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _print_human(summary: dict[str, Any], gap: SchemaGapReport | None, table: AnswerTable) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    def banded(band: str | None) -> Text:
        return Text(band or "-", style=_BAND_STYLE.get(band or "", ""))

    console = Console(highlight=False)
    pct = f"{summary['confidence']:.0%}"
    head = Table(
        title=(
            f"Agreement: {summary['n_items']} tasks with >= 2 answers, {summary['n_workers']} "
            f"workers, {summary['n_answers_used']} answers"
        ),
        title_justify="left",
    )
    head.add_column("metric")
    head.add_column("value", justify="right")
    head.add_column(f"{pct} CI", justify="right")
    head.add_column("band")
    rows = [
        ("percent agreement", "percent_agreement"),
        (
            f"Cohen's kappa (mean of {summary['cohen_kappa_mean']['n_pairs']} pairs)",
            "cohen_kappa_mean",
        ),
        ("Fleiss' kappa", "fleiss_kappa"),
        (f"Krippendorff's alpha ({summary['level']})", "krippendorff_alpha"),
    ]
    for title, key in rows:
        rec = summary[key]
        band = rec["band"]
        ci = "-" if rec["ci_low"] is None else f"[{_fmt(rec['ci_low'])}, {_fmt(rec['ci_high'])}]"
        head.add_row(Text(title), Text(_fmt(rec["value"])), Text(ci), banded(band))
    console.print(head)

    per = Table(title="One-vs-rest alpha per label", title_justify="left")
    per.add_column("label")
    per.add_column("alpha", justify="right")
    per.add_column(f"{pct} CI", justify="right")
    per.add_column("answers", justify="right")
    per.add_column("band")
    for rec in summary["per_label"]:
        ci = "-" if rec["ci_low"] is None else f"[{_fmt(rec['ci_low'])}, {_fmt(rec['ci_high'])}]"
        per.add_row(
            Text(rec["label"]),
            Text(_fmt(rec["alpha"])),
            Text(ci),
            Text(str(rec["n_answers"])),
            banded(rec["band"]),
        )
    console.print(per)
    notes = [
        "bands: > 0.8 excellent, 0.6-0.8 good, 0.4-0.6 workable, < 0.4 the schema is broken",
    ]
    if summary["duplicates_dropped"]:
        notes.append(
            f"{summary['duplicates_dropped']} repeated answer(s) dropped (kept the {summary['keep']})"
        )
    if summary["excluded_items"]["count"]:
        notes.append(f"{summary['excluded_items']['count']} single-answer task(s) excluded")
    if len(summary["labels"]) < 2:
        notes.append("only one label seen: chance-corrected coefficients are undefined")
    if summary["cohen_kappa_mean"]["n_pairs"] == 0:
        notes.append(
            f"no pair of workers shares {summary['cohen_kappa_mean']['min_pair_items']} or more "
            "tasks: Cohen's kappa needs a lower --min-pair-items"
        )
    for note in notes:
        typer.echo(note)
    if gap is not None:
        typer.echo("")
        typer.echo(gap.to_text(item_ids=table.item_ids, labeler_ids=table.labeler_ids))
