"""Every command that reads a file fails cleanly on a bad one: one `error:` line, no traceback.

The commands are enumerated from the Typer app, so a new file-taking command (or a new Path
option) fails `test_every_file_parameter_has_a_case` until it gets a case here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from labelloop.cli import app

# Content of a well-formed-looking record per format, so encoding cases differ only in bytes.
TEXT = {
    ".jsonl": '{"worker": "w1", "task": "t1", "label": "caf\u00e9", "text": "caf\u00e9"}\n',
    ".csv": "worker,task,label,text\nw1,t1,caf\u00e9,caf\u00e9\n",
    ".yaml": "name: caf\u00e9\nlabels: [caf\u00e9, tea]\n",
    ".py": "# caf\u00e9\nname = 'caf\u00e9'\n",
}
MALFORMED = {
    ".jsonl": '{"worker": "w1", "task": "t1", "label": "a"}\n{"worker": "w2", "task": \n',
    ".csv": 'worker,task,label\nw1,"t1,a\nw2,t2,b,c,d,e\n',
    ".yaml": "labels: [a, b\n  name: : - }\n",
    ".py": "def broken(:\n    return\n",
}
# Content of another format under the expected suffix ("JSON where CSV is expected", ...).
OTHER_FORMAT = {
    ".jsonl": "worker,task,label\nw1,t1,a\n",
    ".csv": '{"worker": "w1", "task": "t1", "label": "a"}\n',
    ".yaml": '{"worker": "w1", "task": "t1", "label": "a"}\n{"worker": "w2"}\n',
    ".py": "worker,task,label\nw1,t1,a\n",
}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"


def _write(kind: str, folder: Path, suffix: str) -> Path:
    path = folder / f"bad-{kind}{suffix}"
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "malformed":
        path.write_text(MALFORMED[suffix], encoding="utf-8")
    elif kind == "latin1":
        path.write_bytes(TEXT[suffix].encode("latin-1"))
    elif kind == "utf16":
        path.write_bytes(TEXT[suffix].encode("utf-16"))
    elif kind == "png":
        path.write_bytes(PNG)
    elif kind == "other_format":
        path.write_text(OTHER_FORMAT[suffix], encoding="utf-8")
    elif kind == "wrong_suffix":
        path = folder / "bad-wrong-suffix.json"
        record = {"worker": "w1", "task": "t1", "label": "a", "text": "a"}
        path.write_text(json.dumps([record, record], indent=2), encoding="utf-8")
    else:  # pragma: no cover - a typo in KINDS
        raise AssertionError(kind)
    return path


KINDS = [
    "empty",
    "malformed",
    "latin1",
    "utf16",
    "directory",
    "png",
    "other_format",
    "wrong_suffix",
]


@dataclass(frozen=True)
class Case:
    suffix: str
    argv: Callable[[str], list[str]]
    writes: bool = False  # an import: the project must be unchanged after a failure
    report: bool = False  # a validator: may print its problem report instead of `error:`
    fresh: bool = False  # runs in an empty folder (init), which must stay empty


# (command words, parameter name) -> how to call it with a file.
CASES: dict[tuple[str, str], Case] = {
    ("init", "schema"): Case(
        ".yaml", lambda f: ["init", "other", "--schema", f], writes=True, fresh=True
    ),
    ("verify", "events"): Case(".jsonl", lambda f: ["verify", "--events", f]),
    ("verify", "checkpoint"): Case(".jsonl", lambda f: ["verify", "--checkpoint", f]),
    ("aggregate", "answers"): Case(".csv", lambda f: ["aggregate", f, "--json"]),
    ("aggregate", "gold"): Case(".csv", lambda f: ["aggregate", "ANSWERS", "--gold", f, "--json"]),
    ("agreement", "answers"): Case(".csv", lambda f: ["agreement", f]),
    ("import items", "path"): Case(".jsonl", lambda f: ["import", "items", f], writes=True),
    ("import answers", "path"): Case(
        ".csv", lambda f: ["import", "answers", f, "--kind", "human"], writes=True
    ),
    ("import gold", "path"): Case(".csv", lambda f: ["import", "gold", f], writes=True),
    ("schema validate", "path"): Case(".yaml", lambda f: ["schema", "validate", f], report=True),
    ("schema apply", "path"): Case(".yaml", lambda f: ["schema", "apply", f], writes=True),
    ("project create", "schema"): Case(
        ".yaml", lambda f: ["project", "create", "other", "--schema", f], writes=True
    ),
    ("telemetry import", "path"): Case(".jsonl", lambda f: ["telemetry", "import", f], writes=True),
    ("lf apply", "module"): Case(".py", lambda f: ["lf", "apply", f], writes=True),
    ("events import", "path"): Case(".jsonl", lambda f: ["events", "import", f], writes=True),
    # Not PEM files in any of the kinds: `serve` must refuse before it starts a server.
    ("serve", "ssl_certfile"): Case(
        ".yaml", lambda f: ["serve", "--ssl-certfile", f, "--ssl-keyfile", f]
    ),
    ("serve", "ssl_keyfile"): Case(
        ".yaml", lambda f: ["serve", "--ssl-certfile", f, "--ssl-keyfile", f]
    ),
    # Not a Path parameter, but a file all the same (FILE.py:NAME).
    ("train", "estimator"): Case(".py", lambda f: ["train", "--estimator", f"{f}:make"]),
}
# Parameters that name a file or folder the command writes, not one it reads.
OUTPUTS = {
    ("demo", "directory"),
    ("aggregate", "out"),
    ("import items", "rejects"),
    ("import answers", "rejects"),
    ("telemetry import", "rejects"),
    ("batch export", "out"),
    ("events export", "path"),
    ("key export", "out"),
    ("release create", "checkpoint_out"),
    ("release export", "out"),
}


def _mentions_path(annotation: object) -> bool:
    if annotation is Path:
        return True
    return any(_mentions_path(arg) for arg in typing.get_args(annotation))


def _file_parameters(
    typer_app: typer.Typer, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, str]]:
    for info in typer_app.registered_commands:
        assert info.callback is not None
        name = info.name or info.callback.__name__.replace("_", "-")
        hints = typing.get_type_hints(info.callback, include_extras=True)
        for param, annotation in hints.items():
            if param != "return" and _mentions_path(annotation):
                yield " ".join((*prefix, name)), param
    for group in typer_app.registered_groups:
        assert group.typer_instance is not None and group.name is not None
        yield from _file_parameters(group.typer_instance, (*prefix, group.name))


def test_every_file_parameter_has_a_case() -> None:
    found = set(_file_parameters(app))
    missing = sorted(found - set(CASES) - OUTPUTS)
    assert not missing, f"add a bad-file case (or an OUTPUTS entry) for: {missing}"
    stale = sorted((set(CASES) | OUTPUTS) - found - {("train", "estimator")})
    assert not stale, f"these parameters no longer exist: {stale}"


def _argv(case: Case, path: Path, folder: Path) -> list[str]:
    argv = case.argv(str(path))
    if "ANSWERS" in argv:  # aggregate --gold needs a good answers file beside the bad gold
        answers = folder / "answers.csv"
        answers.write_text("worker,task,label\nw1,t1,a\nw2,t1,a\nw1,t2,b\n", encoding="utf-8")
        argv[argv.index("ANSWERS")] = str(answers)
    return argv


def _check(code: int, out: str, err: str, *, report: bool = False) -> None:
    assert code != 0, f"exit 0 on a bad file; stdout: {out!r}"
    assert "Traceback" not in err and "Traceback" not in out, err
    lines = err.splitlines()
    if report and lines and lines[-1].endswith("problem(s)"):
        return  # a validator's report: one `FILE:LINE:COL: problem` line each, then a count
    assert lines and lines[0].startswith("error: "), err
    assert sum(line.startswith("error:") for line in lines) == 1, err


def _state(cli: Callable[..., typing.Any]) -> object:
    """Every project with its schema version and item/answer/gold/event counts."""
    listed = cli("project", "list", "--json")
    assert listed.code == 0, listed.err
    return json.loads(listed.out)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("key", sorted(CASES), ids=lambda k: "-".join(k).replace(" ", "-"))
def test_bad_file_fails_with_one_error_line(
    key: tuple[str, str],
    kind: str,
    workspace: Path,
    cli: Callable[..., typing.Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = CASES[key]
    folder = workspace / "bad"
    folder.mkdir()
    path = _write(kind, folder, case.suffix)
    before = _state(cli) if case.writes else None
    fresh = workspace.parent / "fresh"
    fresh.mkdir()
    if case.fresh:
        monkeypatch.chdir(fresh)
    result = cli(*_argv(case, path, folder))
    monkeypatch.chdir(workspace)
    _check(result.code, result.out, result.err, report=case.report)
    assert list(fresh.iterdir()) == []
    if case.writes:
        assert _state(cli) == before


@pytest.mark.parametrize("key", sorted(CASES), ids=lambda k: "-".join(k).replace(" ", "-"))
def test_real_entry_point_prints_no_traceback(key: tuple[str, str], workspace: Path) -> None:
    case = CASES[key]
    folder = workspace / "bad"
    folder.mkdir()
    path = _write("malformed", folder, case.suffix)
    fresh = workspace.parent / "fresh"
    fresh.mkdir()
    run = subprocess.run(
        [sys.executable, "-m", "labelloop", *_argv(case, path, folder)],
        capture_output=True,
        text=True,
        cwd=fresh if case.fresh else workspace,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
    )
    _check(run.returncode, run.stdout, run.stderr, report=case.report)
    assert list(fresh.iterdir()) == []


@pytest.mark.parametrize(
    ("method", "param", "message"),
    [
        # checked by the core at fit time; used to be a bare ValueError (a traceback)
        ("auto.v2", "n_folds=1", "n_folds must be >= 2, got 1"),
        # a string where EM needs a number used to fail deep in the loop with a TypeError
        ("dawid_skene.v1", "max_iter=x", "parameter max_iter='x': expected an integer"),
        ("mace.v1", "fit_prior=1", "expected true or false or 'auto'"),
    ],
)
def test_core_rejection_reaches_the_user_as_one_error_line(
    method: str, param: str, message: str, workspace: Path, cli: Callable[..., typing.Any]
) -> None:
    answers = workspace / "answers.csv"
    answers.write_text("worker,task,label\nw1,t1,a\nw2,t1,a\nw1,t2,b\nw2,t2,a\n", encoding="utf-8")
    result = cli("aggregate", str(answers), "--method", method, "--param", param, "--json")
    _check(result.code, result.out, result.err)
    assert message in result.err
