"""The `labelloop` command line. Each command is a thin call into `labelloop.service`.

Command modules register themselves on :data:`app`; heavy imports (store, pyarrow, ...)
happen inside the commands so that `labelloop --help` and file-only commands start fast.
"""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
    rich_markup_mode=None,
    name="labelloop",
    help="Own your labeling operations: import, adjudicate, audit and release labels with provenance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error to stderr and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def main() -> None:
    """Entry point: known errors print one line and exit non-zero, never a traceback."""
    from labelloop.errors import LabelloopError

    try:
        app()
    except LabelloopError as exc:
        text = str(exc)
        typer.echo(f"error: {text}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


# Command modules register their commands on `app` when imported; the order is the order of
# the help panels, which follows the loop: workspace, source, sample, annotate, adjudicate.
# isort: off
from labelloop.cli import project as _project  # noqa: E402,F401
from labelloop.cli import loop as _loop  # noqa: E402,F401
from labelloop.cli import lf as _lf  # noqa: E402,F401
from labelloop.cli import llm as _llm  # noqa: E402,F401
from labelloop.cli import adjudicate as _adjudicate  # noqa: E402,F401
from labelloop.cli import agreement as _agreement  # noqa: E402,F401
from labelloop.cli import events as _events  # noqa: E402,F401
# isort: on
