"""Settings from the environment (pydantic-settings). The workspace file can add defaults."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from labelloop.errors import ConfigError

DEFAULT_MAX_ITEM_BYTES = 1 << 20
"""1 MiB per item. An item is what one labeler is shown: a text, a record, a media reference
(URL or path), never the media itself. 1 MiB holds a ~300-page document, 60 times the largest
item of the real sets the tests use (a 16.6 KB PRM800K record), while parsing one costs a few
MB of memory (a 200 MB JSON line took 1.1 GB); larger items are almost always embedded media
or a whole file read as one line."""


class Settings(BaseSettings):
    """`LABELLOOP_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="LABELLOOP_", extra="ignore")

    database_url: str | None = None
    """SQLAlchemy URL; unset means the workspace's SQLite file `labelloop.db`."""

    busy_timeout_ms: int = 30_000
    """How long a SQLite writer waits for the lock before failing."""

    max_item_bytes: Annotated[int, Field(ge=1)] = DEFAULT_MAX_ITEM_BYTES
    """Largest item an import accepts, in bytes (a JSONL line, a CSV record, a Parquet/HF
    row's values); larger ones are rejected rows naming their size."""

    session_hours: Annotated[float, Field(gt=0)] = 12.0
    """How long a server sign-in lasts (from sign-in; signing out ends it at once)."""

    login_max_failures: Annotated[int, Field(ge=1)] = 5
    """Failed sign-ins per account within ``login_window_s`` before further tries wait."""

    login_max_failures_per_address: Annotated[int, Field(ge=1)] = 20
    """Failed sign-ins from one client address (any account) within the window."""

    login_window_s: Annotated[int, Field(ge=1)] = 900
    """The sign-in rate-limit window, in seconds."""


def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "LABELLOOP_" + "_".join(str(p) for p in first["loc"]).upper()
        raise ConfigError(
            f"{name}={first.get('input')!r}: {first['msg']}; unset it to use the default"
        ) from None
