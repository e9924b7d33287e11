"""Labeling functions on a project: idempotent votes, versions, failures, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from labelloop.errors import InvalidInput
from labelloop.service.annotate.lf import apply_lf_module, lf_report
from labelloop.service.project.schemas import apply_schema_file
from labelloop.service.project.status import verify_chain
from labelloop.service.source.imports import import_gold, import_items
from labelloop.store import tables as t

SCHEMA = """\
name: spam
version: "1.0"
task: single_label
inputs:
  - name: text
    type: text
labels:
  - name: spam
    description: Unsolicited.
  - name: ham
    description: Anything else.
instructions: Label each message.
"""

TEXTS = [
    "win money now http://x",
    "see you at six",
    "free money, click http://y",
    "ok",
    "lunch tomorrow?",
    "claim your free prize",
    "boom",
    "call me later tonight please",
]
GOLD = ["spam", "ham", "spam", "ham", "ham", "spam", "ham", "ham"]

LFS_V1 = """\
from labelloop.labelers.rules import ABSTAIN, labeling_function

@labeling_function()
def link(text):
    return "spam" if "http" in text else ABSTAIN

@labeling_function()
def free(text):
    return "spam" if "free" in text else ABSTAIN

@labeling_function()
def short(text):
    if text == "boom":
        raise RuntimeError("cannot handle boom")
    return "ham" if len(text.split()) <= 3 and "free" not in text else ABSTAIN
"""


def _project(store, folder: Path) -> None:
    (folder / "schema.yaml").write_text(SCHEMA)
    apply_schema_file(store, None, folder / "schema.yaml")
    with open(folder / "items.jsonl", "w") as fh:
        for i, text in enumerate(TEXTS):
            fh.write(json.dumps({"id": f"m{i}", "text": text}) + "\n")
    import_items(store, None, folder / "items.jsonl")
    with open(folder / "gold.csv", "w") as fh:
        fh.write("task,label\n")
        for i, label in enumerate(GOLD):
            fh.write(f"m{i},{label}\n")
    import_gold(store, None, folder / "gold.csv")


def _rule_events(store) -> int:
    with store.read() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(t.events).where(t.events.c.source == "rule")
            ).scalar_one()
        )


def test_apply_rerun_change_and_report(store, workspace: Path) -> None:
    _project(store, workspace)
    mod = workspace / "lfs.py"
    mod.write_text(LFS_V1)
    rep = apply_lf_module(store, None, mod, n_jobs=1)
    # link: m0, m2; free: m2, m5; short: m3, m4 (and raises on m6)
    votes = {lf.name: lf.votes for lf in rep.lfs}
    assert votes == {"link": 2, "free": 2, "short": 2}
    assert rep.events_added == 6 == _rule_events(store)
    assert rep.n_failures == 1
    assert rep.failures == [
        {"lf": "short", "item": "m6", "error": "RuntimeError: cannot handle boom"}
    ]

    again = apply_lf_module(store, None, mod, n_jobs=1)
    assert again.events_added == 0 and _rule_events(store) == 6

    # a changed LF is a new version: its votes are added, unchanged LFs add nothing
    mod.write_text(LFS_V1.replace('"free" in text else', '"free" in text or "win" in text else'))
    changed = apply_lf_module(store, None, mod, n_jobs=1)
    versions = {lf.name: lf.version for lf in changed.lfs}
    assert versions["free"] != {lf.name: lf.version for lf in rep.lfs}["free"]
    assert versions["link"] == {lf.name: lf.version for lf in rep.lfs}["link"]
    assert changed.events_added == 3  # free v2 votes on m0, m2, m5
    with store.read() as conn:
        kinds = conn.execute(
            select(t.labelers.c.kind, t.labelers.c.name, t.labelers.c.version).where(
                t.labelers.c.kind == "rule"
            )
        ).all()
    assert len(kinds) == 4
    assert verify_chain(store, None).ok

    report = lf_report(store, None, end_model=False)
    stats = {s.name: s for s in report.lfs}
    assert set(stats) == {"link", "free", "short"}
    assert stats["free"].votes == 3  # latest version only
    assert stats["free"].polarity == ["spam"]
    assert stats["free"].coverage == pytest.approx(3 / 8)
    assert stats["free"].gold_accuracy == 1.0  # m0, m2, m5 are spam
    assert stats["short"].gold_accuracy == 1.0
    assert stats["link"].overlap == pytest.approx(2 / 8)
    assert report.gold_items == 8
    assert report.coverage == pytest.approx(5 / 8)
    assert report.label_model["gold_accuracy_covered"] == 1.0
    assert 0.0 <= stats["link"].estimated_accuracy <= 1.0


def test_out_of_schema_label_writes_nothing(store, workspace: Path) -> None:
    _project(store, workspace)
    mod = workspace / "bad.py"
    mod.write_text(
        "from labelloop.labelers.rules import labeling_function\n\n"
        "@labeling_function()\ndef ok(text):\n    return 'ham'\n\n"
        "@labeling_function()\ndef typo(text):\n    return 'spma' if 'free' in text else 'ham'\n"
    )
    with pytest.raises(InvalidInput, match=r"'typo' returned 'spma' on item m2"):
        apply_lf_module(store, None, mod, n_jobs=1)
    assert _rule_events(store) == 0
    with pytest.raises(InvalidInput, match="no labeling-function votes"):
        lf_report(store, None)


def test_needs_schema(store, workspace: Path) -> None:
    mod = workspace / "lfs.py"
    mod.write_text(LFS_V1)
    with pytest.raises(InvalidInput, match="no schema"):
        apply_lf_module(store, None, mod)


def test_report_class_balance_from_gold(store, workspace: Path) -> None:
    _project(store, workspace)
    mod = workspace / "lfs.py"
    mod.write_text(LFS_V1)
    apply_lf_module(store, None, mod, n_jobs=1)
    rep = lf_report(store, None, end_model=False, class_balance="gold")
    # gold: 3 spam, 5 ham, plus one pseudo-count each
    assert rep.label_model["class_balance"] == pytest.approx({"spam": 0.4, "ham": 0.6})
    with pytest.raises(InvalidInput, match="class balance"):
        lf_report(store, None, class_balance="often")
