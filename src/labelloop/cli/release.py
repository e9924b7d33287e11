"""`labelloop release` (dataset versions) and `labelloop key` (the project's checkpoint key)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from labelloop.cli import app, fail
from labelloop.cli._common import JsonOpt, ProjectOpt, open_workspace, print_json

release_app = typer.Typer(
    help="Immutable dataset versions with signed checkpoints of the event log.",
    no_args_is_help=True,
)
app.add_typer(release_app, name="release", rich_help_panel="Release")
key_app = typer.Typer(
    help="The project's Ed25519 key that signs release checkpoints.", no_args_is_help=True
)
app.add_typer(key_app, name="key", rich_help_panel="Release")


def _splits(text: str) -> list[tuple[str, float]]:
    out = []
    for part in text.split(","):
        name, _, fraction = part.partition("=")
        try:
            out.append((name.strip(), float(fraction)))
        except ValueError:
            raise fail(
                f"--splits {text!r}: expected NAME=FRACTION,... e.g. train=0.8,test=0.2"
            ) from None
    return out


@release_app.command("create")
def release_create(
    name: Annotated[str, typer.Argument(help="The new release's name (e.g. v1).")],
    method: Annotated[
        str, typer.Option("--method", help="Aggregator for items without a person's label.")
    ] = "auto",
    params: Annotated[
        str | None, typer.Option("--params", help="Aggregator parameters as a JSON object.")
    ] = None,
    parent: Annotated[
        str | None, typer.Option("--parent", help="Parent release (default: the latest).")
    ] = None,
    min_confidence: Annotated[
        float | None, typer.Option("--min-confidence", help="Drop labels below this confidence.")
    ] = None,
    min_agreement: Annotated[
        float | None,
        typer.Option("--min-agreement", help="Drop items whose answers agree less than this."),
    ] = None,
    sources: Annotated[
        str,
        typer.Option("--sources", help="Label sources to keep (comma-separated)."),
    ] = "gold,correction,aggregate",
    splits: Annotated[
        str, typer.Option("--splits", help="Splits by item key hash: NAME=FRACTION,...")
    ] = "train=0.8,validation=0.1,test=0.1",
    checkpoint_out: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint-out",
            help="Write the signed checkpoint here (default: releases/NAME.checkpoint.json).",
        ),
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Freeze the final label of every item (gold, else a person's correction, else the
    aggregate) with its confidence, soft label and answer events, as a signed release.

    Publish the checkpoint file somewhere the workspace cannot rewrite: `labelloop verify
    --checkpoint FILE` then proves that the log only grew since.
    """
    from labelloop.service.release.releases import ReleaseFilters, create_release

    try:
        parsed = None if params is None else json.loads(params)
    except ValueError:
        raise fail(f"--params {params!r} is not JSON; expected an object") from None
    if parsed is not None and not isinstance(parsed, dict):
        raise fail(f"--params {params!r}: expected a JSON object")
    filters = ReleaseFilters(
        min_confidence, min_agreement, tuple(s.strip() for s in sources.split(",") if s.strip())
    )
    with open_workspace() as ws:
        report = create_release(
            ws.store,
            ws.root,
            project,
            name,
            method=method,
            params=parsed,
            parent=parent,
            filters=filters,
            splits=_splits(splits),
            checkpoint_out=checkpoint_out,
        )
    if as_json:
        print_json(report.as_dict())
        return
    counts = report.counts
    cp = report.checkpoint
    typer.echo(
        f"release {report.name!r} of project {report.project!r}: {counts['items']:,} items "
        f"({', '.join(f'{k} {v:,}' for k, v in counts['by_source'].items())}); "
        f"parent {report.parent or '-'}; method {report.method or '-'}"
    )
    typer.echo(
        f"checkpoint: {cp['size']:,} events, root {cp['root'][:16]}, key {cp['key_id'][:16]}"
        + (f" -> {report.checkpoint_file} (publish it)" if report.checkpoint_file else "")
    )


@release_app.command("list")
def release_list(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Every release of the project, oldest first."""
    from labelloop.service.release.releases import list_releases

    with open_workspace() as ws:
        rows = list_releases(ws.store, project)
    if as_json:
        print_json({"releases": rows})
        return
    if not rows:
        typer.echo("no releases yet (`labelloop release create NAME`)")
    for r in rows:
        typer.echo(
            f"{r['name']}\t{r['created_at']}\t{r['items']:,} items\tparent {r['parent'] or '-'}"
            f"\tevents {r['checkpoint']['size']:,}\troot {r['checkpoint']['root'][:16]}"
        )


@release_app.command("show")
def release_show(
    name: Annotated[str, typer.Argument(help="Release name.")],
    labels: Annotated[bool, typer.Option("--labels", help="Include every label.")] = False,
    project: ProjectOpt = None,
) -> None:
    """A release's record as JSON: checkpoint, schema, method, filters, splits, counts."""
    from labelloop.service.release.releases import show_release

    with open_workspace() as ws:
        print_json(show_release(ws.store, project, name, labels=labels))


@release_app.command("diff")
def release_diff(
    a: Annotated[str, typer.Argument(help="Earlier release.")],
    b: Annotated[str, typer.Argument(help="Later release.")],
    limit: Annotated[int, typer.Option("--limit", help="Changes to list (text output).")] = 20,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Items added, removed and relabeled from A to B, each with its causes (new answers,
    adjudication, schema change, method change, filters)."""
    from labelloop.service.release.releases import diff

    with open_workspace() as ws:
        report = diff(ws.store, project, a, b)
    if as_json:
        print_json(report.as_dict())
        return
    typer.echo(
        f"{a} -> {b}: {report.added:,} added, {report.removed:,} removed, "
        f"{report.relabeled:,} relabeled; causes: "
        + (", ".join(f"{k} {v:,}" for k, v in report.causes.items()) or "-")
    )
    for c in report.changes[:limit]:
        typer.echo(
            f"  {c.change}\t{c.item}\t{c.before!r} -> {c.after!r}\t{', '.join(c.causes) or '-'}"
        )


@release_app.command("export")
def release_export(
    name: Annotated[str, typer.Argument(help="Release name.")],
    out: Annotated[Path, typer.Option("--out", help="Folder of exports (created if missing).")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="An exporter (`labelloop plugins exporter`): jsonl, csv, parquet, hf or label_studio.",
        ),
    ] = "parquet",
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a release's labels and manifest into a new versioned folder and make it
    current (OUT/NAME-FORMAT) in one rename; the same release always gives the same bytes."""
    from labelloop.service.release.export import export_release

    with open_workspace() as ws:
        report = export_release(ws.store, project, name, fmt, out)
    if as_json:
        print_json(report.as_dict())
        return
    typer.echo(
        f"{report.rows:,} labels of release {name!r} -> {report.path} (sha256 {report.sha256[:16]})"
    )


@key_app.command("init")
def key_init(
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Start a new key (older checkpoints still verify).")
    ] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create the project's checkpoint key (workspaces made before keys existed)."""
    from labelloop.service.release.keys import init_key

    with open_workspace() as ws:
        info = init_key(ws.store, ws.root, project, rotate=rotate)
    if as_json:
        print_json(info.as_dict())
        return
    state = "created" if info.created else "already present"
    typer.echo(f"key {info.key_id[:16]} of project {info.project!r} {state} ({info.path})")


@key_app.command("export")
def key_export(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the PEM here instead of stdout.")
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the public key (PEM) that verifies the project's checkpoints."""
    from labelloop.service.release.keys import export_key

    with open_workspace() as ws:
        info, pem = export_key(ws.store, project)
    if out is not None:
        out.write_text(pem, encoding="utf-8")
    if as_json:
        print_json({**info.as_dict(), "pem": pem})
    elif out is None:
        typer.echo(pem, nl=False)
    else:
        typer.echo(f"public key {info.key_id[:16]} of project {info.project!r} -> {out}")
