"""`labelloop audit drift`: sequential tests for annotator drift, alerts as project events."""

from __future__ import annotations

from typing import Annotated

import typer

from labelloop.cli import app
from labelloop.cli._common import JsonOpt, ProjectOpt, open_workspace, print_json

audit_app = typer.Typer(
    help="Audit labels: annotator drift (more audits to come).", no_args_is_help=True
)
app.add_typer(audit_app, name="audit", rich_help_panel="Audit")


@audit_app.command("drift")
def audit_drift_cmd(
    project: ProjectOpt = None,
    warmup: Annotated[
        int, typer.Option("--warmup", min=1, help="Answers per labeler for its baseline.")
    ] = 150,
    shift: Annotated[
        float, typer.Option("--shift", help="Accuracy drop the test is tuned to detect.")
    ] = 0.25,
    alpha: Annotated[
        float, typer.Option("--alpha", help="False-alarm probability over all labelers.")
    ] = 0.05,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the threshold simulation.")] = 0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report without recording alert events.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Test each labeler's answers, in order, for a drop in accuracy (gold and agreement
    with the others' majority, Bernoulli CUSUM, family-wise false-alarm rate ALPHA); each
    alarm becomes an `alert` event with its evidence."""
    from labelloop.service.audit.drift import drift_project

    with open_workspace() as ws:
        report = drift_project(
            ws.store,
            project,
            warmup=warmup,
            shift=shift,
            alpha=alpha,
            seed=seed,
            record=not dry_run,
        )
    if as_json:
        print_json(report.as_dict())
        return
    typer.echo(
        f"{report.project}: {report.answers:,} answers, {report.labelers_tested} labelers "
        f"tested (more than {warmup} checked answers), {report.gold_items:,} gold items"
    )
    if not report.alerts:
        typer.echo("no drift found")
    for a in report.alerts:
        typer.echo(f"ALERT {a['summary']}")
    if report.alerts:
        typer.echo(f"{report.events_added} alert event(s) recorded")
