"""Error tree. Messages say what was seen and what was expected; no HTTP codes here."""

from __future__ import annotations


class LabelloopError(Exception):
    """Base of every error labelloop raises on purpose (bad input, bad state)."""


class InvalidInput(LabelloopError, ValueError):
    """Input data (a file, a row, an argument) is not what was expected.

    A ``ValueError`` too, so callers of the pure core that catch ``ValueError`` keep working.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.reason = message
        where = ", ".join(
            part
            for part in (
                source,
                f"line {line}" if line is not None else None,
                f"field '{field}'" if field is not None else None,
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


class SchemaError(InvalidInput):
    """A label schema / guideline file is invalid (carries every problem found)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        body = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s):\n{body}", source=source)


class NotFound(LabelloopError):
    """A named thing (project, item, method) does not exist."""


class Conflict(LabelloopError):
    """The request contradicts the current state (duplicate name, tampered chain, ...)."""


class ConfigError(LabelloopError):
    """Workspace or settings are missing or inconsistent."""


class Unauthenticated(LabelloopError):
    """No credentials, or wrong ones (an unknown token, an expired session, a bad password)."""


class Forbidden(LabelloopError):
    """The caller is known but may not do this (a missing CSRF token, a suspended member)."""


class TooManyAttempts(LabelloopError):
    """Too many failed attempts (logins) in a window; ``retry_after`` seconds to wait."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)
