"""Settings from the environment (pydantic-settings). The workspace file can add defaults."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """`LABELLOOP_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="LABELLOOP_", extra="ignore")

    database_url: str | None = None
    """SQLAlchemy URL; unset means the workspace's SQLite file `labelloop.db`."""

    busy_timeout_ms: int = 30_000
    """How long a SQLite writer waits for the lock before failing."""


def get_settings() -> Settings:
    return Settings()
