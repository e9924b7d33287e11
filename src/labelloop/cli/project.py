"""Workspace commands: init, import, status, schema, verify, demo."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated, Any

import typer

from labelloop.cli import app, fail
from labelloop.cli._common import (
    JsonOpt,
    ProjectOpt,
    open_workspace,
    print_json,
    progress_bar,
    warn_undeclared,
)

import_app = typer.Typer(
    help="Import items, existing answers or gold into the project.",
    no_args_is_help=True,
)
schema_app = typer.Typer(
    help="Check, show and apply the project's label schema (guidelines as code).",
    no_args_is_help=True,
)
project_app = typer.Typer(
    help="The workspace's projects: create another one, list them with their counts.",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import", rich_help_panel="Source")
app.add_typer(schema_app, name="schema", rich_help_panel="Workspace")
app.add_typer(project_app, name="project", rich_help_panel="Workspace")


@app.command(rich_help_panel="Workspace")
def init(
    name: Annotated[
        str | None, typer.Argument(help="First project's name (default: the folder's name).")
    ] = None,
    schema: Annotated[
        Path | None, typer.Option("--schema", help="Apply this schema file to the project.")
    ] = None,
) -> None:
    """Create a workspace in the current folder: database, keys and a first project.

    The database is `./labelloop.db` (SQLite) unless LABELLOOP_DATABASE_URL names another
    (e.g. postgresql+psycopg://user@host/db), in which case the workspace file records it.
    More projects join the workspace with `labelloop project create NAME`.
    """
    from labelloop.service.project.workspace import init_workspace, init_workspace_with_schema

    folder_name = name or Path.cwd().name
    if schema is None:
        ws, project = init_workspace(Path.cwd(), folder_name)
        applied = None
    else:
        ws, project, applied = init_workspace_with_schema(Path.cwd(), folder_name, schema)
    with ws:
        typer.echo(f"workspace {ws.root} (database {ws.store.safe_url}), project {project.name!r}")
        if applied is not None:
            typer.echo(
                f"schema {applied.version} ({applied.content_hash[:12]}) applied, "
                f"{applied.examples_added} worked examples as calibration gold"
            )


@project_app.command("create")
def project_create(
    name: Annotated[str, typer.Argument(help="The new project's name.")],
    schema: Annotated[
        Path | None, typer.Option("--schema", help="Apply this schema file to the project.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a project to the workspace in the current folder (or above).

    With more than one project, commands need `--project NAME`.
    """
    from labelloop.service.project.workspace import create_project

    with open_workspace() as ws:
        project, applied = create_project(ws.store, name, schema, ws.root)
    if as_json:
        print_json(
            {
                "project": project.name,
                "schema": None
                if applied is None
                else {
                    "version": applied.version,
                    "content_hash": applied.content_hash,
                    "examples_added": applied.examples_added,
                },
            }
        )
        return
    typer.echo(f"project {project.name!r} created")
    if applied is not None:
        typer.echo(
            f"schema {applied.version} ({applied.content_hash[:12]}) applied, "
            f"{applied.examples_added} worked examples as calibration gold"
        )
    typer.echo(f"use it with --project {project.name}")


@project_app.command("list")
def project_list(as_json: JsonOpt = False) -> None:
    """Every project of the workspace: schema version, items, answers, gold, events."""
    from labelloop.service.project.workspace import list_projects

    with open_workspace() as ws:
        projects = list_projects(ws.store)
    if as_json:
        print_json({"projects": [p.as_dict() for p in projects]})
        return
    width = max([len("project"), *(len(p.name) for p in projects)])
    typer.echo(
        f"{'project':<{width}}  {'schema':<16} {'items':>9} {'answers':>9} {'gold':>7} "
        f"{'events':>9}"
    )
    for p in projects:
        typer.echo(
            f"{p.name:<{width}}  {p.schema_version or '-':<16} {p.items:>9,} {p.answers:>9,} "
            f"{p.gold:>7,} {p.events:>9,}"
        )


def _report(report: Any, as_json: bool) -> None:
    warn_undeclared(report)
    if as_json:
        print_json(report.as_dict())
        return
    parts = [f"{report.added:,} {report.kind} added"]
    if report.duplicates:
        parts.append(f"{report.duplicates:,} already present")
    if report.filled:
        parts.append(f"{report.filled:,} id-only items given content")
    if report.new_items:
        parts.append(f"{report.new_items:,} new items from unknown ids")
    if report.rejected:
        parts.append(f"{report.rejected:,} rejected -> {report.rejects_file}")
    typer.echo(f"{report.source}: {report.rows:,} rows; " + ", ".join(parts))


SkipInvalidOpt = Annotated[
    bool,
    typer.Option(
        "--skip-invalid", help="Import valid rows; write rejected rows with reasons to a file."
    ),
]
RejectsOpt = Annotated[
    Path | None,
    typer.Option(
        "--rejects", help="Where --skip-invalid writes rejects (default: PATH.rejects.jsonl)."
    ),
]
LabelDelimiterOpt = Annotated[
    str | None,
    typer.Option(
        "--label-delimiter",
        help="Multi-label schemas, CSV: split label cells on this (e.g. '|'). "
        'JSONL takes JSON lists ("label": ["a", "b"]).',
    ),
]


@import_app.command("items")
def import_items_cmd(
    path: Annotated[
        Path, typer.Argument(help="JSONL, CSV, Parquet file or a HF save_to_disk folder.")
    ],
    project: ProjectOpt = None,
    format: Annotated[
        str | None,
        typer.Option("--format", help="jsonl, csv, parquet or hf (default: from the path)."),
    ] = None,
    id_field: Annotated[
        str | None,
        typer.Option("--id-field", help="Field holding the external id (default: id, else task)."),
    ] = None,
    skip_invalid: SkipInvalidOpt = False,
    rejects: RejectsOpt = None,
    as_json: JsonOpt = False,
    max_item_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-item-bytes",
            min=1,
            help="Reject items larger than this many bytes (a JSONL line, a CSV record, a "
            "Parquet/HF row's values; default: LABELLOOP_MAX_ITEM_BYTES, else 1 MiB).",
        ),
    ] = None,
) -> None:
    """Import items (deduplicated by id or content hash; re-importing a file adds nothing).

    When the schema declares `inputs`, only those fields are the item's content (shown to
    annotators, in the content hash); other fields are kept as item metadata and listed in
    a warning.

    Atomic by default: one invalid row aborts the import, nothing is written, and the
    error names the file, line and field.
    """
    from labelloop.service.source.imports import import_items

    with open_workspace() as ws, progress_bar("importing items") as progress:
        report = import_items(
            ws.store,
            project,
            path,
            format=format,
            id_field=id_field,
            skip_invalid=skip_invalid,
            rejects_path=rejects,
            progress=progress,
            max_item_bytes=max_item_bytes,
        )
    _report(report, as_json)


@import_app.command("answers")
def import_answers_cmd(
    path: Annotated[
        Path,
        typer.Argument(help="CSV (header worker,task,label[,time]) or JSONL with those fields."),
    ],
    project: ProjectOpt = None,
    kind: Annotated[
        str,
        typer.Option(
            "--kind", help="Labeler kind of the workers: human, expert, model, llm or rule."
        ),
    ] = "human",
    label_delimiter: LabelDelimiterOpt = None,
    skip_invalid: SkipInvalidOpt = False,
    rejects: RejectsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import existing answers as events of labelers of one kind; unknown task ids become items.

    `time` is seconds spent (a number) or when the answer was given (ISO-8601). Atomic by
    default: one invalid row aborts the import, nothing is written, and the error names
    the file, line and field.
    """
    from labelloop.service.source.imports import import_answers

    with open_workspace() as ws, progress_bar("importing answers") as progress:
        report = import_answers(
            ws.store,
            project,
            path,
            labeler_kind=kind,
            skip_invalid=skip_invalid,
            rejects_path=rejects,
            label_delimiter=label_delimiter,
            progress=progress,
        )
    _report(report, as_json)


@import_app.command("gold")
def import_gold_cmd(
    path: Annotated[
        Path, typer.Argument(help="CSV (header task,label) or JSONL with those fields.")
    ],
    project: ProjectOpt = None,
    label_delimiter: LabelDelimiterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import gold labels (a changed gold label becomes a new gold event)."""
    from labelloop.service.source.imports import import_gold

    with open_workspace() as ws:
        report = import_gold(ws.store, project, path, label_delimiter=label_delimiter)
    _report(report, as_json)


@app.command(rich_help_panel="Workspace")
def status(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Counts per stage and per labeler kind (`--json`: items, answers, gold, labelers, ...)."""
    from labelloop.service.project.status import project_status

    with open_workspace() as ws:
        info = project_status(ws.store, project)
    if as_json:
        print_json(info)
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    schema = info["schema"]
    schema_text = (
        "none yet"
        if schema is None
        else f"{schema['version']} ({'open' if schema['open'] else 'file'}; "
        f"labels {', '.join(schema['labels'])})"
    )
    console.print(f"[bold]{info['project']}[/bold]  schema: {schema_text}")
    stages = Table(title="items per stage")
    stages.add_column("stage")
    stages.add_column("items", justify="right")
    stages.add_row("total", f"{info['items']:,}")
    for name, n in info["stages"].items():
        stages.add_row(name.replace("_", " "), f"{n:,}")
    console.print(stages)
    kinds = Table(title="labelers per kind")
    kinds.add_column("kind")
    kinds.add_column("labelers", justify="right")
    kinds.add_column("answers", justify="right")
    for kind, v in sorted(info["by_labeler_kind"].items()):
        kinds.add_row(kind, f"{v['labelers']:,}", f"{v['answers']:,}")
    console.print(kinds)
    current = info["current_labels"]
    if current["items"]:
        shown = ", ".join(f"{name} {n:,}" for name, n in list(current["by_label"].items())[:10])
        console.print(f"current labels ({current['items']:,} items): {shown}")
    queue = info["batch_items"]
    if any(queue.values()):
        console.print(
            f"batch items: {queue['queued']:,} queued, {queue['in_flight']:,} in flight, "
            f"{queue['done']:,} done (`labelloop batch list`)"
        )
    console.print(f"events in the provenance chain: {info['events']:,}")


@app.command(rich_help_panel="Workspace")
def verify(
    project: ProjectOpt = None,
    events: Annotated[
        Path | None,
        typer.Option(
            "--events",
            help="Verify this file from `labelloop events export` instead (no workspace needed).",
        ),
    ] = None,
    release: Annotated[
        str | None,
        typer.Option("--release", help="Recompute this release's signed root; check it."),
    ] = None,
    event: Annotated[
        int | None,
        typer.Option("--event", help="Print and check this event id's inclusion proof."),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint", help="Check that the log only grew since this published checkpoint."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute the provenance hash chain; exit 1 naming the first broken event (or line).

    With --release, --event or --checkpoint: check a release, an inclusion proof, or the
    consistency of a published checkpoint with the log now.
    """
    if events is not None:
        _verify_file(events, as_json)
        return
    if release is not None or event is not None or checkpoint is not None:
        _verify_release_stage(project, release, event, checkpoint, as_json)
        return
    from labelloop.service.project.status import verify_chain

    with open_workspace() as ws:
        result = verify_chain(ws.store, project)
    if as_json:
        print_json(result.as_dict())
    elif result.ok:
        typer.echo(f"ok: {result.events:,} events of project {result.project!r} verify")
    else:
        where = (
            f"event {result.broken_event_id} (seq {result.broken_seq})"
            if result.broken_event_id is not None
            else "end of chain"
        )
        typer.echo(f"BROKEN at {where}: {result.reason}", err=True)
    if not result.ok:
        raise typer.Exit(1)


def _verify_release_stage(
    project: str | None,
    release: str | None,
    event: int | None,
    checkpoint: Path | None,
    as_json: bool,
) -> None:
    from labelloop.service.release import verify as v

    verdicts = []
    with open_workspace() as ws:
        if release is not None:
            verdicts.append(v.verify_release(ws.store, project, release))
        if event is not None:
            verdicts.append(v.verify_event(ws.store, project, event))
        if checkpoint is not None:
            verdicts.append(v.verify_checkpoint_file(ws.store, project, checkpoint))
    if as_json:
        print_json({"ok": all(x.ok for x in verdicts), "checks": [x.as_dict() for x in verdicts]})
    for x in verdicts:
        if not as_json:
            typer.echo(f"{'ok' if x.ok else 'BROKEN'}: {x.message}", err=not x.ok)
            proof = x.details.get("proof")
            if x.ok and proof:
                for h in proof:
                    typer.echo(f"  {h}")
    if not all(x.ok for x in verdicts):
        raise typer.Exit(1)


def _verify_file(path: Path, as_json: bool) -> None:
    from labelloop.service.audit.events import verify_events_file

    result = verify_events_file(path)
    if as_json:
        print_json(result.as_dict())
    elif result.ok:
        typer.echo(
            f"ok: {result.events:,} events of project {result.project!r} in {path} verify "
            f"(head {str(result.head_hash)[:12]})"
        )
    else:
        typer.echo(f"BROKEN: {path}, {result.message}", err=True)
    if not result.ok:
        raise typer.Exit(1)


@schema_app.command("validate")
def schema_validate(
    path: Annotated[Path, typer.Argument(help="Schema YAML file.")], as_json: JsonOpt = False
) -> None:
    """Report every problem of a schema file with its location (exit 1 if any)."""
    from labelloop.errors import InvalidInput
    from labelloop.schema import validate_schema_text

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"file not found: {path}") from None
    except OSError as exc:  # a directory, no permission, ...
        raise InvalidInput(
            f"cannot read the file ({exc.strerror or exc}); expected a schema YAML file",
            source=str(path),
        ) from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"not UTF-8 text (byte {exc.start})", source=str(path)) from None
    problems = validate_schema_text(text, source=str(path))
    if as_json:
        print_json({"file": str(path), "ok": not problems, "problems": [str(p) for p in problems]})
    elif not problems:
        typer.echo(f"{path}: ok")
    else:
        for p in problems:
            typer.echo(str(p), err=True)
        typer.echo(f"{path}: {len(problems)} problem(s)", err=True)
    if problems:
        raise typer.Exit(1)


@schema_app.command("apply")
def schema_apply(
    path: Annotated[Path, typer.Argument(help="Schema YAML file.")], project: ProjectOpt = None
) -> None:
    """Apply a schema file; a changed file becomes a new version, worked examples calibration gold."""
    from labelloop.service.project.schemas import apply_schema_file

    with open_workspace() as ws:
        applied = apply_schema_file(ws.store, project, path)
    state = "new version" if applied.created else "unchanged (already applied)"
    typer.echo(
        f"schema {applied.version} ({applied.content_hash[:12]}): {state}; "
        f"{applied.examples_added} worked examples added as calibration gold"
    )


@schema_app.command("show")
def schema_show(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Show the project's current schema and its version history."""
    from labelloop.service.project.schemas import schema_history

    with open_workspace() as ws:
        history = schema_history(ws.store, project)
    if as_json:
        print_json(history)
        return
    current = history["current"]
    if current is None:
        typer.echo(
            "no schema yet: the label set is open until answers, gold or a schema file arrive"
        )
        return
    typer.echo(f"current: {current['version']} ({current['content_hash'][:12]})")
    typer.echo(json.dumps(current["body"], indent=2, ensure_ascii=False))
    typer.echo("versions:")
    for v in history["versions"]:
        kind = "open" if v["is_open"] else (v["source"] or "file")
        typer.echo(
            f"  {v['id']:>4}  {v['version']:<16} {v['content_hash'][:12]}  {v['created_at']}  {kind}"
        )


@app.command(rich_help_panel="Workspace")
def demo(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Folder for the demo workspace (default: ./labelloop-demo)."),
    ] = None,
) -> None:
    """Run the main job on a bundled real dataset, through the loop.

    Creates a workspace, applies a label schema with worked examples, imports 1,956 YouTube
    comments and gold labels for half of them (the other half's truth stays hidden), trains
    the model labeler on the gold (out-of-fold accuracy), samples the 40 comments the model
    is least sure of as a batch and exports it for annotators, routes the rest (auto-accepts
    confident model labels at 98% precision estimated on gold, audits a few), applies
    labeling functions (rules), infers labels from model and rule answers with the default
    aggregator, scores them on the hidden half, then prints status and verifies the
    provenance chain. Data: YouTube Spam Collection (Alberto, Lochter & Almeida 2015, UCI id
    380, CC BY 4.0).
    """
    import csv
    from importlib.resources import as_file, files

    from labelloop.service.adjudicate.adjudicate import adjudicate, consensus_labels
    from labelloop.service.annotate.batches import export_batch
    from labelloop.service.annotate.lf import apply_lf_module
    from labelloop.service.annotate.train import train_model
    from labelloop.service.project.schemas import apply_schema_file
    from labelloop.service.project.workspace import WORKSPACE_FILE, init_workspace
    from labelloop.service.sample.routing import route
    from labelloop.service.sample.sampling import sample
    from labelloop.service.source.imports import import_gold, import_items

    target = (directory or Path("labelloop-demo")).resolve()
    if (target / WORKSPACE_FILE).exists():
        raise fail(f"{target} already holds a workspace; pass another --dir")
    target.mkdir(parents=True, exist_ok=True)
    bundle = files("labelloop") / "data" / "demo"
    names = ("youtube_items.csv", "youtube_gold.csv", "spam_schema.yaml", "youtube_lfs.py")
    with as_file(bundle) as src:
        for name in names:
            shutil.copy(Path(src) / name, target / name)
    # every other comment's label is gold; the rest is the hidden truth the result is scored on
    with open(target / "youtube_gold.csv", newline="", encoding="utf-8") as fh:
        truth = list(csv.reader(fh))[1:]
    with open(target / "gold_half.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["task", "label"], *truth[::2]])
    hidden = dict(truth[1::2])
    ws, project = init_workspace(target, "youtube-spam")
    with ws:
        typer.echo(f"workspace {target}, project {project.name!r}")
        applied = apply_schema_file(ws.store, None, target / "spam_schema.yaml")
        typer.echo(
            f"schema {applied.version}: {applied.examples_added} worked examples as calibration gold"
        )
        with progress_bar("importing items") as progress:
            items = import_items(
                ws.store,
                None,
                target / "youtube_items.csv",
                id_field="comment_id",
                progress=progress,
            )
        _report(items, False)
        _report(import_gold(ws.store, None, target / "gold_half.csv"), False)
        trained = train_model(ws.store, None, models_dir=ws.models_dir)
        typer.echo(
            f"model {trained.labeler} trained on {trained.n_train:,} labels: out-of-fold "
            f"accuracy {trained.oof_accuracy:.1%}; {trained.n_predicted:,} items scored"
        )
        batch = sample(ws.store, None, "margin", 40)
        if batch.batch_id is not None:
            exported = export_batch(
                ws.store, None, batch.batch_id, target / f"batch_{batch.batch_id}.jsonl", claim=True
            )
            typer.echo(
                f"batch {batch.batch_id}: the {batch.selected} comments the model is least sure "
                f"of, handed out in {Path(exported.out).name}"
            )
        routed = route(ws.store, None, target_precision=0.98, audit_fraction=0.05)
        typer.echo(
            f"routing: {routed.auto_accepted:,} model labels auto-accepted "
            f"(gold precision {routed.precision:.1%}, 95% interval {routed.ci_low:.1%}-"
            f"{routed.ci_high:.1%}), {routed.audited:,} audited, {routed.to_humans:,} to humans"
            if not routed.abstained
            else f"routing: nothing auto-accepted ({routed.reason})"
        )
        with progress_bar("applying labeling functions") as progress:
            lfs = apply_lf_module(ws.store, None, target / "youtube_lfs.py", progress=progress)
        typer.echo(
            f"{len(lfs.lfs)} labeling functions: {lfs.events_added:,} votes on {lfs.items:,} items"
        )
        result = adjudicate(ws.store, None, method="auto")
        accuracy = "" if result.gold_accuracy is None else f", {result.gold_accuracy:.1%} on gold"
        typer.echo(
            f"{result.method}: {result.items:,} items labeled from model and rule answers"
            f"{accuracy} ({result.events_added:,} adjudication events)"
        )
        labels = consensus_labels(ws.store, None)
        scored = [labels.get(key) == label for key, label in hidden.items()]
        typer.echo(
            f"on the {len(hidden):,} comments whose truth was hidden: "
            f"{sum(scored) / len(scored):.1%} correct"
        )
    import os

    os.chdir(target)
    status(project=None, as_json=False)
    verify(project=None, as_json=False)
