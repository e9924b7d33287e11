"""CLI: `key`, `release create/list/show/diff`, `verify --release/--event/--checkpoint`."""

from __future__ import annotations

import json
import sqlite3


def test_release_cycle_from_the_command_line(cli, workspace, tmp_path, backend):
    (workspace / "a.csv").write_text(
        "worker,task,label\nann,t1,spam\nbob,t1,spam\ncat,t1,ham\nann,t2,ham\n"
    )
    assert cli("import", "answers", "a.csv").code == 0
    key = cli("key", "init")
    assert key.code == 0 and "already present" in key.out  # `init` made it
    pem = cli("key", "export")
    assert pem.code == 0 and pem.out.startswith("-----BEGIN PUBLIC KEY-----")

    made = cli("release", "create", "v1", "--method", "majority_vote", "--json")
    assert made.code == 0, made.err
    v1 = json.loads(made.out)
    assert v1["counts"]["items"] == 2 and v1["checkpoint"]["size"] == 4
    published = workspace / "releases" / "v1.checkpoint.json"
    assert v1["checkpoint_file"] == str(published)
    assert json.loads(published.read_text())["root"] == v1["checkpoint"]["root"]

    (workspace / "b.csv").write_text("worker,task,label\ndan,t3,spam\ndan,t1,ham\neve,t1,ham\n")
    assert cli("import", "answers", "b.csv").code == 0
    text = cli("release", "create", "v2", "--method", "majority_vote")
    assert text.code == 0, text.err
    assert "release 'v2'" in text.out and "parent v1" in text.out and "publish it" in text.out
    listed = cli("release", "list")
    assert [line.split("\t")[0] for line in listed.out.splitlines()] == ["v1", "v2"]
    shown = json.loads(cli("release", "show", "v2", "--labels").out)
    assert {x["item"]: x["label"] for x in shown["labels"]} == {
        "t1": "ham",
        "t2": "ham",
        "t3": "spam",
    }
    changed = cli("release", "diff", "v1", "v2")
    assert changed.code == 0
    assert "1 added, 0 removed, 1 relabeled; causes: new answers 2" in changed.out
    assert "relabeled\tt1\t'spam' -> 'ham'\tnew answers" in changed.out

    ok = cli("verify", "--release", "v1", "--checkpoint", str(published), "--event", "2")
    assert ok.code == 0, ok.err
    assert "ok: release 'v1': events 1..4 recompute to the signed root" in ok.out
    assert "ok: the log only grew: events 1..4 still hash to the published root" in ok.out
    assert "ok: event 2 (id 2) is leaf 1 of the 9-event tree" in ok.out
    as_json = json.loads(cli("verify", "--event", "2", "--json").out)
    assert as_json["ok"] and as_json["checks"][0]["proof"]

    if backend != "sqlite":
        return
    db = sqlite3.connect(tmp_path / "labelloop.db")  # the database_url fixture
    db.execute("DROP TRIGGER events_no_update")
    db.execute("UPDATE events SET label = '\"ham\"' WHERE seq = 1")
    db.commit()
    db.close()
    broken = cli("verify", "--release", "v1")
    assert broken.code == 1
    assert broken.err == (
        "BROKEN: event 1: hash does not match its content (the event was altered)\n"
    )
    missing = cli("verify", "--checkpoint", str(tmp_path / "nope.json"))
    assert missing.code == 2 and "file not found" in missing.err
