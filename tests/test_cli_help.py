"""Every command's --help reads well in an 80-column terminal: paragraphs are re-wrapped to
the width (no hard line breaks from the docstrings leaving one-word lines), nothing overflows."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
import typer

from labelloop.cli import app

WIDTH = 80
WRAP = WIDTH - 2  # click's help formatter keeps a 2-column right margin


def command_paths() -> Iterator[list[str]]:
    def walk(cmd: Any, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(app), [])


@pytest.mark.parametrize("path", list(command_paths()), ids=lambda p: " ".join(p) or "labelloop")
def test_help_fits_80_columns_and_wraps_paragraphs(cli, monkeypatch, path: list[str]) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    res = cli(*path, "--help")
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines and lines[0].startswith("Usage: labelloop")
    too_long = [line for line in lines if len(line) > WIDTH]
    assert not too_long, too_long
    # the description: the lines between the usage line and the first section heading
    end = next(i for i, line in enumerate(lines) if line.endswith(":") and not line[0].isspace())
    text = lines[1:end]
    for line, nxt in pairwise(text):
        if line.strip() and nxt.strip():  # the same paragraph: the next word did not fit
            assert len(line) + 1 + len(nxt.split()[0]) > WRAP, (line, nxt)


@pytest.mark.parametrize("path", list(command_paths()), ids=lambda p: " ".join(p) or "labelloop")
def test_usage_line_names_arguments_in_capitals(cli, path: list[str]) -> None:
    usage = cli(*path, "--help").out.splitlines()[0]
    assert "{" not in usage and "}" not in usage, usage
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    for param in command.params:
        if param.param_type_name == "argument":
            shown = param.name.upper()
            assert (shown if param.required else f"[{shown}]") in usage.split(), usage


def test_version(cli) -> None:
    from labelloop import __version__

    res = cli("--version")
    assert res.code == 0 and res.out == f"labelloop {__version__}\n"
