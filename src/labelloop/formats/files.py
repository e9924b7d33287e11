"""Writing output files whole or not at all."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from labelloop.errors import InvalidInput


@contextmanager
def atomic_path(out: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``out``; on success it replaces ``out`` in one rename.

    On any error the temporary file is removed and ``out`` is left as it was, so a reader
    never sees half a file. An ``OSError`` becomes :class:`~labelloop.errors.InvalidInput`
    naming the target.
    """
    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, out)
    except OSError as exc:
        _discard(tmp)
        raise InvalidInput(f"cannot write {out}: {exc.strerror or exc}") from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: Path) -> None:
    with suppress(OSError):
        tmp.unlink(missing_ok=True)
