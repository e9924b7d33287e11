"""Real-data tests never skip silently: committed copies serve a plain clone, missing full data
skips naming LABELLOOP_SHARED_DATA, and fails under CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import realdata

NEEDS_FULL_DATA = """\
from tests import realdata


def test_needs_the_full_adult_set():
    assert realdata.shared("crowd", "adult", "answers.csv").is_file()
"""


def run_pytest(args: list[str], cwd: Path, **env: str | None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", realdata.ENV)}
    environ.update({k: v for k, v in env.items() if v is not None})
    environ["PYTHONPATH"] = os.pathsep.join([str(realdata.REPO), environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    (tmp_path / "test_tiny.py").write_text(NEEDS_FULL_DATA, encoding="utf-8")
    (tmp_path / "empty").mkdir()
    return tmp_path


def test_missing_data_skips_naming_the_variable(tiny: Path) -> None:
    res = run_pytest(["test_tiny.py"], tiny, LABELLOOP_SHARED_DATA=str(tiny / "empty"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 skipped" in res.stdout and "failed" not in res.stdout
    assert "set LABELLOOP_SHARED_DATA" in res.stdout
    assert str(tiny / "empty" / "crowd" / "adult" / "answers.csv") in res.stdout


def test_missing_data_fails_under_ci(tiny: Path) -> None:
    res = run_pytest(["test_tiny.py"], tiny, LABELLOOP_SHARED_DATA=str(tiny / "empty"), CI="true")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "1 failed" in res.stdout and "skipped" not in res.stdout
    assert "set LABELLOOP_SHARED_DATA" in res.stdout
    assert "Traceback" not in res.stdout  # the message, not a stack


def test_the_variable_points_at_the_full_data(tiny: Path) -> None:
    data = tiny / "elsewhere" / "crowd" / "adult"
    data.mkdir(parents=True)
    (data / "answers.csv").write_text("worker,task,label\n", encoding="utf-8")
    res = run_pytest(["test_tiny.py"], tiny, LABELLOOP_SHARED_DATA=str(tiny / "elsewhere"), CI="1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 passed" in res.stdout


def test_resolution_in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(realdata.ENV, str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    assert realdata.shared_root() == tmp_path
    # committed copies do not depend on the variable
    assert realdata.crowd("rte") == realdata.TEST_DATA / "crowd_small" / "rte"
    assert realdata.dataset("al", "sms_spam") == realdata.TEST_DATA / "al_small" / "sms_spam"
    with pytest.raises(pytest.skip.Exception, match="LABELLOOP_SHARED_DATA"):
        realdata.crowd("adult")
    for value in ("true", "1", "yes"):
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.fail.Exception, match="LABELLOOP_SHARED_DATA"):
            realdata.crowd("adult")
    for value in ("", "0", "false"):
        monkeypatch.setenv("CI", value)
        assert not realdata.in_ci()
    monkeypatch.delenv(realdata.ENV)
    assert realdata.shared_root() == realdata.REPO.parent / "shared" / "data"


def test_every_committed_set_is_credited_and_the_copies_stay_small() -> None:
    total = sum(f.stat().st_size for f in realdata.TEST_DATA.rglob("*") if f.is_file())
    assert total < 3 * 2**20, f"tests/data holds {total:,} bytes; keep the copies small"
    for folder in sorted(realdata.TEST_DATA.glob("*_small")):
        credits = (folder / "README.md").read_text(encoding="utf-8")
        for dataset in sorted(p.name for p in folder.iterdir() if p.is_dir()):
            assert f"`{dataset}`" in credits, f"{folder.name}/{dataset} has no credit in README"


def test_full_data_tests_run_from_the_variable(tmp_path: Path) -> None:
    """With LABELLOOP_SHARED_DATA naming the real data (through a link elsewhere, so the
    default location is not what is found), the tests that need the full sets run and pass."""
    link = tmp_path / "data"
    link.symlink_to(realdata.shared("crowd", "adult").parents[1], target_is_directory=True)
    res = run_pytest(
        [
            "tests/core/test_disagreement.py::test_schema_gap_report_on_real_set_is_fast_and_sane",
            "tests/core/test_agreement.py::test_fleiss_matches_statsmodels",
        ],
        realdata.REPO,
        LABELLOOP_SHARED_DATA=str(link),
        CI="true",
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "16 passed" in res.stdout and "skipped" not in res.stdout
