"""`labelloop serve` in a workspace folder on a free loopback port, for the benchmarks."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(folder: Path, env: dict[str, str]) -> Iterator[str]:
    """The server (one worker) for the workspace in ``folder``; yields its base URL and
    stops it afterwards."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "labelloop", "serve", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):  # up to ~30 s to start
            try:
                httpx.get(f"{base}/login")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not start")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
