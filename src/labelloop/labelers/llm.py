"""LLM labeler: ask an OpenAI-compatible chat-completions endpoint for each item's label.

The prompt is built from the schema (name, description, instructions, labels with their
descriptions) with the schema's worked examples as few-shot turns; each answer must be the
JSON object ``{"label": "<one of the labels>"}`` (a ``rationale`` key is allowed). Answers
that are not JSON, lack a label or name a label outside the schema are retried with a
corrective message and, once the retries are spent, recorded as failures: a label is never
guessed.

Transport: ``httpx.AsyncClient``; at most ``max_concurrency`` requests in flight (a fixed
pool of workers, so memory stays flat on large batches); 429 and 5xx responses, timeouts
and unreadable bodies are retried with exponential backoff and jitter, honouring
``Retry-After``. Other 4xx answers other than a rejected ``response_format`` are
configuration errors (wrong key, URL or model) and stop the run with :class:`ConfigError`.
Each item gets ``self_consistency + max_retries`` requests at most, whatever went wrong.

Confidence: with ``self_consistency=n > 1`` the share of the ``n`` sampled answers that
voted for the winning label (ties are failures, not coin flips); otherwise, when the server
returns token logprobs, ``exp`` of the summed logprobs of the tokens spelling the label;
otherwise ``None``.

Cache: an optional :class:`LLMCache` (a small SQLite file, stdlib ``sqlite3`` in WAL mode)
maps ``(model, prompt_hash)`` to the valid outcome, where the prompt hash is the SHA-256 of
the canonical JSON of (model, messages, request parameters). Failures are not cached.
Tokens and cost count what a run spent: a cached answer spends nothing.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import os
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from labelloop.core.provenance import canonical_json, content_hash
from labelloop.errors import ConfigError, InvalidInput
from labelloop.schema import Schema, SingleLabelSchema

__all__ = [
    "API_KEY_ENV",
    "PROMPT_TEMPLATE_VERSION",
    "LLMCache",
    "LLMLabeler",
    "LLMResult",
    "LLMUsage",
    "build_messages",
    "summarize_usage",
]

API_KEY_ENV = "LABELLOOP_LLM_API_KEY"
PROMPT_TEMPLATE_VERSION = "1"
"""Bumped whenever :func:`build_messages` changes what it sends (part of the labeler version)."""

RESPONSE_FORMATS = ("json_schema", "json_object", "none")

ItemInput = tuple[str, Mapping[str, Any]]
"""An item to label: (item key, item data)."""
StopRule = Callable[[int, int], bool]
"""``stop(done, failed)``: True to start no further item (see :meth:`LLMLabeler.alabel_items`)."""


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LLMResult:
    """The outcome for one item: a label (with confidence) or a failure, never both."""

    item_key: str
    label: str | None
    confidence: float | None
    failure: str | None
    """``"<kind>: <detail>"``; kinds: timeout, rate_limited, server_error,
    malformed_response, invalid_json, missing_label, label_not_in_schema, tied_votes."""
    attempts: int
    """HTTP requests made for this item in this run (0 when cached)."""
    prompt_tokens: int
    completion_tokens: int
    cost: float
    cached: bool
    prompt_hash: str
    rationale: str | None = None
    votes: dict[str, int] | None = None
    raw: Any = None
    """The last answer text(s) received (for failures: what was wrong)."""

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def failure_kind(self) -> str | None:
        return None if self.failure is None else self.failure.split(":", 1)[0]


@dataclass(frozen=True)
class LLMUsage:
    """Totals over a batch of results."""

    items: int
    labeled: int
    failed: int
    cached: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    failures_by_kind: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize_usage(results: Iterable[LLMResult]) -> LLMUsage:
    """Labeled/failed/cached counts, requests, tokens and cost of ``results``."""
    rows = list(results)
    kinds = Counter(r.failure_kind for r in rows if r.failure_kind is not None)
    return LLMUsage(
        items=len(rows),
        labeled=sum(r.ok for r in rows),
        failed=sum(not r.ok for r in rows),
        cached=sum(r.cached for r in rows),
        requests=sum(r.attempts for r in rows),
        prompt_tokens=sum(r.prompt_tokens for r in rows),
        completion_tokens=sum(r.completion_tokens for r in rows),
        cost=round(sum(r.cost for r in rows), 10),
        failures_by_kind=dict(sorted(kinds.items())),
    )


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------


class LLMCache:
    """Valid LLM outcomes by (model, prompt hash) in a small SQLite file (WAL mode).

    Not the project database: a disposable cache; deleting the file only costs requests.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS responses ("
                " model TEXT NOT NULL, prompt_hash TEXT NOT NULL, response TEXT NOT NULL,"
                " created_at REAL NOT NULL, PRIMARY KEY (model, prompt_hash))"
            )
            self._conn.commit()

    def get(self, model: str, prompt_hash: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT response FROM responses WHERE model = ? AND prompt_hash = ?",
                (model, prompt_hash),
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put(self, model: str, prompt_hash: str, response: Mapping[str, Any]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses (model, prompt_hash, response, created_at)"
                " VALUES (?, ?, ?, ?)",
                (model, prompt_hash, canonical_json(dict(response)), time.time()),
            )
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# --------------------------------------------------------------------------------------------
# Prompt
# --------------------------------------------------------------------------------------------


def _item_fields(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    """The item fields the model sees: the schema's declared inputs, else all fields."""
    if schema.inputs:
        return {f.name: data[f.name] for f in schema.inputs if data.get(f.name) is not None}
    return dict(data)


def _render_item(fields: Mapping[str, Any]) -> str:
    return "Item:\n" + json.dumps(dict(fields), ensure_ascii=False, indent=1)


def _answer_text(label: str, rationale: str | None = None) -> str:
    body: dict[str, str] = {"label": label}
    if rationale:
        body["rationale"] = rationale
    return json.dumps(body, ensure_ascii=False)


def build_messages(schema: SingleLabelSchema, data: Mapping[str, Any]) -> list[dict[str, str]]:
    """Chat messages asking for ``data``'s label: system guidelines, few-shot turns, the item."""
    labels = schema.label_space.labels
    lines = [f"You label items for the task {schema.name!r} (guidelines version {schema.version})."]
    if schema.description:
        lines.append(schema.description)
    if schema.instructions:
        lines += ["", "Instructions:", schema.instructions]
    lines += ["", "Labels:"]
    for label in schema.labels:
        lines.append(
            f"- {label.name}: {label.description}" if label.description else f"- {label.name}"
        )
    lines += [
        "",
        'Answer with one JSON object and nothing else: {"label": "<label>", "rationale": '
        '"<one short sentence>"}, where <label> is exactly one of: '
        + ", ".join(json.dumps(x, ensure_ascii=False) for x in labels)
        + ".",
    ]
    messages = [{"role": "system", "content": "\n".join(lines)}]
    for ex in schema.examples:
        messages.append({"role": "user", "content": _render_item(_item_fields(schema, ex.input))})
        messages.append({"role": "assistant", "content": _answer_text(ex.label, ex.rationale)})
    messages.append({"role": "user", "content": _render_item(_item_fields(schema, data))})
    return messages


def _corrective(problem: str, labels: Sequence[str]) -> str:
    return (
        f"That answer is not usable: {problem}. Reply again with only the JSON object "
        '{"label": "<label>"} where <label> is exactly one of: '
        + ", ".join(json.dumps(x, ensure_ascii=False) for x in labels)
        + "."
    )


# --------------------------------------------------------------------------------------------
# Parsing answers
# --------------------------------------------------------------------------------------------


class _BadAnswer(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def _strip_fence(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else text[3:]
        if text.rstrip().endswith("```"):
            text = text.rstrip()[:-3]
    return text.strip()


def _parse_answer(content: Any, labels: Sequence[str]) -> tuple[str, str | None]:
    """(label, rationale) of one answer text; :class:`_BadAnswer` when unusable."""
    if not isinstance(content, str) or not content.strip():
        raise _BadAnswer("invalid_json", "the answer is empty; expected a JSON object")
    try:
        body = json.loads(_strip_fence(content))
    except ValueError:
        shown = content if len(content) <= 80 else content[:77] + "..."
        raise _BadAnswer("invalid_json", f"the answer {shown!r} is not JSON") from None
    if not isinstance(body, dict):
        raise _BadAnswer("invalid_json", f"expected a JSON object, saw {type(body).__name__}")
    if "label" not in body:
        raise _BadAnswer(
            "missing_label", f'the JSON object has no "label" key (keys: {sorted(body)})'
        )
    label = body["label"]
    if not isinstance(label, str) or label not in labels:
        raise _BadAnswer(
            "label_not_in_schema",
            f"label {json.dumps(label, ensure_ascii=False)} is not one of {list(labels)}",
        )
    rationale = body.get("rationale")
    return label, rationale if isinstance(rationale, str) else None


def _label_logprob(choice: Mapping[str, Any], content: str, label: str) -> float | None:
    """Summed logprob of the tokens that spell ``label``'s value in ``content``, if given."""
    lp = choice.get("logprobs")
    tokens = lp.get("content") if isinstance(lp, Mapping) else None
    if not isinstance(tokens, list) or not tokens:
        return None
    try:
        text = "".join(str(t["token"]) for t in tokens)
        values = [float(t["logprob"]) for t in tokens]
    except (KeyError, TypeError, ValueError):
        return None
    if text != content:  # tokens do not spell the answer: cannot locate the label
        return None
    key = text.find('"label"')
    if key < 0:
        return None
    quote = text.find('"', text.find(":", key + 7) + 1)
    if quote < 0 or text[quote + 1 : quote + 1 + len(label)] != label:
        return None
    start, end = quote + 1, quote + 1 + len(label)
    total = 0.0
    pos = 0
    for token, value in zip(tokens, values, strict=True):
        t_start, pos = pos, pos + len(str(token["token"]))
        if t_start < end and pos > start:
            total += value
    return total


# --------------------------------------------------------------------------------------------
# Labeler
# --------------------------------------------------------------------------------------------


class _Transient(Exception):
    """A request that may succeed when retried (timeout, 429, 5xx, unreadable body)."""

    def __init__(self, kind: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after


class _FormatRejected(Exception):
    def __init__(self, rejected: str) -> None:
        super().__init__(rejected)
        self.rejected = rejected


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _short(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


class LLMLabeler:
    """Labels items with an OpenAI-compatible chat-completions endpoint (see module docs)."""

    kind = "llm"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        schema: Schema,
        api_key: str | None = None,
        max_concurrency: int = 4,
        timeout_s: float = 30.0,
        max_retries: int = 3,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        temperature: float = 0.0,
        max_tokens: int | None = 200,
        self_consistency: int = 1,
        use_logprobs: bool = True,
        response_format: str = "json_schema",
        price_per_1k_prompt: float = 0.0,
        price_per_1k_completion: float = 0.0,
        cache: LLMCache | None = None,
        random_state: int | None = 0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not isinstance(schema, SingleLabelSchema):
            raise InvalidInput(
                f"the LLM labeler supports single_label schemas; schema {schema.name!r} "
                f"version {schema.version} is {schema.task}"
            )
        if len(schema.label_space) < 2:
            raise InvalidInput(
                f"schema {schema.name!r} has {len(schema.label_space)} label(s); "
                "expected at least 2 to ask an LLM to choose"
            )
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base URL {base_url!r} is not an http(s) URL; expected e.g. http://127.0.0.1:8000/v1"
            )
        if not model.strip():
            raise ConfigError("model name is empty; expected e.g. --model gpt-4o-mini")
        checks = (
            (max_concurrency >= 1, f"max_concurrency must be >= 1, saw {max_concurrency}"),
            (timeout_s > 0, f"timeout_s must be > 0, saw {timeout_s}"),
            (max_retries >= 0, f"max_retries must be >= 0, saw {max_retries}"),
            (self_consistency >= 1, f"self_consistency must be >= 1, saw {self_consistency}"),
            (
                response_format in RESPONSE_FORMATS,
                f"response_format must be one of {list(RESPONSE_FORMATS)}, saw {response_format!r}",
            ),
            (
                self_consistency == 1 or temperature > 0,
                f"self_consistency={self_consistency} needs temperature > 0 (samples at "
                f"temperature {temperature} are identical)",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.schema = schema
        self.api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.self_consistency = self_consistency
        self.use_logprobs = use_logprobs
        self.response_format = response_format
        self.price_per_1k_prompt = price_per_1k_prompt
        self.price_per_1k_completion = price_per_1k_completion
        self.cache = cache
        self._rng = random.Random(random_state)
        self._transport = transport
        self._format = response_format  # falls back when the server rejects a format
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    # -- identity --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Labeler name: the model name sent to the endpoint."""
        return self.model

    def provenance(self) -> dict[str, Any]:
        """What produced this labeler's answers (for answer events and dataset manifests)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "prompt_template": PROMPT_TEMPLATE_VERSION,
            "schema": self.schema.content_hash,
            "params": self.params(),
        }

    def params(self) -> dict[str, Any]:
        """Request parameters that shape answers (part of the prompt hash and the version)."""
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "self_consistency": self.self_consistency,
            "logprobs": self.use_logprobs,
            "response_format": self.response_format,
        }

    @property
    def version(self) -> str:
        """Labeler version: hash of model, prompt template version, schema and parameters."""
        digest = content_hash(
            {
                "model": self.model,
                "template": PROMPT_TEMPLATE_VERSION,
                "schema": self.schema.content_hash,
                "params": self.params(),
            }
        )
        return f"p{PROMPT_TEMPLATE_VERSION}-{digest[:12]}"

    def messages_for(self, data: Mapping[str, Any]) -> list[dict[str, str]]:
        assert isinstance(self.schema, SingleLabelSchema)
        return build_messages(self.schema, data)

    def prompt_hash(self, messages: Sequence[Mapping[str, str]]) -> str:
        return content_hash(
            {"model": self.model, "messages": list(messages), "params": self.params()}
        )

    # -- public API ------------------------------------------------------------------------

    def label_items(
        self,
        items: Iterable[ItemInput],
        *,
        progress: Callable[[int], None] | None = None,
        stop: StopRule | None = None,
    ) -> list[LLMResult]:
        """Label ``(key, data)`` items; results in input order (sync wrapper).

        Inside a running event loop (a notebook, an async server) the work runs on a helper
        thread with its own loop; from async code prefer :meth:`alabel_items`.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.alabel_items(items, progress=progress, stop=stop))
        from concurrent.futures import ThreadPoolExecutor

        todo = list(items)
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(
                lambda: asyncio.run(self.alabel_items(todo, progress=progress, stop=stop))
            ).result()

    async def alabel_items(
        self,
        items: Iterable[ItemInput],
        *,
        progress: Callable[[int], None] | None = None,
        stop: StopRule | None = None,
    ) -> list[LLMResult]:
        """Label ``(key, data)`` items with at most ``max_concurrency`` requests in flight.

        ``stop(done, failed)`` is asked after each finished item: once it returns True no
        further item is started (those in flight finish), and only the items started get a
        result; they are the first ones of ``items``, in input order.
        """
        todo = list(items)
        results: list[LLMResult | None] = [None] * len(todo)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(len(todo)):
            queue.put_nowait(i)
        done = failed = 0
        stopped = False
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        async with httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(max_connections=self.max_concurrency),
            transport=self._transport,
        ) as client:

            async def worker() -> None:
                nonlocal done, failed, stopped
                while not stopped:
                    try:
                        i = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    key, data = todo[i]
                    result = await self._label_one(client, key, data)
                    results[i] = result
                    done += 1
                    failed += not result.ok
                    if progress is not None:
                        progress(done)
                    if stop is not None and not stopped and stop(done, failed):
                        stopped = True

            workers = [asyncio.create_task(worker()) for _ in range(self.max_concurrency)]
            try:
                await asyncio.gather(*workers)
            except BaseException:
                for w in workers:
                    w.cancel()
                raise
        return [r for r in results if r is not None]

    # -- one item --------------------------------------------------------------------------

    async def _label_one(
        self, client: httpx.AsyncClient, key: str, data: Mapping[str, Any]
    ) -> LLMResult:
        messages = self.messages_for(data)
        phash = self.prompt_hash(messages)
        if self.cache is not None:
            hit = self.cache.get(self.model, phash)
            if hit is not None and hit.get("label") in self.schema.label_space:
                return LLMResult(
                    item_key=key,
                    label=hit["label"],
                    confidence=hit.get("confidence"),
                    failure=None,
                    attempts=0,
                    prompt_tokens=0,
                    completion_tokens=0,
                    cost=0.0,
                    cached=True,
                    prompt_hash=phash,
                    rationale=hit.get("rationale"),
                    votes=hit.get("votes"),
                    raw=hit.get("raw"),
                )
        labels = self.schema.label_space.labels
        budget = self.self_consistency + self.max_retries
        attempts = 0
        prompt_tokens = completion_tokens = 0
        conversation = list(messages)
        last_failure = ("server_error", "no request made")
        last_raw: Any = None
        history: list[str] = []
        votes: Counter[str] = Counter()
        rationales: dict[str, str | None] = {}
        logprob: float | None = None
        n_wanted = self.self_consistency
        while attempts < budget:
            attempts += 1
            n = n_wanted - sum(votes.values())
            try:
                body = await self._request(client, conversation, n)
            except _Transient as exc:
                last_failure = (exc.kind, exc.detail)
                history.append(exc.kind)
                if attempts < budget:
                    await self._backoff(attempts, exc.retry_after)
                continue
            raw_usage = body.get("usage")
            usage: Mapping[str, Any] = raw_usage if isinstance(raw_usage, Mapping) else {}
            prompt_tokens += int(usage.get("prompt_tokens") or 0)
            completion_tokens += int(usage.get("completion_tokens") or 0)
            choices = body.get("choices")
            if not isinstance(choices, list) or not choices:
                last_failure = ("malformed_response", "the response has no choices")
                history.append("malformed_response")
                if attempts < budget:
                    await self._backoff(attempts, None)
                continue
            bad: _BadAnswer | None = None
            bad_content: Any = None
            contents = []
            for choice in choices[:n]:
                message = choice.get("message") if isinstance(choice, Mapping) else None
                content = message.get("content") if isinstance(message, Mapping) else None
                contents.append(content)
                try:
                    label, rationale = _parse_answer(content, labels)
                except _BadAnswer as exc:
                    bad, bad_content = exc, content
                    continue
                votes[label] += 1
                rationales.setdefault(label, rationale)
                if n_wanted == 1 and self.use_logprobs and isinstance(content, str):
                    logprob = _label_logprob(choice, content, label)
            last_raw = contents if n_wanted > 1 else contents[0]
            if sum(votes.values()) >= n_wanted or (votes and bad is None):
                if sum(votes.values()) >= n_wanted:
                    break
                continue  # the server sent fewer choices than asked: ask for the rest
            if bad is not None:
                last_failure = (bad.kind, bad.detail)
                history.append(bad.kind)
                if not votes:
                    conversation = [
                        *messages,
                        {"role": "assistant", "content": str(bad_content or "")},
                        {"role": "user", "content": _corrective(bad.detail, labels)},
                    ]
        cost = round(
            (
                prompt_tokens * self.price_per_1k_prompt
                + completion_tokens * self.price_per_1k_completion
            )
            / 1000.0,
            10,
        )

        def result(label: str | None, confidence: float | None, failure: str | None) -> LLMResult:
            return LLMResult(
                item_key=key,
                label=label,
                confidence=confidence,
                failure=failure,
                attempts=attempts,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost=cost,
                cached=False,
                prompt_hash=phash,
                rationale=rationales.get(label) if label is not None else None,
                votes=dict(votes) if n_wanted > 1 else None,
                raw=last_raw,
            )

        if not votes:
            kind, detail = last_failure
            return result(
                None, None, f"{kind}: {detail} (after {attempts} request(s): {', '.join(history)})"
            )
        ranked = votes.most_common()
        total = sum(votes.values())
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            tied = sorted(x for x, c in ranked if c == ranked[0][1])
            return result(None, None, f"tied_votes: {dict(votes)} ({tied} tie; no label guessed)")
        label = ranked[0][0]
        confidence: float | None = None
        if n_wanted > 1:
            # share of the samples asked for: an invalid sample is no vote for the winner
            confidence = round(ranked[0][1] / max(total, n_wanted), 6)
        elif logprob is not None:
            confidence = round(math.exp(min(0.0, logprob)), 6)
        final = result(label, confidence, None)
        if self.cache is not None:
            self.cache.put(
                self.model,
                phash,
                {
                    "label": label,
                    "confidence": confidence,
                    "rationale": final.rationale,
                    "votes": final.votes,
                    "raw": last_raw,
                },
            )
        return final

    async def _backoff(self, attempt: int, retry_after: float | None) -> None:
        if retry_after is not None:
            delay = min(retry_after, self.backoff_max_s)
        else:
            delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
            delay *= 0.5 + 0.5 * self._rng.random()  # jitter: spread retries of many workers
        await self._sleep(delay)

    def _payload(self, messages: Sequence[Mapping[str, str]], n: int) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "temperature": self.temperature,
        }
        if self.max_tokens is not None:
            payload["max_tokens"] = self.max_tokens
        if n > 1:
            payload["n"] = n
        if self.use_logprobs and self.self_consistency == 1:
            payload["logprobs"] = True
        if self._format == "json_object":
            payload["response_format"] = {"type": "json_object"}
        elif self._format == "json_schema":
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": "label",
                    "strict": True,
                    "schema": {
                        "type": "object",
                        "properties": {
                            "label": {
                                "type": "string",
                                "enum": list(self.schema.label_space.labels),
                            },
                            "rationale": {"type": "string"},
                        },
                        "required": ["label", "rationale"],
                        "additionalProperties": False,
                    },
                },
            }
        return payload

    @staticmethod
    def _format_of(payload: Mapping[str, Any]) -> str:
        fmt = payload.get("response_format")
        return str(fmt["type"]) if isinstance(fmt, Mapping) else "none"

    async def _request(
        self, client: httpx.AsyncClient, messages: Sequence[Mapping[str, str]], n: int
    ) -> dict[str, Any]:
        while True:
            try:
                return await self._post(client, self._payload(messages, n))
            except _FormatRejected as exc:
                # The server does not take this response_format: fall back, for all items
                # (once per format, however many requests were refused at the same time).
                if self._format == exc.rejected:
                    self._format = RESPONSE_FORMATS[RESPONSE_FORMATS.index(exc.rejected) + 1]

    async def _post(self, client: httpx.AsyncClient, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await client.post("/chat/completions", json=payload)
        except httpx.TimeoutException:
            raise _Transient("timeout", f"no response within {self.timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise _Transient("server_error", f"connection failed: {exc}") from None
        status = response.status_code
        if status == 429:
            raise _Transient(
                "rate_limited",
                f"HTTP 429 {_short(response.text)}",
                _retry_after(response.headers.get("retry-after")),
            )
        if status >= 500:
            raise _Transient(
                "server_error",
                f"HTTP {status} {_short(response.text)}",
                _retry_after(response.headers.get("retry-after")),
            )
        if status in (400, 422) and "response_format" in payload:
            text = response.text.lower()
            if "response_format" in text or "json_schema" in text or "json_object" in text:
                raise _FormatRejected(self._format_of(payload))
        if status >= 400:
            raise ConfigError(
                f"{self.base_url}/chat/completions answered HTTP {status} for model "
                f"{self.model!r}: {_short(response.text)}; expected 200 (check the URL, model "
                f"name and API key in {API_KEY_ENV})"
            )
        try:
            body = response.json()
        except ValueError:
            raise _Transient(
                "malformed_response",
                f"the response body is not JSON: {_short(response.text, 80)!r}",
            ) from None
        if not isinstance(body, dict):
            raise _Transient("malformed_response", "the response body is not a JSON object")
        return body
