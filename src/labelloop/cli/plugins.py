"""`labelloop plugins`: what is registered (aggregators, samplers, labelers, exporters)."""

from __future__ import annotations

import shutil
from typing import Annotated

import typer

from labelloop import registry
from labelloop.cli import app
from labelloop.cli._common import JsonOpt, print_json


@app.command("plugins", rich_help_panel="Workspace")
def plugins_cmd(
    kind: Annotated[
        str | None,
        typer.Argument(help="Only this kind: aggregator, sampler, labeler or exporter."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the registered plugins: built-ins and those other packages add by entry point.

    Options that take a method, strategy or labeler name (aggregate --method, sample
    --strategy) accept NAME.vN or a bare NAME, which means its latest version (marked *).
    """
    kinds = [registry.registry(kind)] if kind is not None else list(registry.REGISTRIES.values())
    rows = []
    problems: list[str] = []
    for reg in kinds:
        latest = {p.key for p in reg.latest()}
        for plugin in reg.plugins():
            rows.append(
                {
                    **plugin.as_dict(),
                    "latest": plugin.key in latest,
                    "summary": reg.describe(plugin.key),
                }
            )
        problems.extend(reg.problems)
    if as_json:
        print_json({"plugins": rows, "problems": problems})
        return
    width = max((len(r["name"]) for r in rows), default=4) + 1
    columns = shutil.get_terminal_size((100, 24)).columns
    for r in rows:
        mark = "*" if r["latest"] else " "
        origin = "" if r["origin"] == registry.BUILTIN else f"  [{r['origin']}]"
        line = f"{r['kind']:<10}  {r['name'] + mark:<{width}}  {r['summary']}"
        room = max(columns - len(origin), width + 20)
        if len(line) > room:  # the whole summary is in --json
            line = line[: room - 3].rstrip() + "..."
        typer.echo(line + origin)
    for line in problems:
        typer.echo(f"warning: {line}", err=True)
