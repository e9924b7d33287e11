"""Releases: the incremental Merkle tree, signed checkpoints, release contents, diff, and
verification naming each kind of tampering, on the selected backend."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from labelloop.core.checkpoint import Checkpoint, public_key_of, sign_checkpoint
from labelloop.core.merkle import event_leaf, root_of
from labelloop.core.provenance import event_hash
from labelloop.errors import ConfigError, Conflict, InvalidInput, NotFound
from labelloop.service.project.schemas import apply_schema_file
from labelloop.service.project.status import verify_chain
from labelloop.service.release.keys import create_key, export_key, init_key, key_path
from labelloop.service.release.releases import ReleaseFilters, create_release, diff, show_release
from labelloop.service.release.verify import (
    verify_checkpoint_file,
    verify_event,
    verify_release,
)
from labelloop.service.source.imports import import_answers, import_gold
from labelloop.store import checkpoints, repo
from labelloop.store import tables as t
from labelloop.store.engine import Store
from tests.service.test_events import ANSWERS, answers_file, schema_file


def new_project(database_url: str, folder: Path, name: str) -> Store:
    """A migrated store holding project ``name`` with its signing key (kept in ``folder``)."""
    s = Store(database_url)
    s.migrate()
    with s.write() as conn:
        project = repo.create_project(conn, name)
        create_key(conn, folder, project)
    return s


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Store:
    s = new_project(database_url, tmp_path, "rel")
    apply_schema_file(s, None, schema_file(tmp_path))
    import_answers(s, None, answers_file(tmp_path, ANSWERS))
    gold = tmp_path / "gold.csv"
    gold.write_text("task,label\nt3,ham\n")
    import_gold(s, None, gold)
    return s


def project_of(store: Store) -> repo.Project:
    with store.read() as conn:
        return repo.get_project(conn, None)


def stored_leaves(store: Store) -> list[bytes]:
    with store.read() as conn:
        hashes = conn.execute(select(t.events.c.hash).order_by(t.events.c.seq)).scalars()
        return [event_leaf(h) for h in hashes]


def release(store: Store, root: Path, name: str, **kw: object) -> dict:
    return create_release(store, root, None, name, method="majority_vote", **kw).as_dict()  # type: ignore[arg-type]


def drop_triggers(store: Store) -> None:
    with store.write() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("DROP TRIGGER events_no_update ON events"))
        else:
            conn.execute(text("DROP TRIGGER events_no_update"))
            conn.execute(text("DROP TRIGGER events_no_delete"))


# ---------------------------------------------------------------- the tree


def test_the_tree_is_kept_as_events_are_appended_and_catches_up_once(store, tmp_path):
    leaves = stored_leaves(store)
    with store.write() as conn:
        project = repo.get_project(conn, None)
        tree = checkpoints.current_tree(conn, project)
        assert (tree.size, tree.root()) == (len(leaves), root_of(leaves))
        # a tree that lags (events from before the tree existed) is rebuilt from the events
        checkpoints.forget_tree(conn, project.id)
        assert checkpoints.current_tree(conn, project).root() == root_of(leaves)
    import_answers(store, None, answers_file(tmp_path, [("dan", "t4", "spam")], "b.csv"))
    leaves = stored_leaves(store)
    with store.read() as conn:
        tree = checkpoints.current_tree(conn, repo.get_project(conn, None))
    assert (tree.size, tree.root()) == (len(leaves), root_of(leaves))


def test_complete_subtrees_of_256_events_are_stored_and_serve_proofs(database_url, tmp_path):
    s = Store(database_url)
    s.migrate()
    with s.write() as conn:
        create_key(conn, tmp_path, repo.create_project(conn, "big"))
    apply_schema_file(s, None, schema_file(tmp_path))
    rows = [(f"w{i % 7}", f"t{i}", "spam" if i % 3 else "ham") for i in range(600)]
    import_answers(s, None, answers_file(tmp_path, rows))
    leaves = stored_leaves(s)
    with s.read() as conn:
        nodes = conn.execute(select(t.merkle_nodes.c.level, t.merkle_nodes.c.idx)).all()
        last = conn.execute(select(func.max(t.events.c.id))).scalar_one()
    assert sorted(nodes) == [(8, 0), (8, 1), (9, 0)]  # 602 events: two full 256-blocks
    verdict = verify_event(s, None, last)
    assert verdict.ok, verdict.message
    assert verdict.details["root"] == root_of(leaves).hex()


# ---------------------------------------------------------------- releases


def test_a_release_freezes_one_label_per_item_and_verifies(store, tmp_path):
    before = project_of(store).event_seq
    report = release(store, tmp_path, "v1")
    assert report["checkpoint"]["size"] == before
    assert report["checkpoint"]["root"] == root_of(stored_leaves(store)[:before]).hex()
    assert report["event_seq"] == before + 1
    shown = show_release(store, None, "v1", labels=True)
    by_item = {x["item"]: x for x in shown["labels"]}
    # t1: 2 spam vs 1 ham; t2: ham; t3: gold ham over the one spam answer
    assert {k: (v["label"], v["source"]) for k, v in by_item.items()} == {
        "t1": ("spam", "aggregate"),
        "t2": ("ham", "aggregate"),
        "t3": ("ham", "gold"),
    }
    assert by_item["t1"]["soft_label"]["spam"] == pytest.approx(2 / 3, abs=1e-6)
    assert len(by_item["t1"]["answers"]) == 3
    assert by_item["t3"]["confidence"] == 1.0 and by_item["t3"]["event_seq"] is not None
    assert shown["method"] == "majority_vote.v1" and shown["parent"] is None
    assert shown["schema"]["version"] == "1.0"
    published = json.loads(Path(report["checkpoint_file"]).read_text())
    assert published["root"] == report["checkpoint"]["root"]
    # the release is an event of the chain; the chain, the release, its proof all verify
    assert verify_chain(store, None).ok
    assert verify_release(store, None, "v1").ok
    assert verify_checkpoint_file(store, None, Path(report["checkpoint_file"])).ok
    with store.read() as conn:
        kind = conn.execute(
            select(t.events.c.type).where(t.events.c.seq == report["event_seq"])
        ).scalar_one()
    assert kind == "release"


def test_filters_and_splits(store, tmp_path):
    only_gold = release(store, tmp_path, "gold-only", filters=ReleaseFilters(sources=("gold",)))
    assert only_gold["counts"]["items"] == 1
    assert only_gold["counts"]["dropped"]["source"] == 2
    confident = release(store, tmp_path, "sure", filters=ReleaseFilters(min_confidence=0.9))
    assert confident["counts"]["items"] == 2  # t1 (2/3) is dropped
    agreed = release(store, tmp_path, "agreed", filters=ReleaseFilters(min_agreement=0.5))
    assert agreed["counts"]["dropped"]["agreement"] == 1  # t3: gold ham, its one answer spam
    halves = release(store, tmp_path, "halves", splits=[("a", 0.5), ("b", 0.5)])
    assert set(halves["counts"]["by_split"]) <= {"a", "b"}
    first = {
        x["item"]: x["split"] for x in show_release(store, None, "sure", labels=True)["labels"]
    }
    again = {
        x["item"]: x["split"] for x in show_release(store, None, "agreed", labels=True)["labels"]
    }
    assert all(again[k] == v for k, v in first.items() if k in again)


def test_bad_release_requests_are_clear_errors(store, tmp_path):
    release(store, tmp_path, "v1")
    with pytest.raises(Conflict, match="already exists"):
        release(store, tmp_path, "v1")
    with pytest.raises(InvalidInput, match="release name"):
        release(store, tmp_path, "../x")
    with pytest.raises(InvalidInput, match="parent release 'nope'"):
        release(store, tmp_path, "v2", parent="nope")
    with pytest.raises(InvalidInput, match=r"sum to 0\.9"):
        release(store, tmp_path, "v2", splits=[("a", 0.5), ("b", 0.4)])
    with pytest.raises(ConfigError, match="is not at"):
        release(store, tmp_path / "elsewhere", "v2")
    seq = project_of(store).event_seq
    assert seq == show_release(store, None, "v1")["event_seq"]  # nothing half-written


def test_diff_names_added_relabeled_and_their_causes(store, tmp_path):
    release(store, tmp_path, "v1")
    import_answers(
        store,
        None,
        answers_file(
            tmp_path, [("dan", "t4", "spam"), ("dan", "t1", "ham"), ("eve", "t1", "ham")], "b.csv"
        ),
    )
    gold = tmp_path / "gold2.csv"
    gold.write_text("task,label\nt2,spam\n")
    import_gold(store, None, gold)
    report = release(store, tmp_path, "v2")
    assert report["parent"] == "v1"
    result = diff(store, None, "v1", "v2")
    changes = {c.item: (c.change, c.causes) for c in result.changes}
    assert changes == {
        "t1": ("relabeled", ("new answers",)),
        "t2": ("relabeled", ("adjudication",)),
        "t4": ("added", ("new answers",)),
    }
    assert (result.added, result.removed, result.relabeled) == (1, 0, 2)
    # consecutive releases: the earlier checkpoint is consistent with the log now
    verdict = verify_checkpoint_file(store, None, tmp_path / "releases" / "v1.checkpoint.json")
    assert verdict.ok, verdict.message
    assert verdict.details["proof"]


def test_keys_init_export_and_rotate(store, tmp_path):
    info = init_key(store, tmp_path, None)
    assert not info.created  # made with the project
    public, pem = export_key(store, None)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----") and public.key_id == info.key_id
    key_path(tmp_path, "rel").unlink()
    with pytest.raises(Conflict, match="--rotate"):
        init_key(store, tmp_path, None)
    rotated = init_key(store, tmp_path, None, rotate=True)
    assert rotated.created and rotated.key_id != info.key_id
    assert key_path(tmp_path, "rel").stat().st_mode & 0o777 == 0o600
    release(store, tmp_path, "v1")
    assert verify_release(store, None, "v1").details["key_id"] == rotated.key_id


# ---------------------------------------------------------------- tampering, each named


def first_answer(store: Store) -> int:
    """Seq of the first answer event (ann: t1 spam)."""
    with store.read() as conn:
        return int(
            conn.execute(
                select(func.min(t.events.c.seq)).where(t.events.c.type == "answer")
            ).scalar_one()
        )


def test_an_edited_event_is_named(store, tmp_path):
    release(store, tmp_path, "v1")
    seq = first_answer(store)
    drop_triggers(store)
    with store.write() as conn:
        conn.execute(update(t.events).where(t.events.c.seq == seq).values(label='"ham"'))
    verdict = verify_release(store, None, "v1")
    assert not verdict.ok
    assert (
        verdict.message == f"event {seq}: hash does not match its content (the event was altered)"
    )


def test_a_removed_event_is_named(store, tmp_path):
    release(store, tmp_path, "v1")
    seq = first_answer(store) + 1  # an answer that no derived row refers to
    drop_triggers(store)
    with store.write() as conn:
        conn.execute(t.events.delete().where(t.events.c.seq == seq))
    verdict = verify_release(store, None, "v1")
    assert not verdict.ok and verdict.details["reason"] == "missing"
    assert f"event {seq} is missing (removed)" in verdict.message


def test_a_swapped_pair_is_named(store, tmp_path):
    release(store, tmp_path, "v1")
    a = first_answer(store)
    drop_triggers(store)
    with store.write() as conn:  # two answers trade places in the log
        conn.execute(update(t.events).where(t.events.c.seq == a).values(seq=-a))
        conn.execute(update(t.events).where(t.events.c.seq == a + 1).values(seq=a))
        conn.execute(update(t.events).where(t.events.c.seq == -a).values(seq=a + 1))
    verdict = verify_release(store, None, "v1")
    assert not verdict.ok and verdict.details["reason"] == "reordered"
    assert f"event {a}: prev_hash does not match" in verdict.message
    assert "events were reordered" in verdict.message


def test_a_forged_checkpoint_signature_is_named(store, tmp_path):
    report = release(store, tmp_path, "v1")
    path = Path(report["checkpoint_file"])
    body = json.loads(path.read_text())
    other = bytes(range(32))  # someone else's key, signing a different root
    forged = Checkpoint(body["origin"], body["size"], bytes(32))
    body["root"] = forged.root.hex()
    body["signature"] = base64.b64encode(sign_checkpoint(forged, other)).decode()
    path.write_text(json.dumps(body))
    verdict = verify_checkpoint_file(store, None, path)
    assert not verdict.ok
    assert "signature of the checkpoint" in verdict.message and "forged" in verdict.message
    assert public_key_of(other).hex() != body["public_key"]


def test_altered_release_labels_are_named(store, tmp_path):
    release(store, tmp_path, "v1")
    with store.write() as conn:
        conn.execute(update(t.release_labels).values(label='"spam"'))
    verdict = verify_release(store, None, "v1")
    assert not verdict.ok and "labels of release 'v1' were changed" in verdict.message


def rewrite_history(store: Store, seq: int, label: str) -> None:
    """What an attacker with the database does: change event ``seq``, recompute every
    hash after it so the chain verifies again, and rebuild the tree."""
    drop_triggers(store)
    with store.write() as conn:
        conn.execute(update(t.events).where(t.events.c.seq == seq).values(label=json.dumps(label)))
        project = repo.get_project(conn, None)
        prev = None
        for event in list(repo.iter_chain(conn, project)):
            if event.seq >= seq:
                digest = event_hash(event.fields, prev)
                conn.execute(
                    update(t.events)
                    .where(t.events.c.id == event.id)
                    .values(prev_hash=prev, hash=digest)
                )
                prev = digest
            else:
                prev = event.hash
        conn.execute(update(t.projects).values(head_hash=prev))
        checkpoints.forget_tree(conn, project.id)


def test_a_fully_recomputed_rewrite_is_caught_by_the_published_checkpoint(store, tmp_path):
    v1 = release(store, tmp_path, "v1")
    import_answers(store, None, answers_file(tmp_path, [("dan", "t4", "spam")], "b.csv"))
    seq = first_answer(store)
    rewrite_history(store, seq, "ham")
    assert verify_chain(store, None).ok  # the chain alone cannot tell
    verdict = verify_release(store, None, "v1")
    assert not verdict.ok and "history before the release was rewritten" in verdict.message
    published = Path(v1["checkpoint_file"])
    verdict = verify_checkpoint_file(store, None, published)
    assert not verdict.ok
    size = v1["checkpoint"]["size"]
    assert verdict.message.startswith("history was rewritten: events ")
    first, last = verdict.message.split("events ")[1].split(" ")[0].split("..")
    assert int(first) <= seq <= int(last) <= size


# ---------------------------------------------------------------- export


def test_export_is_bit_identical_and_swapped_in_whole(store, tmp_path):
    import hashlib

    import pyarrow.parquet as pq

    from labelloop.service.release.export import export_release

    release(store, tmp_path, "v1")
    out = tmp_path / "exports"
    first = export_release(store, None, "v1", "parquet", out)
    current = Path(first.path)
    data = (current / "labels.parquet").read_bytes()
    manifest = json.loads((current / "manifest.json").read_text())
    assert manifest["files"]["labels.parquet"]["sha256"] == hashlib.sha256(data).hexdigest()
    table = pq.read_table(current / "labels.parquet").to_pylist()
    assert [r["item"] for r in table] == ["t1", "t2", "t3"]
    assert table[0]["labeler_kinds"] == ["human"] * 3
    assert [x.split(":")[1] for x in table[0]["labelers"]] == ["ann", "bob", "cat"]
    assert dict(table[0]["soft_label"]) == pytest.approx({"ham": 1 / 3, "spam": 2 / 3}, abs=1e-6)
    again = export_release(store, None, "v1", "parquet", out)
    assert again.sha256 == first.sha256 and (current / "labels.parquet").read_bytes() == data
    lines = export_release(store, None, "v1", "jsonl", out)
    rows = [json.loads(x) for x in Path(lines.path, "labels.jsonl").read_text().splitlines()]
    assert {r["item"]: r["label"] for r in rows} == {"t1": "spam", "t2": "ham", "t3": "ham"}
    assert sorted(p.name for p in out.iterdir()) == [".versions", "v1-jsonl", "v1-parquet"]
    known = r"csv\.v1, hf\.v1, jsonl\.v1, label_studio\.v1, parquet\.v1"
    with pytest.raises(NotFound, match=rf"unknown exporter 'xml'; known: {known}"):
        export_release(store, None, "v1", "xml", out)


def test_a_project_made_before_keys_gets_one_with_key_init(database_url, tmp_path):
    s = Store(database_url)
    s.migrate()
    with s.write() as conn:
        repo.create_project(conn, "old")  # no key, as before this version
    apply_schema_file(s, None, schema_file(tmp_path))
    import_answers(s, None, answers_file(tmp_path, ANSWERS))
    with pytest.raises(NotFound, match="no checkpoint key; create one with `labelloop key init`"):
        release(s, tmp_path, "v1")
    assert init_key(s, tmp_path, None).created
    assert verify_release(s, None, release(s, tmp_path, "v1")["name"]).ok
