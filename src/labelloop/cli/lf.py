"""`labelloop lf apply|report`: labeling functions as labelers of kind `rule`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labelloop.cli import app
from labelloop.cli._common import JsonOpt, ProjectOpt, open_workspace, print_json, progress_bar

lf_app = typer.Typer(
    help="Labeling functions: apply a Python module of @labeling_function()s, analyse them.",
    no_args_is_help=True,
)
app.add_typer(lf_app, name="lf", rich_help_panel="Annotate")

SHOWN_FAILURES = 10


@lf_app.command("apply")
def lf_apply_cmd(
    module: Annotated[
        Path, typer.Argument(help="Python file defining @labeling_function() rules.")
    ],
    field: Annotated[
        str,
        typer.Option(
            "--field", help="Item field passed to each LF ('' = the whole item as a dict)."
        ),
    ] = "text",
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", min=1, help="Worker processes (default: the machine's cores)."),
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply every LF in MODULE to the project's items; votes become answer events.

    Each LF is a labeler of kind rule whose version is the hash of its source.

    Re-running unchanged LFs adds nothing; a changed LF adds its votes as a new version.

    An LF that raises on an item is reported (item and exception); the rest goes on.
    """
    from labelloop.service.annotate.lf import apply_lf_module

    with open_workspace() as ws, progress_bar("applying labeling functions") as progress:
        report = apply_lf_module(
            ws.store,
            project,
            module,
            text_field=field or None,
            n_jobs=jobs,
            progress=progress,
        )
    if as_json:
        print_json(report.as_dict())
        return
    typer.echo(
        f"{len(report.lfs)} labeling functions on {report.items:,} items in "
        f"{report.seconds:.2f}s: {report.events_added:,} new answer events"
    )
    for lf in report.lfs:
        fails = f", {lf.failures} failed" if lf.failures else ""
        typer.echo(f"  {lf.name:<28} {lf.version}  {lf.votes:>8,} votes{fails}")
    if report.skipped_without_input:
        typer.echo(f"{report.skipped_without_input:,} items without field {field!r} skipped")
    if report.n_failures:
        typer.echo(f"{report.n_failures:,} LF calls raised; first ones:", err=True)
        for f in report.failures[:SHOWN_FAILURES]:
            typer.echo(f"  {f['lf']} on item {f['item']}: {f['error']}", err=True)


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


@lf_app.command("report")
def lf_report_cmd(
    project: ProjectOpt = None,
    field: Annotated[
        str, typer.Option("--field", help="Item text field for the end model.")
    ] = "text",
    no_end_model: Annotated[
        bool, typer.Option("--no-end-model", help="Skip training the end model.")
    ] = False,
    class_balance: Annotated[
        str,
        typer.Option(
            "--class-balance",
            help="Label model class prior: estimate, uniform, or gold (shares of gold labels).",
        ),
    ] = "estimate",
    no_gold: Annotated[
        bool,
        typer.Option(
            "--no-gold",
            help="Fit the label model on LF votes alone (default: gold items are clamped).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Per LF: polarity, coverage, overlap, conflict, gold accuracy, label-model accuracy.

    Also the accuracy on gold items of the label model, majority vote and an end model.
    """
    from labelloop.service.annotate.lf import lf_report

    with open_workspace() as ws:
        report = lf_report(
            ws.store,
            project,
            text_field=field,
            end_model=not no_end_model,
            class_balance=class_balance,
            use_gold=not no_gold,
        )
    if as_json:
        print_json(report.as_dict())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"labeling functions of {report.project!r} ({report.items:,} items)")
    for col in ("LF", "polarity", "votes", "coverage", "overlap", "conflict", "gold n"):
        table.add_column(col, justify="left" if col in ("LF", "polarity") else "right")
    table.add_column("gold acc", justify="right")
    table.add_column("est. acc", justify="right")
    for s in report.lfs:
        table.add_row(
            s.name,
            ",".join(s.polarity),
            f"{s.votes:,}",
            _fmt(s.coverage),
            _fmt(s.overlap),
            _fmt(s.conflict),
            f"{s.gold_votes:,}",
            _fmt(s.gold_accuracy),
            _fmt(s.estimated_accuracy),
        )
    Console(width=140).print(table)
    lm = report.label_model
    typer.echo(
        f"coverage {report.coverage:.3f}; gold items {report.gold_items:,}; "
        f"label model ({lm['method']}{', gold clamped, 2-fold' if lm['gold_clamped'] else ''}) "
        f"gold accuracy {_fmt(lm['gold_accuracy'])} "
        f"(covered items {_fmt(lm['gold_accuracy_covered'])}); majority vote on covered "
        f"items {_fmt(report.majority_vote_gold_accuracy)}"
    )
    if report.end_model is not None:
        em = report.end_model
        typer.echo(
            f"end model {em['model']}: gold accuracy {_fmt(em['gold_accuracy'])} "
            f"(trained on {em['trained_on']:,} label-model labels)"
        )
