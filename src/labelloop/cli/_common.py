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
    from labelloop.service import workspace

    return workspace.open_workspace()


def print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=True))
