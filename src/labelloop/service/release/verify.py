"""`labelloop verify --release / --event / --checkpoint`: releases, inclusion proofs and
published checkpoints against the event log.

Every check recomputes from the events themselves: each event's hash from its content, the
chain of prev_hash links, and the RFC 6962 root from the recomputed chain, so that an edited,
removed or reordered event is named where it is. A history rewritten with every hash
recomputed verifies as a chain; the signed root of a release made before the rewrite then
differs, and when the key was used to re-sign, a checkpoint published before the rewrite
still names the range of events that changed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelloop.core.checkpoint import Checkpoint, key_id, verify_checkpoint
from labelloop.core.merkle import (
    Frontier,
    consistency_proof,
    event_leaf,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from labelloop.core.provenance import find_line_break
from labelloop.core.release import labels_digest
from labelloop.errors import InvalidInput
from labelloop.service.release.releases import CHECKPOINT_KIND, origin_of
from labelloop.store import checkpoints, repo
from labelloop.store import releases as rs
from labelloop.store.engine import Connection, Store


@dataclass
class Verdict:
    """What a verification found: ``ok``, a sentence, and the numbers behind it."""

    ok: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "message": self.message, **self.details}


class _Replay:
    """The project's chain recomputed event by event (streaming), its tree kept beside it,
    with the frontier remembered at the sizes asked for."""

    def __init__(self, conn: Connection, project: repo.Project, sizes: set[int]) -> None:
        self.conn, self.project, self.sizes = conn, project, sizes
        self.frontier = Frontier()
        self.at: dict[int, Frontier] = {}
        self._buffer: list[bytes] = []

    def _flush(self) -> None:
        self.frontier = self.frontier.extend(self._buffer)[0]
        self._buffer = []

    def lines(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for event in repo.iter_chain(self.conn, self.project):
            yield (
                event.seq,
                {
                    **event.fields,
                    "hash_format": event.hash_format,
                    "prev_hash": event.prev_hash,
                    "hash": event.hash,
                },
            )
            self._buffer.append(event_leaf(event.hash))
            size = self.frontier.size + len(self._buffer)
            if size in self.sizes or len(self._buffer) >= 4096:
                self._flush()
                if size in self.sizes:
                    self.at[size] = self.frontier

    def run(self) -> Verdict | None:
        """None when the chain verifies end to end, else what is wrong and where."""
        found = find_line_break(
            self.lines(),
            expected_events=self.project.event_seq,
            expected_head=self.project.head_hash,
            unit="event",
        )
        self._flush()
        if found is not None:
            return Verdict(False, found.message, {"event": found.line, "reason": found.reason})
        return None


def _signature_problem(cp: dict[str, Any], public_key: bytes, what: str) -> str | None:
    try:
        checkpoint = Checkpoint(str(cp["origin"]), int(cp["size"]), bytes.fromhex(cp["root"]))
        signature = base64.b64decode(cp["signature"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return f"{what} is not a checkpoint: expected origin, size, hex root and base64 signature"
    if not verify_checkpoint(checkpoint, public_key, signature):
        return (
            f"the signature of {what} does not verify with key {key_id(public_key)[:16]} "
            "(the signature was forged or the checkpoint altered)"
        )
    return None


def verify_release(store: Store, project_name: str | None, name: str) -> Verdict:
    """Recompute the chain and the root the release's checkpoint signed; check the
    signature and the release's labels."""
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        release = rs.get_release(conn, project, name)
        cp = release.body["checkpoint"]
        size = int(cp["size"])
        replay = _Replay(conn, project, {size})
        broken = replay.run()
        details = {"release": name, "size": size, "root": cp["root"], "key_id": cp["key_id"]}
        if broken is not None:
            return Verdict(False, broken.message, {**details, **broken.details})
        kind, payload = rs.event_payload(conn, project, release.event_seq)
        if kind != "release" or payload != release.body:
            return Verdict(
                False,
                f"release {name!r}: its stored record differs from its event {release.event_seq}",
                details,
            )
        frontier = replay.at.get(size, Frontier()) if size else Frontier()
        root = frontier.root().hex()
        if root != cp["root"]:
            return Verdict(
                False,
                f"events 1..{size} hash to root {root[:16]}, but release {name!r} signed "
                f"{cp['root'][:16]}: history before the release was rewritten",
                details,
            )
        keys = {k.key_id: k.public_key for k in checkpoints.project_keys(conn, project)}
        if cp["key_id"] not in keys:
            return Verdict(
                False,
                f"release {name!r} is signed by key {cp['key_id'][:16]}, which project "
                f"{project.name!r} does not hold",
                details,
            )
        problem = _signature_problem(cp, keys[cp["key_id"]], f"release {name!r}'s checkpoint")
        if problem:
            return Verdict(False, problem, details)
        digest = labels_digest(rs.release_labels(conn, release.id))
        if digest != release.body["labels_sha256"]:
            return Verdict(
                False,
                f"the labels of release {name!r} were changed after it was made (they hash to "
                f"{digest[:16]}, the release recorded {release.body['labels_sha256'][:16]})",
                details,
            )
    return Verdict(
        True,
        f"release {name!r}: events 1..{size} recompute to the signed root {root[:16]}, "
        f"signature by key {cp['key_id'][:16]} verifies, {release.body['counts']['items']:,} "
        "labels unchanged",
        details,
    )


def _catch_up(store: Store, project_name: str | None) -> None:
    """Bring a lagging tree (events from before it existed) up to date in a short write;
    the checks then read a snapshot without holding writers up."""
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        if checkpoints.tree_size(conn, project.id) == project.event_seq:
            return
    with store.write() as conn:
        checkpoints.current_tree(conn, repo.get_project(conn, project_name, lock=True))


def verify_event(store: Store, project_name: str | None, event_id: int) -> Verdict:
    """The inclusion proof of event ``event_id`` (database id) in the current tree."""
    _catch_up(store, project_name)
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        seq, digest = rs.event_seq_of(conn, project, event_id)
        frontier = checkpoints.current_tree(conn, project)
        proof = inclusion_proof(seq - 1, frontier.size, checkpoints.stored_subtree(conn, project))
    root = frontier.root()
    ok = verify_inclusion(seq - 1, frontier.size, event_leaf(digest), proof, root)
    details = {
        "event_id": event_id,
        "seq": seq,
        "leaf_index": seq - 1,
        "hash": digest,
        "size": frontier.size,
        "root": root.hex(),
        "proof": [p.hex() for p in proof],
    }
    if not ok:
        return Verdict(
            False,
            f"event {seq} (id {event_id}) is not proven in the tree of {frontier.size} events: "
            "the stored tree disagrees with the events (run `labelloop verify` for the chain)",
            details,
        )
    return Verdict(
        True,
        f"event {seq} (id {event_id}) is leaf {seq - 1} of the {frontier.size}-event tree "
        f"with root {root.hex()[:16]} ({len(proof)} proof hashes)",
        details,
    )


def read_checkpoint_file(path: Path) -> dict[str, Any]:
    """A published checkpoint file, checked for its fields."""
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{path}: not a JSON checkpoint file ({exc})") from None
    needed = ("origin", "size", "root", "key_id", "signature", "public_key", "subtrees")
    if not isinstance(body, dict) or body.get("labelloop") != CHECKPOINT_KIND:
        raise InvalidInput(
            f'{path}: expected a JSON object with "labelloop": "checkpoint" (written by '
            "`labelloop release create`)"
        )
    missing = [k for k in needed if k not in body]
    if missing:
        raise InvalidInput(f"{path}: fields {missing} are missing; expected {list(needed)}")
    return body


def verify_checkpoint_file(store: Store, project_name: str | None, path: Path) -> Verdict:
    """Check that the log only grew since a published checkpoint: its signature, the chain,
    the root of its first ``size`` events, and a consistency proof from it to now."""
    body = read_checkpoint_file(path)
    try:
        public = bytes.fromhex(body["public_key"])
        size = int(body["size"])
    except (TypeError, ValueError):
        raise InvalidInput(f"{path}: public_key must be hex and size an integer") from None
    details: dict[str, Any] = {"file": str(path), "size": size, "root": body["root"]}
    if key_id(public) != body["key_id"]:
        return Verdict(False, f"{path}: key_id does not name its public_key", details)
    problem = _signature_problem(body, public, f"the checkpoint in {path}")
    if problem:
        return Verdict(False, problem, details)
    _catch_up(store, project_name)
    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        if body["origin"] != origin_of(project.name):
            return Verdict(
                False,
                f"{path} is a checkpoint of {body['origin']!r}, not of project "
                f"{project.name!r} ({origin_of(project.name)!r})",
                details,
            )
        if project.event_seq < size:
            return Verdict(
                False,
                f"the log holds {project.event_seq} events, fewer than the {size} of the "
                f"checkpoint in {path}: events were removed",
                details,
            )
        known = {k.key_id for k in checkpoints.project_keys(conn, project)}
        replay = _Replay(conn, project, {size})
        broken = replay.run()
        if broken is not None:
            return Verdict(False, broken.message, {**details, **broken.details})
        then = replay.at.get(size, Frontier())
        now = replay.frontier
        if then.root().hex() != body["root"]:
            return Verdict(
                False,
                f"history was rewritten: {_first_difference(then, body['subtrees'])} no longer "
                f"hash to what the checkpoint in {path} published (events 1..{size} now hash "
                f"to {then.root().hex()[:16]}, published {body['root'][:16]})",
                details,
            )
        proof = consistency_proof(size, now.size, checkpoints.stored_subtree(conn, project))
    details.update(
        {
            "now_size": now.size,
            "now_root": now.root().hex(),
            "proof": [p.hex() for p in proof],
            "key_known": body["key_id"] in known,
        }
    )
    if not verify_consistency(size, now.size, then.root(), now.root(), proof):
        return Verdict(
            False,
            "the stored tree disagrees with the events (its consistency proof fails although "
            "the events verify)",
            details,
        )
    note = "" if body["key_id"] in known else " (signed by a key this project does not hold)"
    return Verdict(
        True,
        f"the log only grew: events 1..{size} still hash to the published root "
        f"{body['root'][:16]}, and a {len(proof)}-hash consistency proof leads to the "
        f"{now.size}-event root {now.root().hex()[:16]}{note}",
        details,
    )


def _first_difference(now: Frontier, published: list[str]) -> str:
    """The first range of events whose subtree root differs from the published one."""
    start = 0
    for level, mine, theirs in zip(now.levels(), now.hashes, published, strict=False):
        end = start + (1 << level)
        if mine.hex() != theirs:
            return f"events {start + 1}..{end}"
        start = end
    return f"events 1..{now.size}"
