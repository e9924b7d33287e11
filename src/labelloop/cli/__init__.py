"""The `labelloop` command line. Each command is a thin call into `labelloop.service`.

Command modules register themselves on :data:`app`; heavy imports (store, pyarrow, ...)
happen inside the commands so that `labelloop --help` and file-only commands start fast.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

app = typer.Typer(
    rich_markup_mode=None,
    name="labelloop",
    help="Own your labeling operations: import, adjudicate, audit and release labels with provenance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from labelloop import __version__

        typer.echo(f"labelloop {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    pass


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


class _Command(TyperCommand):
    """Usage lines name arguments the usual way (``PATH``, ``[NAME]``), not ``{path}``."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = (param.name or "").upper() + ("..." if param.nargs != 1 else "")
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


def _use_command_class(typer_app: typer.Typer) -> None:
    for info in typer_app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = _Command
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _use_command_class(group.typer_instance)


# Command modules register their commands on `app` when imported; the order is the order of
# the help panels, which follows the loop: workspace, source, sample, annotate, adjudicate.
# isort: off
from labelloop.cli import project as _project  # noqa: E402,F401
from labelloop.cli import items as _items  # noqa: E402,F401
from labelloop.cli import loop as _loop  # noqa: E402,F401
from labelloop.cli import lf as _lf  # noqa: E402,F401
from labelloop.cli import llm as _llm  # noqa: E402,F401
from labelloop.cli import adjudicate as _adjudicate  # noqa: E402,F401
from labelloop.cli import agreement as _agreement  # noqa: E402,F401
from labelloop.cli import events as _events  # noqa: E402,F401
from labelloop.cli import plugins as _plugins  # noqa: E402,F401
from labelloop.cli import release as _release  # noqa: E402,F401
from labelloop.cli import server as _server  # noqa: E402,F401
from labelloop.cli import audit as _audit  # noqa: E402,F401
# isort: on

_use_command_class(app)
