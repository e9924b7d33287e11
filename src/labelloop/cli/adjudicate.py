"""`labelloop aggregate` (truth inference). The agreement command lives in `cli/agreement.py`."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import typer

from labelloop.cli import app

_HELP = " ".join(
    [
        "Infer each task's label from crowd answers (truth inference).",
        "\n\nFile mode: ANSWERS is CSV with columns worker,task,label, or JSONL (.jsonl) with",
        "those fields; one label per answer (multi-label answers are not supported yet).",
        "Repeated answers of one",
        "worker on one task are reduced to the worker's LAST answer in file order before",
        "fitting. OUT.csv gets task,label,confidence (confidence = posterior probability of",
        "the chosen label). With --gold, accuracy on the gold tasks is reported; gold is NOT",
        "used for fitting unless --clamp-gold is given. --out - writes the labels to stdout",
        "(the summary goes to stderr); --json without --out puts them in the JSON (`results`).",
        "\n\nProject mode (no ANSWERS argument): aggregates the workspace project's answer",
        "events and records an adjudication event per item whose label or confidence changed",
        "(method, version and parameters in its provenance); prints each source's estimated",
        "reliability: from gold, or from the others' votes on items it shares (never from",
        "items it answered alone), with the evidence count and a 95% interval.",
        "\n\nMethods: auto (default: weighs majority vote, one-coin, Dawid-Skene and MACE",
        "variants by how well each predicts held-out answers; a variant counts only where",
        "its EM predicts them better than its own labeler model on majority vote's labels,",
        "else majority vote; with --clamp-gold and 20+ gold tasks, by cross-validated gold",
        "accuracy; auto.v2 and auto.v1 are the former defaults), majority_vote,",
        "weighted_majority_vote, wawa,",
        "zero_based_skill, dawid_skene, one_coin_dawid_skene, hierarchical_dawid_skene, mace,",
        "glad, label_model (optionally with a version suffix such as dawid_skene.v1), or",
        "a plugin's (`labelloop plugins aggregator` lists them); --param NAME=VALUE sets an",
        "aggregator parameter (e.g. --param max_iter=50).",
    ]
)


@app.command("aggregate", help=_HELP, rich_help_panel="Adjudicate")
def aggregate(
    answers: Path | None = typer.Argument(
        None,
        help="ANSWERS.csv or .jsonl (worker,task,label). Omit for project mode.",
        show_default=False,
    ),
    method: str = typer.Option("auto", "--method", "-m", help="Aggregator name."),
    gold: Path | None = typer.Option(
        None, "--gold", help="GOLD.csv or .jsonl (task,label) to score against."
    ),
    clamp_gold: bool = typer.Option(
        False, "--clamp-gold", help="Use gold labels as known labels while fitting."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Where to write task,label,confidence (-: stdout)."
    ),
    labels: str | None = typer.Option(
        None, "--labels", help="Comma-separated allowed labels (the schema); others are an error."
    ),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Aggregator parameter NAME=VALUE (repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    project: str | None = typer.Option(
        None, "--project", help="Project mode: project name (optional while there is one)."
    ),
) -> None:
    if answers is None:
        for name, value in (("--gold", gold), ("--out", out), ("--labels", labels)):
            if value is not None:
                from labelloop.errors import InvalidInput

                raise InvalidInput(
                    f"{name} is for file mode; in project mode gold, labels and results "
                    "live in the project"
                )
        _project_mode(project, method, clamp_gold, param, as_json)
        return
    _file_mode(answers, method, gold, clamp_gold, out, labels, param, as_json)


def _project_mode(
    project: str | None, method: str, clamp_gold: bool, param: list[str], as_json: bool
) -> None:
    """Aggregate the workspace project's answers into adjudication events."""
    from labelloop.cli._common import open_workspace, print_json
    from labelloop.service.adjudicate.adjudicate import adjudicate

    with open_workspace() as ws:
        report = adjudicate(
            ws.store, project, method=method, params=_parse_params(param), clamp_gold=clamp_gold
        )
    if as_json:
        print_json(report.as_dict())
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    gold = (
        f"; accuracy on {report.gold_items:,} gold items {report.gold_accuracy:.4f}"
        if report.gold_accuracy is not None
        else ""
    )
    console.print(
        f"{report.method} on {report.answers:,} answers over {report.items:,} items "
        f"({report.n_iter} iterations, {report.seconds:.2f} s){gold}"
    )
    if report.selection is not None:
        weights = ", ".join(f"{k} {v:.2f}" for k, v in report.selection["weights"].items())
        console.print(f"chosen by {report.selection['criterion'].replace('_', ' ')}: {weights}")
    if report.skipped_answers:
        console.print(
            f"[yellow]warning:[/yellow] {report.skipped_answers:,} answers carry labels that are "
            "not in the current schema (made under an earlier version) and were left out"
        )
    console.print(
        f"{report.events_added:,} adjudication events recorded "
        f"({report.changed_labels:,} items changed label)"
    )
    kinds = Table(title="reliability per source kind")
    for col in ("kind", "labelers", "answers", "mean skill", "agreement with result"):
        kinds.add_column(col, justify="left" if col == "kind" else "right")
    for k in report.kinds:
        skill = "-" if k.mean_skill is None else f"{k.mean_skill:.3f}"
        kinds.add_row(k.kind, str(k.labelers), f"{k.answers:,}", skill, f"{k.mean_agreement:.3f}")
    console.print(kinds)
    table = Table(
        title="labelers (least reliable first; skill from gold and others' votes, never their own)"
    )
    numeric = ("answers", "skill", "95% interval", "evidence", "gold", "agreement")
    for col in ("kind", "name", "version", *numeric):
        table.add_column(col, justify="right" if col in numeric else "left")
    ranked = sorted(report.labelers, key=lambda x: (x.skill is None, x.skill or 0.0))
    for x in ranked[:25]:
        skill = "-" if x.skill is None else f"{x.skill:.3f}"
        interval = (
            "-"
            if x.skill_low is None or x.skill_high is None
            else f"{x.skill_low:.2f}-{x.skill_high:.2f}"
        )
        table.add_row(
            x.kind,
            x.name,
            x.version[:8],
            f"{x.answers:,}",
            skill,
            interval,
            f"{x.evidence:,}",
            f"{x.gold_evidence:,}",
            f"{x.agreement:.3f}",
        )
    console.print(table)
    if len(ranked) > 25:
        console.print(f"... {len(ranked) - 25} more labelers (--json lists all)")


def _parse_params(items: list[str]) -> dict[str, Any]:
    import json

    from labelloop.errors import InvalidInput

    params: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--param {item!r}: expected NAME=VALUE, e.g. max_iter=50")
        try:
            params[name.strip()] = json.loads(raw)
        except ValueError:
            params[name.strip()] = raw
    return params


def _file_mode(
    answers_path: Path,
    method: str,
    gold_path: Path | None,
    clamp_gold: bool,
    out: Path | None,
    labels: str | None,
    param: list[str],
    as_json: bool,
) -> None:
    import json

    from labelloop.errors import InvalidInput
    from labelloop.service.adjudicate.aggregate_files import aggregate_file

    to_stdout = out is not None and str(out) == "-"
    if out is None and not as_json:
        raise InvalidInput(
            "--out OUT.csv is required in file mode (--out - writes to stdout; --json "
            "without --out puts the labels in the JSON)"
        )
    names = None
    if labels is not None:
        names = [x.strip() for x in labels.split(",") if x.strip()]
        if not names:
            raise InvalidInput("--labels is empty; expected e.g. --labels ham,spam")
    summary = aggregate_file(
        answers_path,
        method=method,
        params=_parse_params(param),
        out=None if to_stdout else out,
        gold_path=gold_path,
        clamp_gold=clamp_gold,
        labels=names,
    )
    if summary["single_answer_tasks"]:
        typer.echo(
            f"warning: {summary['single_answer_tasks']} of {summary['n_tasks']} task(s) have a "
            f"single answer (e.g. {summary['single_answer_example']!r}); their labels rest on "
            "one worker",
            err=True,
        )
    if to_stdout:
        _write_labels_stdout(summary.pop("results"))
    if as_json:
        typer.echo(json.dumps(summary), err=to_stdout)
        return
    say = partial(typer.echo, err=to_stdout)  # stdout carries the labels with --out -
    say(
        f"{summary['method']}: {summary['n_tasks']} tasks, {summary['n_workers']} workers, "
        f"{summary['n_answers_used']} answers ({summary['duplicates_dropped']} repeated "
        f"dropped); {summary['iterations']} iteration(s)"
        f"{'' if summary['converged'] else ' (not converged)'} in {summary['seconds']:.3f} s"
    )
    if "gold" in summary:
        g = summary["gold"]
        acc_text = "n/a" if g["accuracy"] is None else f"{100 * g['accuracy']:.2f}%"
        clamp_note = " (gold clamped)" if clamp_gold else ""
        say(f"accuracy on {g['tasks_scored']} gold task(s): {acc_text}{clamp_note}")
    say("wrote labels to stdout" if to_stdout else f"wrote {out}")


def _write_labels_stdout(rows: list[dict[str, Any]]) -> None:
    """``task,label,confidence`` CSV on stdout (an uninferred label as an empty cell)."""
    import csv
    import sys

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["task", "label", "confidence"])
    for row in rows:
        writer.writerow([row["task"], row["label"] or "", row["confidence"]])
    sys.stdout.flush()
