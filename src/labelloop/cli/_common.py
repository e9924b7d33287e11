"""Options and helpers shared by the command modules."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

ProjectOpt = Annotated[
    str | None,
    typer.Option("--project", help="Project name (optional while the workspace has one project)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def err_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int], None]]:
    """Rich progress on stderr (row counter; total unknown while streaming)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = err_console()
    if not console.is_terminal:  # no bar (and no stray blank line) in pipes, logs and CI
        yield lambda n: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)
        yield lambda n: bar.update(task, completed=n)


def open_workspace() -> Any:
    """The workspace at or above the current folder, as a context manager that closes it
    (imports the store lazily)."""
    from labelloop.service.project import workspace

    return workspace.open_workspace()


def print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=True))


def warn_undeclared(report: Any) -> None:
    """One warning line when items had fields the schema does not declare."""
    fields = getattr(report, "undeclared_fields", None)
    if not fields:
        return
    listed = ", ".join(f"{name} ({n:,} rows)" for name, n in list(fields.items())[:10])
    more = f" and {len(fields) - 10} more" if len(fields) > 10 else ""
    typer.echo(
        f"warning: fields not declared in schema {report.schema_version} inputs: {listed}{more}; "
        "kept as item metadata (not shown to annotators, not in the content hash)",
        err=True,
    )
