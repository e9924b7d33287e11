"""Where the real-data tests find their data (the one place that resolves it).

Two roots:

* ``tests/data`` (:data:`TEST_DATA`): small credited copies committed with the repository
  (``crowd_small``, ``al_small``, ``ws_small``; sources and licences in each README), so a
  plain clone runs the core real-data tests.
* the full data sets: the folder named by ``LABELLOOP_SHARED_DATA`` (:data:`ENV`), by default
  ``../shared/data`` next to the repository. Tests that need a set too large to commit use it.

When a set is missing, the test skips, naming the variable; when ``CI`` is set it fails
instead, so a CI run can never pass by silently skipping the real-data tests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

ENV = "LABELLOOP_SHARED_DATA"
REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
DEFAULT_SHARED_DATA = REPO.parent / "shared" / "data"
# the committed copy of each shared top-level folder
_SMALL = {"crowd": "crowd_small", "al": "al_small", "ws": "ws_small"}


def in_ci() -> bool:
    """``CI`` is set to something other than empty, ``0``, ``false`` or ``no``."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def shared_root() -> Path:
    """The full data folder: ``$LABELLOOP_SHARED_DATA``, else ``../shared/data``."""
    value = os.environ.get(ENV, "").strip()
    return Path(value).expanduser() if value else DEFAULT_SHARED_DATA


def missing(what: Path | str) -> NoReturn:
    """Skip (fail under ``CI``) because the data at ``what`` is not there."""
    source = f"{ENV}={os.environ[ENV]!r}" if os.environ.get(ENV, "").strip() else "the default"
    message = (
        f"real data not found: {what} (full data root {shared_root()}, from {source}); "
        f"set {ENV} to the folder holding crowd/, al/, ws/ (see tests/data/README.md)"
    )
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def shared(*parts: str) -> Path:
    """A path under the full data root; skips (fails under CI) when it does not exist."""
    path = shared_root().joinpath(*parts)
    if not path.exists():
        missing(path)
    return path


def has_small(folder: str, name: str) -> bool:
    """Whether ``tests/data`` holds a copy of the shared set ``folder/name``."""
    return (TEST_DATA / _SMALL[folder] / name).is_dir()


def dataset(folder: str, name: str) -> Path:
    """The folder of a shared set (``crowd``/``al``/``ws`` + name): the committed copy when
    there is one, else the full set under the shared root."""
    if has_small(folder, name):
        return TEST_DATA / _SMALL[folder] / name
    return shared(folder, name)


def crowd(name: str) -> Path:
    """A crowd set's folder (``answers.csv``, ``gold.csv``); see :func:`dataset`."""
    return dataset("crowd", name)
