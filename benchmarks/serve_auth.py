"""What authentication costs a request on `labelloop serve`: sign-in (argon2id) and an
authenticated project read by bearer token and by session cookie, one client, loopback.

Usage: python benchmarks/serve_auth.py [--requests 500] [--logins 5] [--store sqlite|postgres]
[--json]

Starts the real server (`python -m labelloop serve`, one worker) on a free 127.0.0.1 port in
a fresh workspace with one admin, then times sequential requests over one keep-alive
connection: POST /api/v1/auth/login (``--logins`` times) and GET /api/v1/projects/bench
(``--requests`` times per credential kind, after 20 untimed warm-up requests). Reports
requests/s, p50 and p99. The server and this client share the machine's cores.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serve import serving  # noqa: E402
from _stores import add_store_options, base_env, selected_stores, store_env  # noqa: E402

WARMUP = 20


def _labelloop(folder: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "labelloop", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def _times(n: int, call: Callable[[], httpx.Response]) -> dict[str, Any]:
    spent = []
    for _ in range(n):
        start = time.perf_counter()
        res = call()
        spent.append(time.perf_counter() - start)
        if res.status_code != 200:
            raise SystemExit(f"unexpected {res.status_code}: {res.text}")
    spent.sort()
    return {
        "requests": n,
        "per_s": round(n / sum(spent), 1),
        "p50_ms": round(1000 * spent[len(spent) // 2], 2),
        "p99_ms": round(1000 * spent[min(len(spent) - 1, int(len(spent) * 0.99))], 2),
    }


def measure(store: str, requests: int, logins: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, store_env(store, base_env()) as env:
        folder = Path(tmp)
        _labelloop(folder, env, "init", "bench")
        password = json.loads(
            _labelloop(folder, env, "user", "add", "boss", "--role", "admin", "--json")
        )["password"]
        with serving(folder, env) as base:
            creds = {"name": "boss", "password": password}
            with httpx.Client(base_url=base) as client:
                login = _times(logins, lambda: client.post("/api/v1/auth/login", json=creds))
                made = client.post(
                    "/api/v1/me/tokens",
                    json={"name": "bench"},
                    headers={"X-CSRF-Token": client.get("/api/v1/me").json()["csrf_token"]},
                )
                token = {"Authorization": f"Bearer {made.json()['token']}"}
                path = "/api/v1/projects/bench"
                for _ in range(WARMUP):
                    client.get(path)
                by_cookie = _times(requests, lambda: client.get(path))
            with httpx.Client(base_url=base, headers=token) as client:
                for _ in range(WARMUP):
                    client.get(path)
                by_token = _times(requests, lambda: client.get(path))
    return {"store": store, "login": login, "session_cookie": by_cookie, "bearer_token": by_token}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--logins", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    add_store_options(parser)
    args = parser.parse_args()
    results = [measure(s, args.requests, args.logins) for s in selected_stores(args)]
    if args.json:
        print(json.dumps({"results": results}))
        return
    print(f"{'store':<9} {'request':<32} {'n':>5} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results:
        for what, label in (
            ("login", "POST /auth/login (argon2id)"),
            ("session_cookie", "GET /projects/P (cookie)"),
            ("bearer_token", "GET /projects/P (bearer token)"),
        ):
            m = r[what]
            print(
                f"{r['store']:<9} {label:<32} {m['requests']:>5} {m['per_s']:>8} "
                f"{m['p50_ms']:>8} {m['p99_ms']:>8}"
            )


if __name__ == "__main__":
    main()
