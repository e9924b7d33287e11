"""The plugin registry: versioned names, lookups, parameter checks and third-party entry points."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import labelloop
from labelloop import registry
from labelloop.core.aggregate import Aggregator, MajorityVote, make_aggregator
from labelloop.core.answers import Answers
from labelloop.core.sampling import STRATEGIES, Pool, Selection, select_batch
from labelloop.errors import InvalidInput, NotFound
from labelloop.labelers import Labeler

DEMO_SCHEMA = Path(labelloop.__file__).parent / "data" / "demo" / "spam_schema.yaml"


def _fresh(builtins: dict[str, str] | None = None) -> registry.Registry:
    return registry.Registry(
        "aggregator", noun="aggregator", group="labelloop.aggregators", builtins=builtins
    )


# ---------------------------------------------------------------- built-ins


@pytest.mark.parametrize("key", sorted(registry.BUILTINS["aggregator"]))
def test_every_builtin_aggregator_loads_under_its_own_name(key: str) -> None:
    cls = registry.aggregators[key]
    assert issubclass(cls, Aggregator)
    assert cls.name == key  # the name it writes into provenance is the name it is found by


@pytest.mark.parametrize("key", sorted(registry.BUILTINS["sampler"]))
def test_every_builtin_sampler_takes_pool_and_budget_positionally(key: str) -> None:
    fn = registry.samplers[key]
    params = list(inspect.signature(fn).parameters.values())
    assert [p.name for p in params[:2]] == ["pool", "budget"]
    assert all(p.kind is p.POSITIONAL_ONLY for p in params[:2])
    assert all(p.kind is p.KEYWORD_ONLY for p in params[2:])


def test_the_builtin_strategies_are_the_registry_s_samplers() -> None:
    assert [f"{name}.v1" for name in STRATEGIES] == list(registry.BUILTINS["sampler"])
    assert set(STRATEGIES) <= {p.name for p in registry.samplers.plugins()}


def test_every_builtin_labeler_follows_the_labeler_protocol() -> None:
    from labelloop.labelers.rules import labeling_function
    from labelloop.schema import load_schema

    @labeling_function()
    def shouts(text: str) -> str | None:
        return "spam" if text.isupper() else None

    built = {
        "sklearn.v1": registry.labelers["sklearn.v1"](),
        "embeddings.v1": registry.labelers["embeddings.v1"](),  # the model loads on first use
        "llm.v1": registry.labelers["llm.v1"](
            "http://127.0.0.1:9/v1", "tiny-model", schema=load_schema(DEMO_SCHEMA)
        ),
        "rules.v1": shouts,
    }
    assert set(built) == set(registry.BUILTINS["labeler"])
    for key, labeler in built.items():
        assert isinstance(labeler, registry.labelers[key]), key
        assert isinstance(labeler, Labeler), key
        prov = labeler.provenance()
        assert (prov["kind"], prov["name"], prov["version"]) == (
            labeler.kind,
            labeler.name,
            labeler.version,
        )
    assert built["rules.v1"].kind == "rule" and built["rules.v1"].version
    assert built["llm.v1"].name == "tiny-model" and built["llm.v1"].version.startswith("p")


def test_release_exporters_are_registered() -> None:
    assert registry.registry("exporter") is registry.exporters
    assert {"jsonl.v1", "parquet.v1"} <= set(registry.exporters)
    assert registry.exporters.make("parquet").file_name == "labels.parquet"
    with pytest.raises(NotFound, match=r"did you mean 'jsonl'"):
        registry.exporters.resolve("jsonlines")
    assert registry.registry("exporters") is registry.exporters  # the plural reads naturally
    with pytest.raises(NotFound, match=r"unknown plugin kind 'samplr'.*did you mean 'sampler'"):
        registry.registry("samplr")


# ---------------------------------------------------------------- names


def test_a_bare_name_means_its_latest_version() -> None:
    reg = _fresh({"vote.v1": "m:A", "vote.v2": "m:B", "vote.v10": "m:C", "other.v1": "m:D"})
    assert reg.resolve("vote").key == "vote.v10"  # numeric, not lexical, order
    assert reg.resolve("vote.v2").target == "m:B"
    assert [p.key for p in reg.latest()] == ["other.v1", "vote.v10"]
    assert list(reg) == ["other.v1", "vote.v1", "vote.v2", "vote.v10"]


def test_an_unknown_name_lists_the_known_ones_and_the_closest() -> None:
    with pytest.raises(NotFound) as err:
        make_aggregator("dawid_skeen")
    text = str(err.value)
    assert text.startswith("unknown aggregator 'dawid_skeen'; known: auto.v1, auto.v2, ")
    assert "label_model.v1" in text and text.endswith("did you mean 'dawid_skene'?")
    with pytest.raises(NotFound) as err:
        select_batch("entropi", 1, n_pool=3)
    assert "unknown sampling strategy 'entropi'" in str(err.value)
    assert "did you mean 'entropy'?" in str(err.value)
    with pytest.raises(NotFound, match=re.escape("dawid_skene.v1")) as err:
        make_aggregator("dawid_skene.v7")  # a version that does not exist is unknown too
    with pytest.raises(NotFound) as err:
        make_aggregator("zzz")
    assert "did you mean" not in str(err.value)


@pytest.mark.parametrize("bad", ["vote", "Vote.v1", "vote.v0", "vote.1", "vote.v1.2", ""])
def test_names_must_carry_a_version(bad: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape("expected NAME.vN")):
        _fresh().register(bad, "m:A")


def test_a_taken_name_is_refused_and_builtins_cannot_be_removed() -> None:
    reg = _fresh({"vote.v1": "m:A"})
    with pytest.raises(
        InvalidInput, match=re.escape("'vote.v1' is already registered by labelloop")
    ):
        reg.register("vote.v1", "m:B")
    with pytest.raises(InvalidInput, match="not a removable registration"):
        reg.unregister("vote.v1")


def test_a_target_that_does_not_import_is_one_clear_error() -> None:
    reg = _fresh({"gone.v1": "labelloop.core.nowhere:Gone", "typo.v1": "labelloop.core:Nope"})
    with pytest.raises(InvalidInput, match=re.escape("aggregator 'gone.v1': cannot load")):
        reg.load("gone")
    with pytest.raises(InvalidInput, match="AttributeError"):
        reg.load("typo")
    assert reg.describe("gone").startswith("(does not load:")


# ---------------------------------------------------------------- registering and parameters


class _Coin(MajorityVote):
    """A test aggregator with typed parameters."""

    name = "coin_vote.v1"

    def __init__(self, *, bias: float = 0.5, rounds: int = 1) -> None:
        self.bias = bias
        self.rounds = rounds


def test_registering_a_new_aggregator_is_one_call_and_checks_its_parameters() -> None:
    registry.aggregators.register("coin_vote.v1", _Coin)
    try:
        agg = make_aggregator("coin_vote", bias=0.7)
        assert isinstance(agg, _Coin) and agg.bias == 0.7
        assert registry.aggregators.resolve("coin_vote").origin == "user"
        with pytest.raises(InvalidInput, match=r"coin_vote.v1: parameter rounds=1.5: expected an"):
            make_aggregator("coin_vote", rounds=1.5)
        with pytest.raises(InvalidInput, match=r"unknown parameter 'bais'; expected any of"):
            make_aggregator("coin_vote", bais=0.7)
    finally:
        registry.aggregators.unregister("coin_vote.v1")
    with pytest.raises(NotFound):
        make_aggregator("coin_vote")


def _pick_first(pool: Pool, budget: int, /, *, reverse: bool = False) -> Selection:
    """Pick the lowest (or highest) available positions."""
    idx = pool.available[::-1] if reverse else pool.available
    chosen = idx[:budget]
    return Selection(chosen, np.zeros(len(chosen)), tuple("first" for _ in chosen), "first")


def test_a_registered_sampler_is_used_by_select_batch_with_checked_options() -> None:
    registry.samplers.register("first.v1", _pick_first)
    try:
        exclude = np.array([True, False, False, False])
        sel = select_batch("first", 2, n_pool=4, exclude=exclude)
        assert sel.indices.tolist() == [1, 2] and sel.method == "first"
        assert select_batch("first.v1", 1, n_pool=4, reverse=True).indices.tolist() == [3]
        with pytest.raises(InvalidInput, match=re.escape("first.v1: parameter reverse='yes'")):
            select_batch("first", 1, n_pool=4, reverse="yes")
    finally:
        registry.samplers.unregister("first.v1")


def test_builtin_sampler_options_are_type_checked() -> None:
    probas = np.full((5, 2), 0.5)
    with pytest.raises(
        InvalidInput, match=re.escape("hybrid.v1: parameter candidate_factor='ten'")
    ):
        select_batch("hybrid", 1, n_pool=5, probas=probas, candidate_factor="ten")
    with pytest.raises(InvalidInput, match=re.escape("committee.v1: parameter method='vote'")):
        select_batch("committee", 1, n_pool=5, probas=probas, method="vote")


# ---------------------------------------------------------------- entry points


def _fake_distribution(root: Path) -> Path:
    """A package installed the way pip installs one: a module and a dist-info with entry points."""
    root.mkdir(exist_ok=True)
    (root / "fake_labelloop_plugin.py").write_text(
        textwrap.dedent(
            '''
            """A third-party plugin module."""
            from labelloop.core.aggregate import MajorityVote


            class FirstAnswer(MajorityVote):
                """Every item takes the class of the majority, under a third-party name."""

                name = "first_answer.v1"
            '''
        ),
        encoding="utf-8",
    )
    info = root / "fake_labelloop_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-labelloop-plugin\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[labelloop.aggregators]\n"
        "first_answer.v1 = fake_labelloop_plugin:FirstAnswer\n"
        "majority_vote.v1 = fake_labelloop_plugin:FirstAnswer\n"
        "unversioned = fake_labelloop_plugin:FirstAnswer\n",
        encoding="utf-8",
    )
    return root


def test_a_third_party_entry_point_is_found_lazily(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(_fake_distribution(tmp_path)))
    monkeypatch.delitem(sys.modules, "fake_labelloop_plugin", raising=False)
    reg = _fresh(registry.BUILTINS["aggregator"])
    assert reg.resolve("dawid_skene").origin == "labelloop"  # built-ins need no metadata scan
    assert not reg._entry_points_read
    plugin = reg.resolve("first_answer")  # not built in: now the entry points are read
    assert (plugin.key, plugin.origin) == ("first_answer.v1", "fake-labelloop-plugin")
    assert "fake_labelloop_plugin" not in sys.modules  # listed, not imported
    agg = reg.make("first_answer")
    a = Answers.from_codes([0, 0, 0, 1], [0, 1, 2, 0], [1, 1, 0, 0])
    assert agg.fit(a).labels_.tolist() == [1, 0]
    assert agg.params()["aggregator"] == "first_answer.v1"  # what provenance records
    # a built-in's name cannot be taken over, and a name must carry a version
    assert reg.resolve("majority_vote.v1").origin == "labelloop"
    assert len(reg.problems) == 2
    assert any("'majority_vote.v1'" in p and "already registered" in p for p in reg.problems)
    assert any("'unversioned'" in p and "NAME.vN" in p for p in reg.problems)


def test_the_cli_lists_and_uses_an_installed_plugin(tmp_path: Path) -> None:
    root = _fake_distribution(tmp_path / "site")
    answers = tmp_path / "answers.csv"
    answers.write_text("worker,task,label\nw1,t1,a\nw2,t1,a\nw3,t1,b\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "labelloop", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            check=False,
        )

    listed = run("plugins", "aggregator", "--json")
    assert listed.returncode == 0, listed.stderr
    out = json.loads(listed.stdout)
    mine = [p for p in out["plugins"] if p["origin"] == "fake-labelloop-plugin"]
    assert [(p["name"], p["latest"], p["target"]) for p in mine] == [
        ("first_answer.v1", True, "fake_labelloop_plugin:FirstAnswer")
    ]
    assert mine[0]["summary"].startswith("Every item takes the class")
    assert len(out["problems"]) == 2
    text = run("plugins", "aggregator")
    assert "first_answer.v1*" in text.stdout and "[fake-labelloop-plugin]" in text.stdout
    assert text.stderr.count("warning: entry point") == 2
    used = run("aggregate", str(answers), "-m", "first_answer", "-o", "-", "--json")
    assert used.returncode == 0, used.stderr
    assert "t1,a," in used.stdout


def test_docstring_examples_run() -> None:
    import doctest

    from labelloop.core import aggregate, sampling

    for module in (registry, aggregate, sampling):
        result = doctest.testmod(
            module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
        )
        assert result.failed == 0, module.__name__
        assert result.attempted >= 2, module.__name__


def test_plugins_command_lists_every_kind(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    text = cli("plugins")
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    kinds = {line.split()[0] for line in lines}
    assert kinds == {"aggregator", "set_aggregator", "sampler", "labeler", "exporter"}
    assert any(line.split()[1] == "auto.v1" for line in lines)  # an older version: no mark
    assert any(line.split()[1] == "auto.v3*" for line in lines)
    out = json.loads(cli("plugins", "sampler", "--json").out)
    assert [p["name"] for p in out["plugins"]] == sorted(f"{s}.v1" for s in STRATEGIES)
    assert all(p["origin"] == "labelloop" and p["summary"] for p in out["plugins"])
    bad = cli("plugins", "exporterz")
    assert bad.code == 2 and "did you mean 'exporter'?" in bad.err
