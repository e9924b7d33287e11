"""Labeling functions: decorator, module loading, versions, batch application."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labelloop.core.answers import LabelSpace
from labelloop.errors import InvalidInput
from labelloop.labelers.rules import ABSTAIN, apply_lfs, labeling_function, load_lfs

SPACE = LabelSpace(("ham", "spam"))


@labeling_function()
def has_link(text: str) -> str | int:
    return "spam" if "http" in text else ABSTAIN


@labeling_function("short", resources={"limit": 3})
def short(text: str, limit: int) -> str | None:
    return "ham" if len(text.split()) < limit else None


@labeling_function()
def by_code(text: str) -> int:
    return 1 if "win" in text else -1


def test_decorator_forms_and_versions() -> None:
    assert has_link.name == "has_link" and len(has_link.version) == 16
    assert short.name == "short" and short.resources == {"limit": 3}
    assert short("hi there") == "ham"
    with pytest.raises(TypeError, match="with parentheses"):

        @labeling_function  # type: ignore[arg-type]
        def oops(text: str) -> int:
            return ABSTAIN

    with pytest.raises(TypeError, match="non-empty string"):
        labeling_function("")


def test_version_is_hash_of_source_and_resources() -> None:
    def f(text: str, limit: int) -> None:
        return None

    a = labeling_function("x", resources={"limit": 3})(f)
    b = labeling_function("x", resources={"limit": 3})(f)
    c = labeling_function("x", resources={"limit": 4})(f)
    assert a.version == b.version != c.version
    assert a.version != short.version  # different source


def test_apply_collects_votes_and_codes() -> None:
    texts = ["http://x win big", "hi", "nothing to see here today", "win"]
    votes = apply_lfs([has_link, short, by_code], texts, SPACE, n_jobs=1)
    got = sorted(zip(votes.item.tolist(), votes.lf.tolist(), votes.label.tolist(), strict=True))
    assert got == [(0, 0, 1), (0, 2, 1), (1, 1, 0), (3, 1, 0), (3, 2, 1)]
    assert votes.failures == []


def test_out_of_schema_label_names_lf_item_value_and_labels() -> None:
    @labeling_function()
    def typo(text: str) -> str:
        return "spma" if "x" in text else "ham"

    with pytest.raises(InvalidInput) as err:
        apply_lfs([typo], ["a", "x"], SPACE, item_names=["m1", "m2"], n_jobs=1)
    msg = str(err.value)
    assert "'typo'" in msg and "'spma'" in msg and "m2" in msg and "['ham', 'spam']" in msg

    @labeling_function()
    def big_code(text: str) -> int:
        return 7

    with pytest.raises(InvalidInput, match="returned 7"):
        apply_lfs([big_code], ["a"], SPACE, n_jobs=1)


def test_crashing_lf_reports_item_and_goes_on() -> None:
    @labeling_function()
    def fragile(text: str) -> str:
        if text == "boom":
            raise ZeroDivisionError("division by zero")
        return "ham"

    texts = ["a", "boom", "b", "http"]
    votes = apply_lfs([fragile, has_link], texts, SPACE, n_jobs=1)
    assert [(f.lf, f.item) for f in votes.failures] == [("fragile", 1)]
    assert "ZeroDivisionError" in votes.failures[0].error
    assert sorted(votes.item[votes.lf == 0].tolist()) == [0, 2, 3]
    assert votes.item[votes.lf == 1].tolist() == [3]


def test_parallel_equals_serial() -> None:
    rng = np.random.default_rng(1)
    words = ["http", "win", "a", "b", "c"]
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 6))) for _ in range(5000)]
    serial = apply_lfs([has_link, short, by_code], texts, SPACE, n_jobs=1)
    seen: list[int] = []
    parallel = apply_lfs(
        [has_link, short, by_code], texts, SPACE, n_jobs=2, batch_size=1000, progress=seen.append
    )
    key = lambda v: sorted(zip(v.item.tolist(), v.lf.tolist(), v.label.tolist(), strict=True))  # noqa: E731
    assert key(serial) == key(parallel)
    assert sum(seen) == len(texts)


def test_load_lfs(tmp_path: Path) -> None:
    mod = tmp_path / "my_lfs.py"
    mod.write_text(
        "from labelloop.labelers.rules import ABSTAIN, labeling_function\n\n"
        "@labeling_function()\n"
        "def a(text):\n    return 'spam' if 'x' in text else ABSTAIN\n\n"
        "@labeling_function('b')\n"
        "def other(text):\n    return 'ham'\n"
    )
    lfs = load_lfs(mod)
    assert [lf.name for lf in lfs] == ["a", "b"]
    bare = tmp_path / "bare.py"
    bare.write_text(
        "from labelloop.labelers.rules import labeling_function\n\n"
        "@labeling_function\ndef a(text):\n    return 'ham'\n"
    )
    with pytest.raises(InvalidInput, match="with parentheses"):
        load_lfs(bare)
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(InvalidInput, match="no labeling functions"):
        load_lfs(empty)
    with pytest.raises(InvalidInput, match="existing Python file"):
        load_lfs(tmp_path / "missing.py")
    dup = tmp_path / "dup.py"
    dup.write_text(
        "from labelloop.labelers.rules import labeling_function\n\n"
        "@labeling_function('x')\ndef a(text):\n    return 'ham'\n\n"
        "@labeling_function('x')\ndef b(text):\n    return 'ham'\n"
    )
    with pytest.raises(InvalidInput, match="unique"):
        load_lfs(dup)
