"""`labelloop agreement`: inter-annotator agreement of a crowd answers file, with bands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from labelloop.cli import app

if TYPE_CHECKING:
    from labelloop.core.disagreement import SchemaGapReport
    from labelloop.formats.answers import AnswerTable

_HELP = """Measure inter-annotator agreement of ANSWERS (CSV or JSONL: worker,task,label), or
without a file of the workspace project's answers (its labelers as workers, --kind to choose).

Reports percent agreement, mean pairwise Cohen's kappa, Fleiss' kappa and Krippendorff's
alpha (--level nominal|ordinal|interval), each with a bootstrap percentile interval over
tasks, and one-vs-rest alpha per label. A multi-label project reports Krippendorff's alpha
with the MASI set distance, exact-set agreement, and Fleiss' and Cohen's kappa per label. Bands: > 0.8 excellent, 0.6-0.8 good, 0.4-0.6
workable, < 0.4 the schema is broken. Repeated answers of one worker on one task count once
(the LAST in file order, the latest in a project; or --keep first). Tasks with a single
answer cannot show agreement: they are excluded and reported. --report adds the schema gap
report: the label pairs confused most, the most ambiguous tasks and the workers who deviate
most from the group.
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
    answers: Path | None = typer.Argument(
        None,
        help="ANSWERS.csv or .jsonl (worker,task,label). Omit for the project's answers.",
        show_default=False,
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
    project: str | None = typer.Option(
        None, "--project", help="Project mode: project name (optional while there is one)."
    ),
    kind: list[str] = typer.Option(
        [],
        "--kind",
        help="Project mode: only answers of labelers of this kind (human, expert, model, "
        "llm, rule; repeatable). Default: all.",
    ),
) -> None:
    options: dict[str, Any] = dict(
        n_boot=n_boot,
        seed=seed,
        level=level,
        report=report,
        min_pair_items=min_pair_items,
        confidence=confidence,
        keep=keep,
        top=top,
    )
    if answers is None:
        from labelloop.cli._common import open_workspace
        from labelloop.service.adjudicate.agreement import agreement_project

        with open_workspace() as ws:
            summary, gap, table = agreement_project(ws.store, project, kinds=kind, **options)
    else:
        from labelloop.errors import InvalidInput
        from labelloop.service.adjudicate.agreement_files import agreement_file

        for name, value in (("--project", project), ("--kind", kind or None)):
            if value is not None:
                raise InvalidInput(f"{name} is for project mode (no ANSWERS file)")
        summary, gap, table = agreement_file(answers, **options)
    excluded = summary["excluded_items"]
    if excluded["count"]:
        typer.echo(
            f"warning: {excluded['count']} of {summary['n_tasks']} task(s) have a single answer "
            f"and are excluded (e.g. {excluded['examples'][0]!r})",
            err=True,
        )
    if summary.get("skipped_answers"):
        typer.echo(
            f"warning: {summary['skipped_answers']} answer(s) carry labels that are not in "
            f"schema {summary['schema_version']} (made under an earlier version) and were "
            "left out",
            err=True,
        )
    if as_json:
        import json

        typer.echo(json.dumps(summary, allow_nan=False))
        return
    if summary.get("task") == "multi_label":
        _print_sets(summary)
        return
    _print_human(summary, gap, table)


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _banded(band: str | None) -> Any:
    from rich.text import Text

    return Text(band or "-", style=_BAND_STYLE.get(band or "", ""))


def _print_human(summary: dict[str, Any], gap: SchemaGapReport | None, table: AnswerTable) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    banded = _banded
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


def _print_sets(summary: dict[str, Any]) -> None:
    """Multi-label agreement: alpha (MASI), exact-set agreement, kappa per label."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    def ci(rec: dict[str, Any]) -> str:
        return "-" if rec["ci_low"] is None else f"[{_fmt(rec['ci_low'])}, {_fmt(rec['ci_high'])}]"

    banded = _banded
    console = Console(highlight=False)
    pct = f"{summary['confidence']:.0%}"
    head = Table(
        title=(
            f"Agreement on label sets: {summary['n_items']} items with >= 2 answers, "
            f"{summary['n_workers']} labelers, {summary['n_answers_used']} answers"
        ),
        title_justify="left",
    )
    for column in ("metric", "value", f"{pct} CI", "band"):
        head.add_column(column, justify="left" if column in ("metric", "band") else "right")
    for title, key in (
        ("exact-set agreement", "exact_set_agreement"),
        ("Krippendorff's alpha (MASI distance)", "krippendorff_alpha"),
    ):
        rec = summary[key]
        head.add_row(Text(title), Text(_fmt(rec["value"])), Text(ci(rec)), banded(rec["band"]))
    console.print(head)
    per = Table(title="Per label (present / absent)", title_justify="left")
    for column in ("label", "share given", "Fleiss' kappa", f"{pct} CI", "Cohen's kappa (mean)"):
        per.add_column(column, justify="left" if column == "label" else "right")
    per.add_column("band")
    for rec in summary["per_label"]:
        fleiss, cohen = rec["fleiss_kappa"], rec["cohen_kappa_mean"]
        per.add_row(
            Text(rec["label"]),
            Text(_fmt(rec["prevalence"])),
            Text(_fmt(fleiss["value"])),
            Text(ci(fleiss)),
            Text(_fmt(cohen["value"])),
            banded(fleiss["band"]),
        )
    console.print(per)
    typer.echo("bands: > 0.8 excellent, 0.6-0.8 good, 0.4-0.6 workable, < 0.4 the schema is broken")
