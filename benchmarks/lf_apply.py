"""Labeling-function application speed: ten keyword/regex LFs over 1,000,000 short texts.

Usage: python benchmarks/lf_apply.py [--n 1000000] [--jobs 2] [--json]
Prints items/s for one process and for ``--jobs`` forked workers (labelers.rules.apply_lfs).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from labelloop.core.answers import LabelSpace  # noqa: E402
from labelloop.labelers.rules import ABSTAIN, apply_lfs, labeling_function  # noqa: E402

_CHECK = re.compile(r"check\s+(it\s+)?out", re.I)
_URL = re.compile(r"https?://|www\.", re.I)
_MONEY = re.compile(r"\$\d+|\bfree\b", re.I)


@labeling_function()
def kw_subscribe(text: str) -> int:
    return 1 if "subscribe" in text else ABSTAIN


@labeling_function()
def kw_my_channel(text: str) -> int:
    return 1 if "my channel" in text else ABSTAIN


@labeling_function()
def kw_please(text: str) -> int:
    return 1 if "please" in text or "plz" in text else ABSTAIN


@labeling_function()
def kw_song(text: str) -> int:
    return 0 if "song" in text else ABSTAIN


@labeling_function()
def kw_love(text: str) -> int:
    return 0 if "love" in text else ABSTAIN


@labeling_function()
def kw_views(text: str) -> int:
    return 0 if "views" in text else ABSTAIN


@labeling_function()
def re_check_out(text: str) -> int:
    return 1 if _CHECK.search(text) else ABSTAIN


@labeling_function()
def re_url(text: str) -> int:
    return 1 if _URL.search(text) else ABSTAIN


@labeling_function()
def re_money(text: str) -> int:
    return 1 if _MONEY.search(text) else ABSTAIN


@labeling_function()
def short_comment(text: str) -> int:
    return 0 if len(text) < 20 else ABSTAIN


LFS = [
    kw_subscribe,
    kw_my_channel,
    kw_please,
    kw_song,
    kw_love,
    kw_views,
    re_check_out,
    re_url,
    re_money,
    short_comment,
]

_WORDS = (
    "this song is great i love it check out my channel please subscribe views "
    "amazing video http://x.co free $100 best ever lol wow nice beat plz"
).split()


def make_texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 12, size=n)
    words = rng.integers(0, len(_WORDS), size=int(lengths.sum()))
    out, pos = [], 0
    vocab = _WORDS
    for length in lengths.tolist():
        out.append(" ".join(vocab[w] for w in words[pos : pos + length].tolist()))
        pos += length
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    texts = make_texts(args.n)
    space = LabelSpace(("ham", "spam"))
    rows = {}
    for jobs in (1, args.jobs):
        t0 = time.perf_counter()
        votes = apply_lfs(LFS, texts, space, n_jobs=jobs)
        dt = time.perf_counter() - t0
        rows[f"jobs_{jobs}"] = {
            "seconds": round(dt, 3),
            "items_per_s": round(args.n / dt),
            "votes": len(votes.item),
        }
    out = {"n_items": args.n, "n_lfs": len(LFS), "cpu_count": os.cpu_count(), **rows}
    if args.json:
        print(json.dumps(out))
        return
    print(f"{args.n:,} texts x {len(LFS)} keyword/regex LFs (cpu_count={os.cpu_count()})")
    print(f"{'workers':>8} {'seconds':>9} {'items/s':>12} {'votes':>10}")
    for key, r in rows.items():
        print(f"{key[5:]:>8} {r['seconds']:>9.2f} {r['items_per_s']:>12,} {r['votes']:>10,}")


if __name__ == "__main__":
    main()
