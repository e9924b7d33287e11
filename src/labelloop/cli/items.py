"""Find and fix items: `items list`, `items show`, `correct`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from labelloop.cli import app, fail
from labelloop.cli._common import JsonOpt, ProjectOpt, open_workspace, print_json

items_app = typer.Typer(
    help="Find items: list them by state with their current label, show one with its events.",
    no_args_is_help=True,
)
app.add_typer(items_app, name="items", rich_help_panel="Workspace")

PREVIEW = 60


def _label_text(label: Any, source: str | None) -> str:
    if label is None:
        return "-"
    text = label if isinstance(label, str) else json.dumps(label, ensure_ascii=False)
    return f"{text} ({source})"


def _preview(data: dict[str, Any]) -> str:
    text = data.get("text") if isinstance(data.get("text"), str) else None
    if text is None:
        text = json.dumps(data, ensure_ascii=False) if data else "(id only, no content yet)"
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW else text[: PREVIEW - 3] + "..."


@items_app.command("list")
def items_list(
    project: ProjectOpt = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            help="Only items in this state: gold, corrected, in_flight, queued, adjudicated, "
            "answered or unlabeled.",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Show at most N items (0: all).")
    ] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Items in import order: key, state, current label (and where it comes from), answers.

    An item's state is the first that applies: gold (it has a gold label), corrected (a
    person corrected it with `labelloop correct`), in_flight (handed out by `batch export
    --claim`), queued (waiting in a batch), adjudicated (a consensus label from
    `aggregate`), answered (answers, no label yet), unlabeled. Its current label is its
    gold, else its latest correction, else its consensus label. Items without an external
    id are keyed by content hash (sha256:...).
    """
    from labelloop.service.source.items import list_items

    with open_workspace() as ws:
        rows, total = list_items(ws.store, project, state=state, limit=limit)
    if as_json:
        print_json({"items": [r.as_dict() for r in rows], "total": total, "state": state})
        return
    where = "" if state is None else f" {state}"
    if not rows:
        typer.echo(f"no{where} items")
        return
    width = min(max(len(r.key) for r in rows), 71)
    typer.echo(f"{'key':<{width}}  {'state':<11} {'answers':>7}  label")
    for r in rows:
        typer.echo(
            f"{r.key:<{width}}  {r.state:<11} {r.answers:>7,}  "
            f"{_label_text(r.label, r.label_source)}  {_preview(r.data)}"
        )
    if len(rows) < total:
        typer.echo(f"showing {len(rows):,} of {total:,}{where} items (--limit 0 shows all)")
    else:
        typer.echo(f"{total:,}{where} items")


@items_app.command("show")
def items_show(
    key: Annotated[
        str,
        typer.Argument(
            help="Item key: its external id, or sha256:<content hash> (the first 8+ digits do)."
        ),
    ],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One item: its data, state, current label, batches, and every event with its labeler
    and provenance (schema version, source, time, suggestion shown, payload, hash)."""
    from labelloop.service.source.items import show_item

    with open_workspace() as ws:
        detail = show_item(ws.store, project, key)
    if as_json:
        print_json(detail.as_dict())
        return
    item = detail.item
    typer.echo(f"item {item.key}  (content sha256:{detail.content_hash[:12]})")
    typer.echo(f"state: {item.state}; label: {_label_text(item.label, item.label_source)}")
    typer.echo("data: " + json.dumps(item.data, ensure_ascii=False, indent=2))
    if detail.meta:
        typer.echo("meta: " + json.dumps(detail.meta, ensure_ascii=False))
    for b in detail.batches:
        typer.echo(
            f"batch {b['batch']} ({b['kind']}): rank {b['rank']}, {b['status']}: {b['reason']}"
        )
    typer.echo(f"events ({len(detail.events)}):")
    for e in detail.events:
        who = "-" if e.labeler is None else f"{e.labeler['kind']} {e.labeler['name']}"
        if e.labeler is not None and e.labeler["version"] != "1":
            who += f"@{e.labeler['version']}"
        label = e.label if isinstance(e.label, str) else json.dumps(e.label, ensure_ascii=False)
        extra = []
        if e.corrects_event is not None:
            extra.append(f"corrects #{e.corrects_event}")
        if e.suggestion is not None:
            extra.append("shown " + json.dumps(e.suggestion, ensure_ascii=False))
        if e.payload:
            extra.append(json.dumps(e.payload, ensure_ascii=False, sort_keys=True))
        typer.echo(
            f"  #{e.seq} {e.created_at} {e.type:<12} {label:<10} by {who} "
            f"(schema {e.schema_version}, source {e.source}) {' '.join(extra)}".rstrip()
        )


def _os_user() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


@app.command("correct", rich_help_panel="Adjudicate")
def correct(
    item: Annotated[str, typer.Argument(help="Item key (see `labelloop items list`).")],
    label: Annotated[str, typer.Argument(help="The right label (one of the schema's labels).")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why the label is corrected (kept in the event).")
    ],
    project: ProjectOpt = None,
    labeler: Annotated[
        str | None,
        typer.Option("--labeler", help="Who corrects it (default: your OS user name)."),
    ] = None,
    kind: Annotated[
        str, typer.Option("--kind", help="The labeler's kind: human or expert.")
    ] = "human",
    as_json: JsonOpt = False,
) -> None:
    """Correct an item's label: a correction event with the reason, by a person.

    The label is checked against the project's schema. The event names the event it
    corrects and keeps the previous label; the item's current label becomes the corrected
    one (gold still wins), `train` learns from it, and it counts as that person's answer
    in `aggregate`. Re-running the same correction records nothing.
    """
    from labelloop.service.source.items import correct_item

    name = labeler if labeler is not None else _os_user()
    if name is None:
        raise fail("cannot tell the OS user name; pass --labeler NAME")
    with open_workspace() as ws:
        report = correct_item(
            ws.store, project, item, label, reason=reason, labeler=name, kind=kind
        )
    if as_json:
        print_json(report.as_dict())
        return
    before = (
        "no label before"
        if report.previous_label is None
        else f"was {report.previous_label} ({report.previous_source})"
    )
    state = "recorded" if report.recorded else "already recorded, nothing added"
    typer.echo(
        f"{report.item}: {report.label} by {report.labeler['kind']} {report.labeler['name']} "
        f"({before}); correction {state}"
    )
