"""`labelloop project create|list`: one workspace, several projects."""

from __future__ import annotations

import json
from pathlib import Path

import labelloop

DEMO = Path(labelloop.__file__).parent / "data" / "demo"


def _projects(cli) -> dict[str, dict]:
    result = cli("project", "list", "--json")
    assert result.code == 0, result.err
    return {p["name"]: p for p in json.loads(result.out)["projects"]}


def test_init_in_a_workspace_points_to_project_create(workspace, cli):
    result = cli("init", "second")
    assert result.code == 2 and "labelloop project create NAME" in result.err


def test_create_with_schema_and_list_counts(workspace, cli):
    result = cli("project", "create", "second", "--schema", str(DEMO / "spam_schema.yaml"))
    assert result.code == 0, result.err
    assert "project 'second' created" in result.out and "4 worked examples" in result.out
    (workspace / "answers.csv").write_text("worker,task,label\nw1,a,spam\nw2,a,ham\nw1,b,ham\n")
    result = cli("import", "answers", "answers.csv", "--project", "second")
    assert result.code == 0, result.err
    projects = _projects(cli)
    assert list(projects) == ["test", "second"]
    assert projects["test"]["schema_version"] is None and projects["test"]["items"] == 0
    second = projects["second"]
    # 4 worked examples (calibration gold) + 2 answered tasks
    assert (second["schema_version"], second["items"], second["answers"]) == ("1.0", 6, 3)
    assert second["gold"] == 4
    text = cli("project", "list").out.splitlines()
    assert text[0].split() == ["project", "schema", "items", "answers", "gold", "events"]
    assert text[2].split()[:4] == ["second", "1.0", "6", "3"]
    # with two projects a command needs --project
    result = cli("status")
    assert result.code == 2 and "pass --project" in result.err


def test_a_taken_name_or_a_bad_schema_creates_nothing(workspace, cli, tmp_path):
    result = cli("project", "create", "test")
    assert result.code == 2 and result.err == "error: project 'test' already exists\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    result = cli("project", "create", "other", "--schema", str(bad))
    assert result.code == 2 and result.err.startswith("error: ")
    assert list(_projects(cli)) == ["test"]
    result = cli("project", "create", "  ")
    assert result.code == 2 and "project name is empty" in result.err
