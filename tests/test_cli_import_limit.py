"""`labelloop import items` with the per-item size limit: one-line errors naming file, line and
size vs limit; --skip-invalid rejects the row; --max-item-bytes and LABELLOOP_MAX_ITEM_BYTES."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CliResult


def write(path: Path, sizes: list[int]) -> Path:
    """One JSONL item per size, each line exactly that many bytes (line break excluded)."""
    with open(path, "w", encoding="utf-8") as fh:
        for i, size in enumerate(sizes):
            base = len(json.dumps({"id": f"i{i}", "text": ""}))
            fh.write(json.dumps({"id": f"i{i}", "text": "x" * (size - base)}) + "\n")
    return path


def items(cli) -> int:
    res: CliResult = cli("status", "--json")
    return int(json.loads(res.out)["items"])


def test_default_limit_rejects_a_large_item_atomically(cli, workspace):
    path = write(workspace / "big.jsonl", [100, (1 << 20) + 1, 100])
    res = cli("import", "items", str(path))
    assert res.code == 2 and res.out == ""
    assert res.err.count("\n") == 1 and res.err.startswith(f"error: {path}, line 2: ")
    assert "item is 1,048,577 bytes; expected at most 1,048,576 bytes" in res.err
    assert items(cli) == 0  # nothing written
    res = cli("import", "items", str(path), "--max-item-bytes", str(2 << 20), "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["added"] == 3


def test_option_skip_invalid_and_environment(cli, workspace, monkeypatch):
    path = write(workspace / "items.jsonl", [50, 151, 150])
    res = cli("import", "items", str(path), "--max-item-bytes", "150", "--skip-invalid", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert (report["added"], report["rejected"]) == (2, 1)
    rejects = Path(report["rejects_file"]).read_text(encoding="utf-8").splitlines()
    reject = json.loads(rejects[0])
    assert reject["line"] == 2 and reject["message"].startswith(
        "item is 151 bytes; expected at most 150 bytes"
    )
    monkeypatch.setenv("LABELLOOP_MAX_ITEM_BYTES", "100")
    res = cli("import", "items", str(path))
    assert res.code == 2 and "line 2: item is 151 bytes; expected at most 100 bytes" in res.err
    monkeypatch.setenv("LABELLOOP_MAX_ITEM_BYTES", "lots")
    res = cli("import", "items", str(path))
    assert res.code == 2 and res.err.startswith("error: LABELLOOP_MAX_ITEM_BYTES='lots': ")
    assert "Traceback" not in res.err


@pytest.mark.parametrize("value", ["0", "-5", "ten"])
def test_bad_option_value(cli, workspace, value):
    path = write(workspace / "items.jsonl", [50])
    res = cli("import", "items", str(path), "--max-item-bytes", value)
    assert res.code == 2 and "--max-item-bytes" in res.err
    assert items(cli) == 0
