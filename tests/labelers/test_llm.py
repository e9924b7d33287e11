"""LLM labeler against a scripted OpenAI-compatible server on loopback (no other network)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

import labelloop
from labelloop.errors import ConfigError, InvalidInput
from labelloop.labelers.llm import API_KEY_ENV, LLMCache, LLMLabeler, summarize_usage
from labelloop.schema import Schema, load_schema, schema_from_dict
from tests.labelers.llm_server import (
    LLMServer,
    Reply,
    broken_body,
    content,
    ok,
    slow,
    status,
    votes,
)

DEMO_SCHEMA = Path(labelloop.__file__).parent / "data" / "demo" / "spam_schema.yaml"
ITEM = ("c1", {"text": "subscribe to my channel!!", "author": "someone"})


@pytest.fixture(scope="module")
def schema() -> Schema:
    return load_schema(DEMO_SCHEMA)


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with LLMServer() as srv:
        yield srv


def make(server: LLMServer, schema: Schema, **kw) -> LLMLabeler:
    kw.setdefault("backoff_base_s", 0.001)
    kw.setdefault("timeout_s", 5.0)
    labeler = LLMLabeler(server.url, "test-model", schema=schema, **kw)
    slept: list[float] = []

    async def record(delay: float) -> None:  # backoff delays are asserted, not waited for
        slept.append(delay)

    labeler._sleep = record
    labeler.slept = slept  # type: ignore[attr-defined]
    return labeler


def one(labeler: LLMLabeler, item=ITEM):
    (result,) = labeler.label_items([item])
    return result


# -------------------------------------------------------------------------- prompt


def test_prompt_has_guidelines_labels_few_shot_examples_and_the_item(server, schema):
    result = one(make(server, schema))
    assert result.label == "spam" and result.failure is None and result.attempts == 1
    request = server.requests[0]
    messages = request["messages"]
    system = messages[0]["content"]
    assert messages[0]["role"] == "system"
    assert schema.instructions.splitlines()[0] in system and schema.description in system
    for label in schema.labels:
        assert f"- {label.name}: {label.description}" in system
    # every worked example is a user turn with its input and an assistant turn with its answer
    turns = messages[1:-1]
    assert len(turns) == 2 * len(schema.examples)
    for ex, (user, assistant) in zip(
        schema.examples, zip(turns[::2], turns[1::2], strict=True), strict=True
    ):
        assert user["role"] == "user" and ex.input["text"] in user["content"]
        assert assistant["role"] == "assistant"
        assert json.loads(assistant["content"]) == {"label": ex.label, "rationale": ex.rationale}
    # the item: declared input fields only (metadata such as author is not shown)
    assert messages[-1]["role"] == "user" and ITEM[1]["text"] in messages[-1]["content"]
    assert "someone" not in messages[-1]["content"]
    fmt = request["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"]["properties"]["label"]["enum"] == ["spam", "ham"]
    assert request["model"] == "test-model" and request["temperature"] == 0


def test_json_schema_rejected_falls_back_to_json_object(server, schema):
    server.push(status(400, "response_format json_schema is not supported"))
    labeler = make(server, schema, max_concurrency=1)
    results = labeler.label_items([ITEM, ("c2", {"text": "nice song"})])
    assert [r.label for r in results] == ["spam", "spam"]
    formats = [r.get("response_format", {}).get("type") for r in server.requests]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert results[0].attempts == 1  # a format fallback is not a retry


def test_format_falls_back_once_when_refused_by_concurrent_requests(server, schema):
    # A server without json_schema support refuses every such request (not a fixed number:
    # which request gets which reply must not depend on thread timing).
    def responder(request):
        if request.get("response_format", {}).get("type") == "json_schema":
            return status(400, "unsupported response_format type json_schema")
        return ok("spam")

    server.responder = responder
    items = [(f"i{k}", {"text": f"comment {k}"}) for k in range(6)]
    results = make(server, schema, max_concurrency=3).label_items(items)
    assert all(r.label == "spam" for r in results)
    formats = [r.get("response_format", {}).get("type") for r in server.requests]
    # at most the requests already in flight were refused; then json_object, never lower
    assert 1 <= formats.count("json_schema") <= 3
    assert set(formats) == {"json_schema", "json_object"}
    assert formats.count("json_object") == len(items)


def test_json_object_refused_too_falls_back_to_no_format(server, schema):
    server.push(status(422, "json_schema?"), status(400, "response_format not supported"))
    results = make(server, schema, response_format="json_schema").label_items([ITEM])
    assert results[0].label == "spam" and "response_format" not in server.requests[-1]


def test_sync_wrapper_works_inside_a_running_event_loop(server, schema):
    import asyncio

    async def main():
        return make(server, schema).label_items([ITEM])

    assert asyncio.run(main())[0].label == "spam"


def test_other_client_errors_stop_the_run_with_a_clear_error(server, schema):
    server.push(status(401, "invalid api key"))
    with pytest.raises(ConfigError, match=r"HTTP 401.*invalid api key.*LABELLOOP_LLM_API_KEY"):
        make(server, schema).label_items([ITEM])


def test_api_key_from_the_environment(server, schema, monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, "sk-test")
    one(make(server, schema))
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


# -------------------------------------------------------------------------- failure paths


def test_429_is_retried_honouring_retry_after(server, schema):
    server.push(status(429, "slow down", retry_after="2"), status(429), ok("ham"))
    labeler = make(server, schema)
    result = one(labeler)
    assert (result.label, result.attempts, result.failure) == ("ham", 3, None)
    assert labeler.slept[0] == 2.0  # Retry-After honoured
    assert 0 < labeler.slept[1] <= 0.002  # then exponential backoff with jitter


def test_429_exhausted_is_a_failure(server, schema):
    server.responder = lambda request: status(429, "quota", retry_after="1")
    result = one(make(server, schema, max_retries=2))
    assert result.label is None and result.confidence is None
    assert result.failure_kind == "rate_limited" and "HTTP 429" in result.failure
    assert result.attempts == 3 and len(server.requests) == 3


def test_5xx_retried_then_success_and_exhausted(server, schema):
    server.push(status(500), status(503), ok("spam"))
    result = one(make(server, schema))
    assert (result.label, result.attempts) == ("spam", 3)
    server.responder = lambda request: status(502, "bad gateway")
    result = one(make(server, schema, max_retries=1))
    assert result.failure_kind == "server_error" and result.attempts == 2 and result.label is None


def test_timeout_retried_then_success_and_exhausted(server, schema):
    server.push(slow(3.0), ok("ham"))
    result = one(make(server, schema, timeout_s=0.2))
    assert (result.label, result.attempts) == ("ham", 2)
    server.responder = lambda request: slow(3.0)
    result = one(make(server, schema, timeout_s=0.2, max_retries=1))
    assert result.failure_kind == "timeout" and result.attempts == 2
    assert "no response within 0.2 s" in result.failure and result.label is None


def test_malformed_response_body_is_retried(server, schema):
    server.push(broken_body(), Reply(200, b'{"choices": []}'), ok("spam"))
    result = one(make(server, schema))
    assert (result.label, result.attempts) == ("spam", 3)
    server.responder = lambda request: broken_body()
    result = one(make(server, schema, max_retries=1))
    assert result.failure_kind == "malformed_response" and "not JSON" in result.failure


def test_malformed_json_answer_gets_a_corrective_retry(server, schema):
    server.push(content("spam, definitely"), content('```json\n{"label": "ham"}\n```'))
    result = one(make(server, schema))
    assert (result.label, result.attempts) == ("ham", 2)
    retry = server.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "spam, definitely"}
    assert "is not JSON" in retry[-1]["content"] and '"spam", "ham"' in retry[-1]["content"]


def test_malformed_json_exhausted_is_a_failure_never_a_guess(server, schema):
    server.responder = lambda request: content("I think it is spam")
    result = one(make(server, schema, max_retries=2))
    assert result.label is None and result.failure_kind == "invalid_json"
    assert result.attempts == 3 and result.raw == "I think it is spam"
    assert "invalid_json, invalid_json, invalid_json" in result.failure


def test_label_outside_schema_is_retried_then_recorded_as_failure(server, schema):
    server.push(ok("Spam"), ok("ham"))
    result = one(make(server, schema))
    assert (result.label, result.attempts) == ("ham", 2)
    assert "'Spam'" not in server.requests[1]["messages"][-1]["content"]
    assert '"Spam" is not one of' in server.requests[1]["messages"][-1]["content"]

    server.responder = lambda request: ok("maybe")
    result = one(make(server, schema, max_retries=1))
    assert result.label is None and result.failure_kind == "label_not_in_schema"
    assert '"maybe" is not one of' in result.failure and result.attempts == 2


def test_json_without_label_is_retried(server, schema):
    server.push(content('{"answer": "spam"}'), ok("spam"))
    assert one(make(server, schema)).label == "spam"
    server.responder = lambda request: content('{"category": "spam"}')
    result = one(make(server, schema, max_retries=0))
    assert result.failure_kind == "missing_label" and result.attempts == 1


def test_mixed_failures_share_one_retry_budget(server, schema):
    server.push(slow(3.0), status(429, retry_after="0"), broken_body(), content("?"))
    result = one(make(server, schema, timeout_s=0.2, max_retries=3))
    assert result.label is None and result.attempts == 4
    assert result.failure.endswith(
        "(after 4 request(s): timeout, rate_limited, malformed_response, invalid_json)"
    )


# -------------------------------------------------------------------------- confidence


def test_logprob_confidence(server, schema):
    server.push(ok("ham", logprob=math.log(0.9)))
    result = one(make(server, schema))
    assert result.confidence == pytest.approx(0.9, abs=1e-5)
    assert server.requests[0]["logprobs"] is True
    server.push(ok("ham"))  # no logprobs returned: no confidence, not a made-up one
    assert one(make(server, schema)).confidence is None
    server.push(ok("ham", logprob=-0.5))
    labeler = make(server, schema, use_logprobs=False)
    assert one(labeler).confidence is None and "logprobs" not in server.requests[-1]


def test_self_consistency_confidence_is_the_vote_share(server, schema):
    server.push(votes(["spam", "ham", "spam", "spam", "spam"]))
    result = one(make(server, schema, self_consistency=5, temperature=0.8))
    assert (result.label, result.confidence, result.votes) == ("spam", 0.8, {"spam": 4, "ham": 1})
    assert server.requests[0]["n"] == 5 and result.attempts == 1


def test_self_consistency_when_the_server_ignores_n(server, schema):
    server.push(ok("ham"), ok("spam"), ok("ham"))
    result = one(make(server, schema, self_consistency=3, temperature=0.8))
    assert (result.label, result.attempts) == ("ham", 3)
    assert result.confidence == pytest.approx(2 / 3, abs=1e-6)
    assert [r.get("n") for r in server.requests] == [3, 2, None]


def test_self_consistency_invalid_samples_count_against_confidence(server, schema):
    body = json.dumps(
        {
            "choices": [
                {"message": {"content": json.dumps({"label": x})}}
                for x in ("spam", "spam", "spam", "nonsense", "ham")
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50},
        }
    )
    server.push(Reply(200, body.encode()))
    server.responder = lambda request: content("???")  # the missing sample never comes
    result = one(make(server, schema, self_consistency=5, temperature=0.8, max_retries=0))
    assert result.label == "spam" and result.attempts == 5  # budget: 5 samples + 0 retries
    assert [r.get("n") for r in server.requests] == [5, None, None, None, None]
    assert result.confidence == 0.6 and result.votes == {"spam": 3, "ham": 1}


def test_self_consistency_tie_is_a_failure_not_a_coin_flip(server, schema):
    server.push(votes(["spam", "ham", "ham", "spam"]))
    result = one(make(server, schema, self_consistency=4, temperature=0.8))
    assert result.label is None and result.failure_kind == "tied_votes"


def test_self_consistency_needs_temperature(server, schema):
    with pytest.raises(ConfigError, match="needs temperature > 0"):
        make(server, schema, self_consistency=3)


# -------------------------------------------------------------------------- accounting, cache


def test_tokens_and_cost(server, schema):
    server.push(
        ok("spam", usage=(1000, 20)),
        content("nope", usage=(1000, 5)),
        ok("ham", usage=(1100, 20)),
    )
    labeler = make(
        server, schema, max_concurrency=1, price_per_1k_prompt=0.5, price_per_1k_completion=2.0
    )
    results = labeler.label_items([ITEM, ("c2", {"text": "good song"})])
    assert [(r.prompt_tokens, r.completion_tokens) for r in results] == [(1000, 20), (2100, 25)]
    assert results[0].cost == pytest.approx(0.5 + 0.04)
    assert results[1].cost == pytest.approx(1.05 + 0.05)
    usage = summarize_usage(results)
    assert (usage.items, usage.labeled, usage.failed, usage.requests) == (2, 2, 0, 3)
    assert (usage.prompt_tokens, usage.completion_tokens) == (3100, 45)
    assert usage.cost == pytest.approx(1.64)


def test_cache_hit_makes_no_request_and_failures_are_not_cached(server, schema, tmp_path):
    cache = LLMCache(tmp_path / ".labelloop" / "cache" / "llm.sqlite")
    server.push(ok("ham", logprob=math.log(0.7)), status(500), status(500))
    items = [ITEM, ("c2", {"text": "good song"})]
    first = make(server, schema, cache=cache, max_concurrency=1, max_retries=1).label_items(items)
    assert [r.label for r in first] == ["ham", None] and len(cache) == 1
    n = len(server.requests)

    again = make(server, schema, cache=LLMCache(cache.path), max_concurrency=1)
    second = again.label_items(items)
    assert second[0].cached and second[0].label == "ham" and second[0].attempts == 0
    assert second[0].confidence == first[0].confidence
    assert (second[0].prompt_tokens, second[0].cost) == (0, 0.0)  # a cache hit spends nothing
    assert not second[1].cached and second[1].label == "spam"  # the failure was asked again
    assert len(server.requests) == n + 1
    assert summarize_usage(second).cached == 1
    # another model or other parameters are other prompts
    other = make(server, schema, cache=cache, temperature=0.3).label_items(items[:1])
    assert not other[0].cached and other[0].prompt_hash != first[0].prompt_hash


def test_concurrency_limit_is_honoured_and_order_kept(server, schema):
    server.responder = lambda request: ok(
        "ham" if "song" in request["messages"][-1]["content"] else "spam", delay=0.1
    )
    items = [(f"i{k}", {"text": f"song {k}" if k % 2 else f"buy {k}"}) for k in range(12)]
    results = make(server, schema, max_concurrency=3).label_items(items)
    assert 1 < server.max_active <= 3
    assert [r.item_key for r in results] == [k for k, _ in items]
    assert [r.label for r in results] == ["spam", "ham"] * 6


# -------------------------------------------------------------------------- input checks


def test_bad_configuration_is_refused(server, schema):
    with pytest.raises(ConfigError, match="not an http"):
        LLMLabeler("127.0.0.1:8000", "m", schema=schema)
    with pytest.raises(ConfigError, match="max_concurrency must be >= 1, saw 0"):
        LLMLabeler(server.url, "m", schema=schema, max_concurrency=0)
    multi = schema_from_dict(
        {
            "name": "topics",
            "version": "1",
            "task": "multi_label",
            "labels": [{"name": "a", "description": "A."}, {"name": "b", "description": "B."}],
        }
    )
    with pytest.raises(InvalidInput, match="single_label"):
        LLMLabeler(server.url, "m", schema=multi)
