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
    "atomic_writer",
    "json_ready",
    "write_atomic",
    "write_json_atomic",
]

PRIVATE = 0o600
"""The mode of every file fedgov writes unless a caller says otherwise."""


@contextlib.contextmanager
def atomic_writer(path: str | Path, *, mode: int = PRIVATE) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` when the ``with`` block ends cleanly.

    The parent folder is created when missing. On an exception the temporary
    file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
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
