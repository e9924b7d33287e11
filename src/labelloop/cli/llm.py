"""`labelloop llm label`: label the project's items with an OpenAI-compatible endpoint."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from labelloop.cli import app, fail
from labelloop.cli._common import JsonOpt, ProjectOpt, open_workspace, print_json, progress_bar

llm_app = typer.Typer(
    help="Label items with an LLM (OpenAI-compatible chat-completions endpoint).",
    no_args_is_help=True,
)
app.add_typer(llm_app, name="llm", rich_help_panel="Annotate")

SHOWN_FAILURES = 10


@llm_app.command("label")
def llm_label_cmd(
    base_url: Annotated[
        str,
        typer.Option(
            "--base-url",
            help="Endpoint base URL, e.g. http://127.0.0.1:8000/v1 (POST {URL}/chat/completions).",
        ),
    ],
    model: Annotated[str, typer.Option("--model", help="Model name sent to the endpoint.")],
    project: ProjectOpt = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Ask about at most N items.")
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Requests in flight at most.")
    ] = 4,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.001, help="Seconds to wait for a response.")
    ] = 30.0,
    max_retries: Annotated[
        int,
        typer.Option(
            "--max-retries",
            min=0,
            help="Retries per item after a timeout, 429, 5xx or an invalid answer.",
        ),
    ] = 3,
    temperature: Annotated[
        float, typer.Option("--temperature", min=0.0, help="Sampling temperature (0: greedy).")
    ] = 0.0,
    self_consistency: Annotated[
        int,
        typer.Option(
            "--self-consistency",
            min=1,
            help="Samples per item; confidence = vote share (needs --temperature > 0).",
        ),
    ] = 1,
    logprobs: Annotated[
        bool,
        typer.Option(
            "--logprobs/--no-logprobs", help="Ask for token logprobs (confidence of the label)."
        ),
    ] = True,
    response_format: Annotated[
        str,
        typer.Option(
            "--response-format",
            help="json_schema (labels as an enum), json_object or none; falls back when refused.",
        ),
    ] = "json_schema",
    price_prompt: Annotated[
        float, typer.Option("--price-prompt", min=0.0, help="Price per 1,000 prompt tokens.")
    ] = 0.0,
    price_completion: Annotated[
        float,
        typer.Option("--price-completion", min=0.0, help="Price per 1,000 completion tokens."),
    ] = 0.0,
    max_failures: Annotated[
        float,
        typer.Option(
            "--max-failures",
            min=0.0,
            max=1.0,
            metavar="SHARE",
            help="Stop asking once more than this share of the items asked so far failed "
            "(checked from the 10th item on; 1: never stop). Above one half the endpoint, "
            "model or prompt is broken more often than it works, while the occasional "
            "failure that survives the retries stays far below it.",
        ),
    ] = 0.5,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache",
            help="Reuse answers cached in .labelloop/cache/llm.sqlite of the workspace.",
        ),
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Ask the LLM for the label of every item it has not answered yet; record valid answers.

    The prompt is the schema's guidelines and labels, with its worked examples as few-shot.

    Answers must be {"label": ...} naming a schema label; invalid ones are retried, then reported.

    Failed items are never guessed and never written: run the command again to retry them.

    The API key comes from LABELLOOP_LLM_API_KEY.

    The LLM is a labeler: kind llm, name MODEL, version = hash of model, prompt, schema, params.
    """
    from labelloop.service.annotate.llm import CACHE_PATH, llm_label

    with open_workspace() as ws:
        cache_path = ws.root / CACHE_PATH if cache and ws.root is not None else None
        with progress_bar("asking the LLM") as progress:
            report = llm_label(
                ws.store,
                project,
                base_url=base_url,
                model=model,
                limit=limit,
                cache_path=cache_path,
                progress=progress,
                max_concurrency=concurrency,
                timeout_s=timeout,
                max_retries=max_retries,
                temperature=temperature,
                self_consistency=self_consistency,
                use_logprobs=logprobs,
                response_format=response_format,
                price_per_1k_prompt=price_prompt,
                price_per_1k_completion=price_completion,
                max_failures=max_failures,
            )
    if as_json:
        print_json(report.as_dict())
    else:
        _print_report(report)
    if report.stopped_early:
        raise fail(
            f"stopped early: {report.failed:,} of {report.asked:,} item(s) asked failed, more "
            f"than --max-failures {report.max_failures:g}; {report.not_asked:,} item(s) not "
            f"asked, {report.events_added:,} answer(s) recorded",
            code=1,
        )
    if report.asked and not report.labeled:
        raise fail(
            f"all {report.asked:,} item(s) asked failed; no answer recorded "
            f"(first failure: {report.failures[0]['failure']})",
            code=1,
        )


def _print_report(report: Any) -> None:
    typer.echo(
        f"{report.model} ({report.labeler_version}): asked {report.asked:,} of "
        f"{report.pending:,} unanswered item(s); labeled {report.labeled:,} "
        f"({report.cached:,} from cache), failed {report.failed:,}; "
        f"{report.events_added:,} answer(s) recorded"
    )
    typer.echo(
        f"{report.requests:,} request(s), {report.prompt_tokens:,} prompt + "
        f"{report.completion_tokens:,} completion tokens, cost {report.cost:.6g} "
        f"in {report.seconds:.1f} s"
    )
    for failure in report.failures[:SHOWN_FAILURES]:
        typer.echo(f"failed: {failure['item']}: {failure['failure']}")
    if report.failed > SHOWN_FAILURES:
        typer.echo(f"... and {report.failed - SHOWN_FAILURES:,} more failure(s) (see --json)")
    if report.failed:
        typer.echo("failed items get no answer; run the command again to retry them")
