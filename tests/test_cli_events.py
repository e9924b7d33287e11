"""CLI: `events export`, `verify --events FILE` without a workspace, `events import`."""

from __future__ import annotations

import json


def test_export_verify_anywhere_and_import_into_a_fresh_workspace(
    cli, workspace, tmp_path, monkeypatch
):
    (workspace / "a.csv").write_text("worker,task,label\nann,t1,spam\nbob,t1,ham\nann,t2,ham\n")
    assert cli("import", "answers", "a.csv").code == 0
    exported = cli("events", "export", str(tmp_path / "chain.jsonl"), "--json")
    assert exported.code == 0, exported.err
    report = json.loads(exported.out)
    assert report["events"] == 3

    # another machine: no workspace, no database
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("LABELLOOP_DATABASE_URL")
    ok = cli("verify", "--events", str(tmp_path / "chain.jsonl"))
    assert ok.code == 0, ok.err
    assert "ok: 3 events of project 'test'" in ok.out and report["head_hash"][:12] in ok.out
    assert not list(elsewhere.iterdir())  # nothing created

    lines = (tmp_path / "chain.jsonl").read_text().splitlines(keepends=True)
    swapped = tmp_path / "swapped.jsonl"
    swapped.write_text("".join([lines[0], lines[2], lines[1], lines[3]]))
    bad = cli("verify", "--events", str(swapped))
    assert bad.code == 1 and bad.err.count("\n") == 1
    assert "line 2: prev_hash does not match" in bad.err and "reordered" in bad.err
    as_json = json.loads(cli("verify", "--events", str(swapped), "--json").out)
    assert (as_json["ok"], as_json["line"], as_json["reason"]) == (False, 2, "reordered")
    missing = cli("verify", "--events", str(tmp_path / "nope.jsonl"))
    assert (
        missing.code == 2 and missing.err == f"error: file not found: {tmp_path / 'nope.jsonl'}\n"
    )

    # a fresh SQLite workspace: the same chain, the same head
    assert cli("init", "scratch").code == 0
    refused = cli("events", "import", str(swapped))
    assert refused.code == 2 and "does not verify: line 2" in refused.err
    imported = cli("events", "import", str(tmp_path / "chain.jsonl"))
    assert imported.code == 0, imported.err
    assert f"3 events imported into project 'test' (head {report['head_hash'][:12]}" in imported.out
    assert cli("verify", "--project", "test").code == 0
    assert cli("events", "export", str(tmp_path / "again.jsonl"), "--project", "test").code == 0
    assert (tmp_path / "again.jsonl").read_bytes() == (tmp_path / "chain.jsonl").read_bytes()
    again = cli("events", "import", str(tmp_path / "chain.jsonl"))
    assert again.code == 2 and "already has 3 events" in again.err
