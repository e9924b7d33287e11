"""Workspaces: a folder with `labelloop.toml`, its database and its keys.

The database URL is, in order: `LABELLOOP_DATABASE_URL`, the workspace file's
`database_url`, else the SQLite file `labelloop.db` beside the workspace file.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

from labelloop.errors import ConfigError
from labelloop.schema import load_schema
from labelloop.service.project.schemas import SchemaApplied, apply_schema
from labelloop.service.release.keys import create_key
from labelloop.settings import get_settings
from labelloop.store import listing, repo
from labelloop.store.engine import Store

WORKSPACE_FILE = "labelloop.toml"
KEY_DIR = ".labelloop"
SECRET_KEY_FILE = "secret.key"  # checkpoint keys: service.release.keys
"""Random 32-byte key (hex) for signing release manifests and API tokens; mode 0600."""


SECRET_MIN_BYTES = 32
"""Shortest workspace secret the server accepts (256 bits, what `labelloop init` writes)."""


def load_secret_key(root: Path | None) -> bytes:
    """The workspace secret, checked: present, at least 32 bytes of hex, readable by its
    owner only. Anything else is a ConfigError saying how to fix it."""
    if root is None:
        raise ConfigError(
            "the server needs a workspace folder (its secret key signs sessions); "
            f"run it in a folder with {WORKSPACE_FILE}"
        )
    path = Path(root) / KEY_DIR / SECRET_KEY_FILE
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise ConfigError(
            f"workspace secret {path} is missing; write {SECRET_MIN_BYTES * 2} random hex "
            f"characters to it with mode 600 (e.g. `python3 -c 'import secrets; "
            f"print(secrets.token_hex(32))' > {path} && chmod 600 {path}`)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"workspace secret {path} cannot be read: {exc}") from None
    if mode & 0o077:
        raise ConfigError(
            f"workspace secret {path} has mode {mode & 0o777:o}, readable by others; "
            f"expected 600 (run `chmod 600 {path}`)"
        )
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(
            f"workspace secret {path} is not hex text; expected {SECRET_MIN_BYTES * 2} or more "
            "hex characters"
        ) from None
    if len(key) < SECRET_MIN_BYTES:
        raise ConfigError(
            f"workspace secret {path} holds {len(key)} bytes; expected at least "
            f"{SECRET_MIN_BYTES} ({SECRET_MIN_BYTES * 2} hex characters)"
        )
    return key


@dataclass
class Workspace:
    root: Path | None
    database_url: str
    default_project: str | None
    store: Store

    @property
    def models_dir(self) -> Path | None:
        """Where trained model files go (``.labelloop/models``); None without a folder."""
        return None if self.root is None else Path(self.root) / ".labelloop" / "models"

    def close(self) -> None:
        self.store.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def find_workspace_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` holding a workspace file."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / WORKSPACE_FILE).is_file():
            return folder
    return None


def _sqlite_url(root: Path) -> str:
    return f"sqlite:///{root / 'labelloop.db'}"


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def init_workspace(root: Path, project_name: str) -> tuple[Workspace, repo.Project]:
    """Create the workspace in ``root``: file, keys, migrated database, first project."""
    ws, project, _ = _init_workspace(root, project_name, None)
    return ws, project


def init_workspace_with_schema(
    root: Path, project_name: str, schema_path: Path
) -> tuple[Workspace, repo.Project, SchemaApplied]:
    """:func:`init_workspace` with a schema file applied to the first project.

    The file is validated before anything is created, so a bad schema leaves no workspace.
    """
    ws, project, applied = _init_workspace(root, project_name, schema_path)
    assert applied is not None  # applied whenever a schema path is given
    return ws, project, applied


def _init_workspace(
    root: Path, project_name: str, schema_path: Path | None
) -> tuple[Workspace, repo.Project, SchemaApplied | None]:
    root = root.resolve()
    if (root / WORKSPACE_FILE).exists():
        raise ConfigError(
            f"{root / WORKSPACE_FILE} already exists; this folder is a workspace "
            "(add a project to it with `labelloop project create NAME`)"
        )
    schema = None if schema_path is None else load_schema(schema_path)  # validated first
    env_url = get_settings().database_url
    url = env_url or _sqlite_url(root)
    store = Store(url, busy_timeout_ms=get_settings().busy_timeout_ms)
    store.migrate()
    applied = None
    with store.write() as conn:
        project = repo.create_project(conn, project_name)
        if schema is not None and schema_path is not None:
            applied = apply_schema(conn, project, schema, schema_path)
        create_key(conn, root, project)
    key_dir = root / KEY_DIR
    key_dir.mkdir(exist_ok=True)
    key_path = key_dir / SECRET_KEY_FILE
    if not key_path.exists():
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    lines = ["[workspace]", f"project = {_toml_str(project.name)}"]
    if env_url:
        lines.append(f"database_url = {_toml_str(env_url)}")
    (root / WORKSPACE_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Workspace(root, url, project.name, store), project, applied


def open_workspace(start: Path | None = None) -> Workspace:
    """Open the workspace at or above ``start`` (or the env's database without one)."""
    settings = get_settings()
    root = find_workspace_root(start)
    config: dict[str, str] = {}
    if root is not None:
        try:
            data = tomllib.loads((root / WORKSPACE_FILE).read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{root / WORKSPACE_FILE} is not valid TOML: {exc}") from None
        config = {k: str(v) for k, v in data.get("workspace", {}).items()}
    url = settings.database_url or config.get("database_url")
    if url is None:
        if root is None:
            raise ConfigError(
                f"no workspace in {Path.cwd()} or above (no {WORKSPACE_FILE}); "
                "run `labelloop init NAME` or set LABELLOOP_DATABASE_URL"
            )
        url = _sqlite_url(root)
    store = Store(url, busy_timeout_ms=settings.busy_timeout_ms)
    if not store.is_migrated():
        store.migrate()
    return Workspace(root, url, config.get("project"), store)


def create_project(
    store: Store, name: str, schema_path: Path | None = None, root: Path | None = None
) -> tuple[repo.Project, SchemaApplied | None]:
    """Add a project to the workspace (with its schema file applied, and its checkpoint key
    when the workspace has a folder ``root``, in one transaction)."""
    schema = None if schema_path is None else load_schema(schema_path)  # validated first
    with store.write() as conn:
        project = repo.create_project(conn, name)
        applied = None
        if schema is not None and schema_path is not None:
            applied = apply_schema(conn, project, schema, schema_path)
        if root is not None:
            create_key(conn, root, project)
    return project, applied


def list_projects(store: Store) -> list[listing.ProjectCounts]:
    """Every project of the workspace with its schema version and counts."""
    with store.read() as conn:
        return listing.project_counts(conn)
