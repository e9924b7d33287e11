"""Label a project's items with an LLM endpoint; each valid answer becomes an answer event.

The LLM is a labeler like any other: kind ``llm``, name = the model, version = hash of the
model, prompt template version, schema content hash and request parameters (so changing
any of them is a new labeler whose answers are kept apart). A run picks the items this
labeler version has not answered yet, asks the endpoint outside any transaction, then
appends the valid answers in one write transaction (idempotency key per labeler and item,
so concurrent or repeated runs never duplicate an answer). Failures are reported, not
written: the next run asks again. Worked examples of the schema are in the prompt, so their
items are not asked (that would be reading the answer off the prompt).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from labelloop.core.provenance import canonical_json
from labelloop.errors import InvalidInput
from labelloop.labelers.llm import (
    PROMPT_TEMPLATE_VERSION,
    LLMCache,
    LLMLabeler,
    summarize_usage,
)
from labelloop.service.project.schemas import require_schema
from labelloop.store import repo
from labelloop.store.answers import item_contents, list_labelers
from labelloop.store.engine import Store

CACHE_PATH = Path(".labelloop") / "cache" / "llm.sqlite"
"""The response cache, relative to the workspace folder (not the project database)."""

SOURCE = "model"
"""Event source of LLM answers (the store's sources: import, api, ui, model, ...)."""

MAX_FAILURES = 0.5
"""Default share of failed items above which a run stops asking. Above one half the
endpoint, model name, key or prompt fails more often than it works (a down server or a
wrong model fails nearly every item), while transient errors that survive the retries
stay far below it; stopping then saves the time and cost of asking the rest."""

MIN_FAILURE_SAMPLE = 10
"""Items asked before the failure share may stop a run (a failed first item says little)."""


@dataclass
class LLMLabelReport:
    project: str
    model: str
    labeler_version: str
    endpoint: str
    schema_version: str
    pending: int
    """Items this labeler version had not answered (before ``limit``)."""
    asked: int
    labeled: int
    failed: int
    cached: int
    events_added: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    seconds: float
    skipped_examples: int
    skipped_without_input: int
    failures_by_kind: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    max_failures: float = MAX_FAILURES
    stopped_early: bool = False
    """The failure share passed ``max_failures``: items after the stop were not asked."""
    not_asked: int = 0
    """Items of this run left unasked because it stopped early."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _endpoint(base_url: str) -> str:
    """The base URL without credentials, query or fragment (for provenance)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def llm_label(
    store: Store,
    project_name: str | None,
    *,
    base_url: str,
    model: str,
    limit: int | None = None,
    cache_path: Path | None = None,
    progress: Callable[[int], None] | None = None,
    max_failures: float = MAX_FAILURES,
    **options: Any,
) -> LLMLabelReport:
    """Ask the LLM for the label of each item it has not answered; write the valid answers.

    Once at least :data:`MIN_FAILURE_SAMPLE` items were asked and more than
    ``max_failures`` (a share, 0..1) of them failed, no further item is asked; the answers
    received are still written and the report says ``stopped_early``.
    ``options`` go to :class:`~labelloop.labelers.llm.LLMLabeler` (``max_concurrency``,
    ``timeout_s``, ``max_retries``, ``temperature``, ``self_consistency``, prices, ...).
    """
    if limit is not None and limit < 1:
        raise InvalidInput(f"limit must be a positive number of items, saw {limit}")
    if not 0.0 <= max_failures <= 1.0:
        raise InvalidInput(
            f"max failures must be a share between 0 and 1 (e.g. 0.5), saw {max_failures}"
        )
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        version_id, schema = require_schema(
            conn, project, needed_for="the LLM is prompted with its labels and guidelines"
        )
        labeler = LLMLabeler(base_url, model, schema=schema, **options)
        identity = (LLMLabeler.kind, model, labeler.version)
        labeler_id = next(
            (
                x.id
                for x in list_labelers(conn, project, kind=identity[0])
                if x.identity == identity
            ),
            None,
        )
        items = item_contents(conn, project, unanswered_by=labeler_id)
    examples = {canonical_json(ex.data) for ex in schema.examples_as_gold()}
    todo: list[tuple[int, str, dict[str, Any]]] = []
    skipped_examples = skipped_empty = pending = 0
    for item in items:
        data = item.data
        if examples and canonical_json(data) in examples:
            skipped_examples += 1
            continue
        if not data or schema.check_item(data):
            # known only by id (from an answers import) or not fitting the schema's inputs
            skipped_empty += 1
            continue
        pending += 1
        if limit is None or len(todo) < limit:
            todo.append((item.id, item.key, data))

    cache = LLMCache(cache_path) if cache_path is not None and todo else None
    labeler.cache = cache

    def stop(done: int, failed: int) -> bool:
        return done >= MIN_FAILURE_SAMPLE and failed > max_failures * done

    start = time.perf_counter()
    try:
        results = labeler.label_items(
            [(key, data) for _, key, data in todo], progress=progress, stop=stop
        )
    finally:
        if cache is not None:
            cache.close()
    seconds = time.perf_counter() - start
    asked = todo[: len(results)]  # a stop leaves a tail of the items unasked

    endpoint = _endpoint(base_url)
    params = labeler.params()
    with store.write() as conn:
        project = repo.get_project(conn, project.name, lock=True)
        ids = repo.ensure_labelers(conn, project, {identity})
        labeler_id = ids[identity]
        drafts = []
        for (item_id, _, _), result in zip(asked, results, strict=True):
            if result.label is None:
                continue
            payload: dict[str, Any] = {
                "llm": True,
                "endpoint": endpoint,
                "template": PROMPT_TEMPLATE_VERSION,
                "params": params,
                "prompt_hash": result.prompt_hash,
                "confidence": result.confidence,
                "attempts": result.attempts,
                "cached": result.cached,
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
                "cost": result.cost,
            }
            if result.votes is not None:
                payload["votes"] = result.votes
            if result.rationale:
                payload["rationale"] = result.rationale[:1000]
            drafts.append(
                repo.EventDraft(
                    type="answer",
                    item_id=item_id,
                    labeler_id=labeler_id,
                    label=result.label,
                    schema_version_id=version_id,
                    source=SOURCE,
                    idempotency_key=f"llm:{labeler_id}:{item_id}",
                    payload=payload,
                )
            )
        added = repo.append_events(conn, project.name, drafts)

    usage = summarize_usage(results)
    return LLMLabelReport(
        project=project.name,
        model=model,
        labeler_version=labeler.version,
        endpoint=endpoint,
        schema_version=schema.version,
        pending=pending,
        asked=len(asked),
        labeled=usage.labeled,
        failed=usage.failed,
        cached=usage.cached,
        events_added=added,
        requests=usage.requests,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost=usage.cost,
        seconds=round(seconds, 3),
        skipped_examples=skipped_examples,
        skipped_without_input=skipped_empty,
        failures_by_kind=usage.failures_by_kind,
        failures=[{"item": r.item_key, "failure": r.failure or ""} for r in results if not r.ok],
        max_failures=max_failures,
        stopped_early=len(asked) < len(todo),
        not_asked=len(todo) - len(asked),
    )
