"""Writing output files whole or not at all."""

from __future__ import annotations

import os
import shutil
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


def fsync_file(path: Path) -> None:
    """Flush a written file to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_folder(staging: Path, versioned: Path, current: Path) -> None:
    """Make the complete folder ``staging`` current: fsync its files and itself, rename it
    to ``versioned`` and point the symlink ``current`` at it in one rename.

    A kill at any point leaves ``current`` as it was (the previous version, or nothing) or
    pointing at the complete new folder; never at a partial one.
    """
    for child in staging.iterdir():
        fsync_file(child)
    _fsync_dir(staging)
    if versioned.exists():  # the same content exported before: keep that copy
        shutil.rmtree(staging)
    else:
        os.replace(staging, versioned)
    link = current.with_name(f".{current.name}.link")
    with suppress(FileNotFoundError):
        link.unlink()
    os.symlink(os.path.relpath(versioned, current.parent), link)
    os.replace(link, current)
    _fsync_dir(current.parent)
