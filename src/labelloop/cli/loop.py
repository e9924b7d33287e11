"""The active-learning loop: `telemetry import`, `train`, `sample`, `route`, `batch`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from labelloop.cli import app
from labelloop.cli._common import (
    JsonOpt,
    ProjectOpt,
    open_workspace,
    print_json,
    progress_bar,
    warn_undeclared,
)

telemetry_app = typer.Typer(
    help="Production model telemetry: predictions become answers of model labelers.",
    no_args_is_help=True,
)
app.add_typer(telemetry_app, name="telemetry", rich_help_panel="Source")


@telemetry_app.command("import")
def telemetry_import(
    path: Annotated[Path, typer.Argument(help="JSONL file, one prediction record per line.")],
    project: ProjectOpt = None,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="Import valid records; write rejected ones with reasons to a file.",
        ),
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects", help="Where --skip-invalid writes rejects (default: PATH.rejects.jsonl)."
        ),
    ] = None,
    parallel: Annotated[
        bool,
        typer.Option(
            "--parallel",
            help="Parse in a second process (faster when a second CPU core is idle).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import production predictions as answers of model labelers (name@version).

    A record: {"input": {...} or "text", "prediction": LABEL, "probabilities": {LABEL: p}
    or "confidence": p, "model": NAME, "model_version": V, "timestamp": ISO-8601,
    "request_id": optional}. Inputs attach to items with the same content (new ones are
    created). Re-importing adds nothing. Atomic by default: one invalid record aborts the
    import, nothing is written, and the error names the file, line and field.
    """
    from labelloop.service.source.telemetry import import_telemetry

    with open_workspace() as ws, progress_bar("importing telemetry") as progress:
        report = import_telemetry(
            ws.store,
            project,
            path,
            skip_invalid=skip_invalid,
            rejects_path=rejects,
            progress=progress,
            parallel=parallel,
        )
    warn_undeclared(report)
    if as_json:
        print_json(report.as_dict())
        return
    parts = [f"{report.added:,} model answers added"]
    if report.duplicates:
        parts.append(f"{report.duplicates:,} already present")
    parts.append(f"{report.new_items:,} new items")
    if report.rejected:
        parts.append(f"{report.rejected:,} rejected -> {report.rejects_file}")
    models = ", ".join(report.models) or "none"
    typer.echo(f"{report.source}: {report.rows:,} records; " + ", ".join(parts))
    typer.echo(f"models: {models}")


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


@app.command("train", rich_help_panel="Sample")
def train(
    project: ProjectOpt = None,
    features: Annotated[
        str,
        typer.Option(
            "--features",
            help="What the estimator sees: tfidf (the item text) or minilm (MiniLM sentence "
            "embeddings; needs the embeddings extra).",
        ),
    ] = "tfidf",
    estimator: Annotated[
        str | None,
        typer.Option(
            "--estimator",
            help="Your scikit-learn classifier: FILE.py:NAME or package.module:NAME (an "
            "estimator with predict_proba, or a function returning one). Default: TF-IDF + "
            "logistic regression (tfidf), logistic regression (minilm).",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Model labeler name (its version is a content hash). Default: "
            "tfidf-logreg / minilm-logreg, or the estimator's NAME.",
        ),
    ] = None,
    text_field: Annotated[
        str, typer.Option("--text-field", help="Item field holding the text the model reads.")
    ] = "text",
    folds: Annotated[
        int, typer.Option("--folds", help="Folds for out-of-fold predictions on labeled items.")
    ] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fold split.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Fit the model labeler (default TF-IDF + logistic regression) on the current labels.

    Training labels: gold where an item has gold, else its consensus label (from
    `aggregate`). Predictions over every item become answers of the model labeler
    (NAME@VERSION) with confidence and probabilities; labeled items get out-of-fold
    predictions, so routing can measure the model on gold honestly. The model is saved
    to .labelloop/models/VERSION.joblib in the workspace.
    """
    from labelloop.service.annotate.train import train_model

    with open_workspace() as ws:
        report = train_model(
            ws.store,
            project,
            estimator=estimator,
            features=features,
            name=name,
            text_field=text_field,
            folds=folds,
            random_state=seed,
            models_dir=ws.models_dir,
        )
    if as_json:
        print_json(report.as_dict())
        return
    typer.echo(
        f"trained {report.labeler} on {report.n_train:,} labeled items "
        f"({report.n_train_gold:,} gold, {report.n_train_consensus:,} consensus), "
        f"classes {report.classes}"
    )
    typer.echo(
        f"out-of-fold accuracy ({report.folds} folds): {_pct(report.oof_accuracy)}; "
        f"{report.n_predicted:,} items predicted, {report.events_added:,} model answers added"
    )
    if report.model_file:
        typer.echo(f"model saved to {report.model_file}")


@app.command("sample", rich_help_panel="Sample")
def sample_cmd(
    budget: Annotated[int, typer.Option("--budget", help="How many items to select.")],
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            help="random, least_confidence, margin, entropy, committee, diversity, hybrid, "
            "class_balanced or a plugin's (labelloop plugins sampler). Default hybrid (the most uncertain items, spread over the "
            "data by k-means): of the strategies that need one model it needed the fewest "
            "labels on two of the three sets of benchmarks/active_learning.py and 3% more "
            "than margin on the third.",
        ),
    ] = "hybrid",
    project: ProjectOpt = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Model labeler NAME or NAME@VERSION whose probabilities to use (default: latest).",
        ),
    ] = None,
    embeddings: Annotated[
        str,
        typer.Option(
            "--embeddings",
            help="Item vectors for diversity/hybrid: tfidf (TF-IDF + SVD) or minilm "
            "(needs the embeddings extra).",
        ),
    ] = "tfidf",
    seed: Annotated[int, typer.Option("--seed", help="Seed for random picks and ties.")] = 0,
    show: Annotated[int, typer.Option("--show", help="Print the first N selected items.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Select up to BUDGET items for humans and store them as a batch (score + reason each).

    Items with gold or a person's answer, auto-accepted, queued or in flight are never
    selected (a consensus of machines alone does not count as labeled). Uncertainty
    strategies use the latest model predictions (`labelloop train` or telemetry); without
    any, selection falls back to a cold start. committee: every model, LLM and labeling
    function of the project votes (two at least; an abstaining LF does not).
    diversity/hybrid: k-center / k-means on item vectors (hybrid embeds only its
    uncertain candidates).
    """
    from labelloop.service.sample.sampling import sample

    with open_workspace() as ws:
        report = sample(
            ws.store,
            project,
            strategy,
            budget,
            model=model,
            random_state=seed,
            embeddings=embeddings,
        )
    if as_json:
        print_json(report.as_dict())
        return
    excluded = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in report.excluded.items())
    if report.batch_id is None:
        typer.echo(f"nothing to sample: {report.available:,} of {report.pool:,} items available")
        return
    typer.echo(
        f"batch {report.batch_id}: {report.selected:,} items by {report.method}"
        f"{'' if report.model is None else f' (model {report.model})'}; "
        f"pool {report.pool:,}, available {report.available:,} (excluded: {excluded})"
    )
    for entry in report.items[: max(show, 0)]:
        typer.echo(f"  {entry.key}  {entry.reason}")
    typer.echo(f"export it for annotators: labelloop batch export {report.batch_id} FILE.jsonl")


@app.command("route", rich_help_panel="Sample")
def route_cmd(
    project: ProjectOpt = None,
    target_precision: Annotated[
        float | None,
        typer.Option(
            "--target-precision",
            help="Precision auto-accepted labels must reach (policy; default 0.98).",
        ),
    ] = None,
    audit_fraction: Annotated[
        float | None,
        typer.Option(
            "--audit-fraction",
            help="Share of auto-accepted items also sent to humans (policy; default 0.05).",
        ),
    ] = None,
    show_suggestion: Annotated[
        bool | None,
        typer.Option(
            "--show-suggestion/--hide-suggestion",
            help="Show the model suggestion to annotators in the human queue (policy; default hidden).",
        ),
    ] = None,
    save: Annotated[
        bool, typer.Option("--save-policy", help="Store these settings as the project's policy.")
    ] = False,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model labeler NAME or NAME@VERSION (default: latest)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the audit draw.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Auto-accept confident model labels, audit a few, send the rest to humans.

    The threshold is the lowest confidence at which the model's labels on gold items reach
    the target precision with the whole 95% Clopper-Pearson interval at or above it; with
    too little gold nothing is auto-accepted. Unset options use the project's policy.
    """
    from labelloop.service.sample.routing import route

    with open_workspace() as ws:
        report = route(
            ws.store,
            project,
            model=model,
            target_precision=target_precision,
            audit_fraction=audit_fraction,
            show_suggestion=show_suggestion,
            save_policy=save,
            random_state=seed,
        )
    if as_json:
        print_json(report.as_dict())
        return
    _print_route(report)


def _print_route(report: Any) -> None:
    """The route summary, each number with what it counts."""
    pol = report.policy
    typer.echo(
        f"model {report.model}; policy: target precision {_pct(pol['target_precision'])}, "
        f"audit {_pct(pol['audit_fraction'])} of the auto-accepted, suggestions "
        f"{'shown to' if pol['show_suggestion'] else 'hidden from'} annotators"
    )
    if report.abstained:
        typer.echo(f"threshold: none, nothing auto-accepted: {report.reason}")
    else:
        typer.echo(
            f"threshold: confidence >= {report.threshold:.4f}, the lowest at which the model's "
            "labels on gold reach the target with the whole interval "
            f"({report.n_gold_above:,} of the {report.n_gold:,} gold items the model scored are "
            "at or above it)"
        )
    level = f"{report.confidence_level:.0%}"
    typer.echo(
        f"precision estimate: {_pct(report.precision)} of those gold items labeled right "
        f"by the model ({level} interval {_pct(report.ci_low)} - {_pct(report.ci_high)})"
    )
    excluded = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in report.excluded.items())
    typer.echo(
        f"routed {report.routed:,} items: those with a model prediction and no gold, no "
        f"person's answer, not auto-accepted, queued or in flight before (left out, an item may "
        f"count twice: {excluded})"
    )
    route_batch = "" if report.route_batch_id is None else f" (batch {report.route_batch_id})"
    audit_batch = "" if report.audit_batch_id is None else f" (batch {report.audit_batch_id})"
    typer.echo(
        f"  {report.auto_accepted:,} auto-accepted: confidence at or above the threshold; "
        "the model's label is recorded as an answer (source model_auto)"
    )
    typer.echo(
        f"  {report.audited:,} of them audited: sent to people as well, blind"
        f"{audit_batch}, to check the estimate"
    )
    typer.echo(
        f"  {report.to_humans:,} sent to humans: below the threshold or without a "
        f"confidence{route_batch}"
    )
    typer.echo(
        f"human labels saved: {report.human_labels_saved:,} (auto-accepted and not audited: "
        "items no person has to label)"
    )


batch_app = typer.Typer(
    help="Batches of work for people (from `sample` and `route`): list, export (hand out), "
    "requeue.",
    no_args_is_help=True,
)
app.add_typer(batch_app, name="batch", rich_help_panel="Sample")


@batch_app.command("list")
def batch_list(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Every batch, oldest first, with its items per status (queued, in_flight, done).

    An item is done once it has a gold label or an answer of a person (human or expert),
    e.g. from `labelloop import answers`.
    """
    from labelloop.service.annotate.batches import list_batches

    with open_workspace() as ws:
        batches = list_batches(ws.store, project)
    if as_json:
        print_json({"batches": [b.as_dict() for b in batches]})
        return
    if not batches:
        typer.echo("no batches yet: create one with `labelloop sample` or `labelloop route`")
        return
    typer.echo(
        f"{'batch':>6}  {'kind':<7} {'strategy':<24} {'items':>7} {'queued':>7} "
        f"{'in flight':>9} {'done':>7}  created"
    )
    for b in batches:
        typer.echo(
            f"{b.id:>6}  {b.kind:<7} {b.strategy[:24]:<24} {b.size:>7,} "
            f"{b.status['queued']:>7,} {b.status['in_flight']:>9,} {b.status['done']:>7,}  "
            f"{b.created_at}"
        )


@batch_app.command("export")
def batch_export(
    batch_id: Annotated[int, typer.Argument(help="Batch id (see `labelloop batch list`).")],
    out: Annotated[Path, typer.Argument(help="Output file, .jsonl or .csv.")],
    project: ProjectOpt = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="Export items with this status (repeatable; default: queued and in_flight).",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="jsonl or csv (default: from the file extension)."),
    ] = None,
    claim: Annotated[
        bool,
        typer.Option(
            "--claim",
            help="Hand the items out: export the queued items (unless --status says "
            "otherwise) and mark them in_flight (`labelloop batch requeue` returns "
            "unfinished ones).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a batch's open items for annotation, in rank order, whole or not at all.

    Each row has the item key as `task` (what `labelloop import answers` reads back), its
    data, rank, score and reason, and the model suggestion only where the batch may show it
    (audit batches are blind).
    """
    from labelloop.service.annotate.batches import export_batch

    with open_workspace() as ws:
        report = export_batch(
            ws.store, project, batch_id, out, statuses=status, fmt=fmt, claim=claim
        )
    if as_json:
        print_json(report.as_dict())
        return
    typer.echo(
        f"batch {report.batch_id}: {report.exported:,} items ({', '.join(report.statuses)}) "
        f"written to {report.out}"
        + (
            f"; {report.suggestions_shown:,} with a model suggestion"
            if report.suggestions_shown
            else ""
        )
        + (f"; {report.claimed:,} now in flight" if claim else "")
    )


@batch_app.command("requeue")
def batch_requeue(
    batch_id: Annotated[int, typer.Argument(help="Batch id (see `labelloop batch list`).")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Return a batch's in-flight items that nobody finished to the queue."""
    from labelloop.service.annotate.batches import requeue_batch

    with open_workspace() as ws:
        moved = requeue_batch(ws.store, project, batch_id)
    if as_json:
        print_json({"batch_id": batch_id, "requeued": moved})
        return
    typer.echo(f"batch {batch_id}: {moved:,} in-flight items back in the queue")
