"""Project checkpoint keys: an Ed25519 key per project, its private half in the workspace
folder (``.labelloop/keys/``, mode 0600), its public half in the database.

The limit, plainly: whoever can rewrite the database and read the workspace folder can
also re-sign a rewritten history with this key. A checkpoint proves something only once it
is published where the writer cannot change it (committed to another repository, posted,
sent to the data's users); `labelloop verify --checkpoint FILE` then catches any rewrite of
what it covers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from labelloop.core.checkpoint import key_id, public_key_of
from labelloop.core.provenance import sha256_hex
from labelloop.errors import ConfigError, Conflict, InvalidInput
from labelloop.store import checkpoints, repo
from labelloop.store.engine import Connection, Store

KEY_DIR = Path(".labelloop") / "keys"


@dataclass(frozen=True)
class KeyInfo:
    project: str
    key_id: str
    public_key: str
    """Raw 32 bytes, hex."""
    path: str | None
    created: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def key_path(root: Path, project_name: str) -> Path:
    """Where the project's private key lives in the workspace folder."""
    return Path(root) / KEY_DIR / f"{sha256_hex(project_name)[:16]}.ed25519.pem"


def _need_root(root: Path | None) -> Path:
    if root is None:
        raise ConfigError(
            "checkpoint keys live in a workspace folder; run this in a folder with "
            "labelloop.toml (`labelloop init`)"
        )
    return Path(root)


def create_key(
    conn: Connection, root: Path | None, project: repo.Project, *, rotate: bool = False
) -> KeyInfo:
    """Give the project a key (inside the caller's transaction): the private half to a new
    file, the public half to the database. Keeps an existing key whose private half is
    here; ``rotate`` adds a new one (checkpoints signed by older keys still verify)."""
    folder = _need_root(root)
    path = key_path(folder, project.name)
    keys = checkpoints.project_keys(conn, project)
    if keys and not rotate:
        current = keys[-1]
        if path.exists() and public_key_of(_read_private(path)) == current.public_key:
            return KeyInfo(project.name, current.key_id, current.public_key.hex(), str(path), False)
        raise Conflict(
            f"project {project.name!r} has key {current.key_id[:16]} but its private half is "
            f"not at {path}; copy it there from the workspace that made it, or pass --rotate "
            "to start a new key"
        )
    secret = Ed25519PrivateKey.generate()
    public = secret.public_key().public_bytes_raw()
    pem = secret.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    checkpoints.add_project_key(conn, project, key_id(public), public)
    os.replace(tmp, path)
    return KeyInfo(project.name, key_id(public), public.hex(), str(path), True)


def init_key(
    store: Store, root: Path | None, project_name: str | None, *, rotate: bool = False
) -> KeyInfo:
    """`labelloop key init`: a key for a project made before keys existed (or a new one)."""
    with store.write() as conn:
        project = repo.get_project(conn, project_name, lock=True)
        return create_key(conn, root, project, rotate=rotate)


def _read_private(path: Path) -> bytes:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigError(f"no private key at {path}") from None
    except ValueError:
        raise InvalidInput(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{path} holds a {type(key).__name__}; expected an Ed25519 key")
    return key.private_bytes_raw()


def signing_key(conn: Connection, root: Path | None, project: repo.Project) -> tuple[str, bytes]:
    """(key id, raw private key) of the project's current key; the file must match it."""
    current = checkpoints.current_key(conn, project)
    path = key_path(_need_root(root), project.name)
    if not path.exists():
        raise ConfigError(
            f"the private key of project {project.name!r} (key {current.key_id[:16]}) is not "
            f"at {path}; releases are signed where the key is (or run `labelloop key init "
            "--rotate` to start a new key)"
        )
    secret = _read_private(path)
    if public_key_of(secret) != current.public_key:
        raise ConfigError(
            f"{path} is not the private half of project {project.name!r}'s key "
            f"{current.key_id[:16]}"
        )
    return current.key_id, secret


def export_key(store: Store, project_name: str | None) -> tuple[KeyInfo, str]:
    """The current public key and its PEM text (what verifiers of checkpoints need)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    with store.read() as conn:
        project = repo.get_project(conn, project_name)
        current = checkpoints.current_key(conn, project)
    pem = (
        Ed25519PublicKey.from_public_bytes(current.public_key)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    info = KeyInfo(project.name, current.key_id, current.public_key.hex(), None, False)
    return info, pem
