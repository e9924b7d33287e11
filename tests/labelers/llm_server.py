"""A tiny scriptable OpenAI-compatible chat-completions server on 127.0.0.1 (tests only).

Each request to ``POST /v1/chat/completions`` is answered by the next scripted
:class:`Reply` in :attr:`LLMServer.script` (a queue), else by :attr:`LLMServer.responder`
(a function of the request body). The server records every request body and the largest
number of requests it was serving at once. Stdlib only; no network beyond loopback.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (past the client's timeout to test timeouts)."""


def completion(
    contents: Sequence[str],
    *,
    logprobs: Sequence[list[dict[str, Any]] | None] | None = None,
    usage: tuple[int, int] = (100, 10),
    model: str = "test-model",
) -> dict[str, Any]:
    """A chat.completion body with one choice per content."""
    choices = []
    for i, text in enumerate(contents):
        choice: dict[str, Any] = {
            "index": i,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }
        if logprobs is not None and logprobs[i] is not None:
            choice["logprobs"] = {"content": logprobs[i]}
        choices.append(choice)
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        },
    }


def label_tokens(label: str, label_logprob: float) -> tuple[str, list[dict[str, Any]]]:
    """Content ``{"label": "<label>"}`` and its tokens; only the label token is uncertain."""
    pieces = ['{"', "label", '": "', label, '"}']
    tokens = [
        {"token": p, "logprob": label_logprob if p == label and i == 3 else -0.001, "bytes": None}
        for i, p in enumerate(pieces)
    ]
    return "".join(pieces), tokens


def ok(
    label: str,
    *,
    rationale: str | None = None,
    logprob: float | None = None,
    usage: tuple[int, int] = (100, 10),
    delay: float = 0.0,
) -> Reply:
    """200 with one answer naming ``label`` (with token logprobs when ``logprob`` is given)."""
    if logprob is not None:
        text, tokens = label_tokens(label, logprob)
        body = completion([text], logprobs=[tokens], usage=usage)
    else:
        answer = {"label": label} if rationale is None else {"label": label, "rationale": rationale}
        body = completion([json.dumps(answer)], usage=usage)
    return Reply(200, json.dumps(body).encode(), delay=delay)


def votes(labels: Sequence[str], *, usage: tuple[int, int] = (100, 10)) -> Reply:
    """200 with one choice per label (self-consistency samples)."""
    body = completion([json.dumps({"label": x}) for x in labels], usage=usage)
    return Reply(200, json.dumps(body).encode())


def content(text: str, *, usage: tuple[int, int] = (100, 10)) -> Reply:
    """200 whose answer text is ``text`` verbatim (malformed JSON, no label, ...)."""
    return Reply(200, json.dumps(completion([text], usage=usage)).encode())


def status(code: int, message: str = "error", *, retry_after: str | None = None) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = json.dumps({"error": {"message": message, "type": "test", "code": code}}).encode()
    return Reply(code, body, headers)


def broken_body() -> Reply:
    """200 whose body is cut off mid-JSON."""
    return Reply(200, b'{"id": "chatcmpl-test", "choices": [{"message": {"content": "{\\"la')


def slow(seconds: float, label: str = "spam") -> Reply:
    reply = ok(label)
    reply.delay = seconds
    return reply


class LLMServer:
    """Threaded loopback server; use :meth:`start` / :meth:`stop` (or as a context manager)."""

    def __init__(self, responder: Callable[[dict[str, Any]], Reply] | None = None) -> None:
        self.script: deque[Reply] = deque()
        self.responder = responder or (lambda request: ok("spam"))
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def _next(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            if self.script:
                return self.script.popleft()
        return self.responder(request)

    def start(self) -> LLMServer:
        server_ref = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # one small response must not wait for an ACK

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(Reply(404, b'{"error": {"message": "not found"}}'))
                    return
                request = json.loads(raw)
                with server_ref._lock:
                    server_ref.requests.append(request)
                    server_ref.headers.append(dict(self.headers))
                    server_ref.active += 1
                    server_ref.max_active = max(server_ref.max_active, server_ref.active)
                try:
                    reply = server_ref._next(request)
                    if reply.delay:
                        server_ref._stop.wait(reply.delay)
                    self._send(reply)
                finally:
                    with server_ref._lock:
                        server_ref.active -= 1

            def _send(self, reply: Reply) -> None:
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply.body)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (timeout)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
