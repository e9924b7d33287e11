"""`labelloop events`: export a project's provenance chain as JSONL, import one elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labelloop.cli import app
from labelloop.cli._common import JsonOpt, ProjectOpt, open_workspace, print_json

events_app = typer.Typer(
    help="Export the provenance chain as a portable JSONL file, or import one.",
    no_args_is_help=True,
)
app.add_typer(events_app, name="events", rich_help_panel="Workspace")


@events_app.command("export")
def events_export(
    path: Annotated[Path, typer.Argument(help="JSONL file to write (replaced if present).")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the chain: a header line, then one event per line with its hash fields.

    `labelloop verify --events FILE` checks the file on any machine, without a database.
    """
    from labelloop.service.audit.events import export_events

    with open_workspace() as ws:
        report = export_events(ws.store, project, path)
    if as_json:
        print_json(report.as_dict())
        return
    typer.echo(
        f"{report.events:,} events of project {report.project!r} -> {report.path} "
        f"(head {report.head_hash[:12]})"
    )


@events_app.command("import")
def events_import(
    path: Annotated[Path, typer.Argument(help="JSONL file written by `labelloop events export`.")],
    as_json: JsonOpt = False,
) -> None:
    """Replay an exported chain into its project (created if missing; it must have no events).

    The file must verify; items are created as id-only stubs by key, labelers and schema
    versions as needed. The imported chain ends in the file's head hash.
    """
    from labelloop.service.audit.events import import_events

    with open_workspace() as ws:
        report = import_events(ws.store, path)
    if as_json:
        print_json(report.as_dict())
        return
    typer.echo(
        f"{report.events:,} events imported into project {report.project!r} "
        f"(head {report.head_hash[:12]}; {report.items_created:,} id-only items created)"
    )
