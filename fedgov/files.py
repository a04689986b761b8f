"""Atomic, durable file writes: a reader sees the old file or the new one, never half.

Every file fedgov writes whole (run records, budget files, sealed data, key
files, log exports, experiment results) goes through :func:`atomic_writer`:
a temporary file in the target's folder, created with ``mode`` (0600 unless
said otherwise, so a file holding keys, records or models is never readable
by others, even for an instant), flushed and fsynced, renamed over the
target, and the folder fsynced so that the rename itself survives a crash.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import IO, Any

__all__ = [
    "PRIVATE",
    "PRIVATE_DIR",
    "atomic_writer",
    "json_ready",
    "private_dir",
    "private_file",
    "write_atomic",
    "write_json_atomic",
]

PRIVATE = 0o600
"""The mode of every file fedgov writes unless a caller says otherwise."""

PRIVATE_DIR = 0o700
"""The mode of every folder fedgov creates: state, logs, keys and models."""


def private_dir(path: str | Path) -> Path:
    """``path`` as a folder, each missing one of it and its parents created 0700.

    A folder that exists already keeps its mode: the operator chose it.
    """
    target = Path(path)
    missing = []
    folder = target
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            # Another process may create it in between; its mode is its own.
            folder.mkdir(mode=PRIVATE_DIR)
    return target


def private_file(path: str | Path) -> Path:
    """``path``, created empty and 0600 (in a :func:`private_dir`) when missing,
    for files others open in place: SQLite databases, lock files."""
    target = Path(path)
    private_dir(target.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
    return target


@contextlib.contextmanager
def atomic_writer(path: str | Path, *, mode: int = PRIVATE) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` when the ``with`` block ends cleanly.

    The parent folder is created when missing. On an exception the temporary
    file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    private_dir(target.parent)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        if mode != PRIVATE:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    # The rename is durable only once the folder's entry is flushed.
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_atomic(path: str | Path, data: bytes, *, mode: int = PRIVATE) -> None:
    """Write ``data`` to ``path`` atomically and durably (:func:`atomic_writer`)."""
    with atomic_writer(path, mode=mode) as handle:
        handle.write(data)


def json_ready(value: Any) -> Any:
    """``value`` as plain JSON values: dataclasses as dicts, NaN and inf as ``None``.

    JSON has no NaN; an undefined metric is written as null.
    """
    if is_dataclass(value) and not isinstance(value, type):
        return json_ready(asdict(value))
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


def write_json_atomic(path: str | Path, payload: Any, *, mode: int = PRIVATE) -> None:
    """Write ``payload`` (:func:`json_ready`) as indented JSON, atomically."""
    text = json.dumps(json_ready(payload), indent=2, sort_keys=True)
    write_atomic(path, text.encode("utf-8"), mode=mode)
