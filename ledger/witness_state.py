"""A witness's durable state: the latest checkpoint it cosigned, per log.

One SQLite file (created ``0600``; WAL, ``synchronous=FULL``), one row per
origin: the size and root of the latest checkpoint the witness cosigned,
and that checkpoint as a note carrying the log's signatures the witness
verified and its own cosignature (what it serves to monitors). Checking a
request's old size against the stored one and storing the new checkpoint
happen in one ``BEGIN IMMEDIATE`` transaction (:meth:`WitnessState.advance`),
so two requests, even from two processes sharing the file, can never roll a
log back.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fedgov.errors import ConfigurationError
from ledger.errors import LogStorageError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["StoredCheckpoint", "WitnessState", "origin_hash"]

_SCHEMA_VERSION = 1
_SCHEMA = """CREATE TABLE IF NOT EXISTS checkpoints (
    origin TEXT PRIMARY KEY,
    origin_hash TEXT NOT NULL UNIQUE,
    tree_size INTEGER NOT NULL,
    root_hash BLOB NOT NULL CHECK (length(root_hash) = 32),
    note TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
)"""


def origin_hash(origin: str) -> str:
    """Lower-case hex SHA-256 of an origin: its key in monitoring URLs."""
    return hashlib.sha256(origin.encode()).hexdigest()


@dataclass(frozen=True)
class StoredCheckpoint:
    """The latest checkpoint cosigned for one origin."""

    origin: str
    tree_size: int
    root_hash: bytes
    note: str


class WitnessState:
    """The witness's state file ``path``, created ``0600`` if absent."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        if not self._path.exists():
            try:
                os.close(
                    os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                )
            except FileExistsError:
                pass
            except OSError as e:
                raise LogStorageError(
                    str(self._path), f"cannot create: {e.strerror}"
                ) from e
        mode = stat.S_IMODE(self._path.stat().st_mode)
        if mode & 0o022:
            raise ConfigurationError(
                "state",
                f"{self._path} has mode {mode:04o}: others may rewrite what the "
                f"witness cosigned (chmod 600 {self._path})",
            )
        try:
            self._db = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            if version == 0:
                self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            elif version != _SCHEMA_VERSION:
                raise LogStorageError(
                    str(self._path),
                    f"witness state version {version}, expected {_SCHEMA_VERSION}",
                )
        except sqlite3.Error as e:
            raise LogStorageError(str(self._path), f"cannot open: {e}") from e

    @property
    def path(self) -> Path:
        return self._path

    def latest(self, origin: str) -> StoredCheckpoint | None:
        """The latest checkpoint cosigned for ``origin``, if any."""
        return self._one("WHERE origin = ?", origin)

    def latest_by_hash(self, hashed: str) -> StoredCheckpoint | None:
        """The same, looked up by :func:`origin_hash` of the origin."""
        return self._one("WHERE origin_hash = ?", hashed)

    def _one(self, where: str, value: str) -> StoredCheckpoint | None:
        with self._lock:
            try:
                row = self._db.execute(
                    "SELECT origin, tree_size, root_hash, note FROM checkpoints "
                    + where,
                    (value,),
                ).fetchone()
            except sqlite3.Error as e:
                raise LogStorageError(str(self._path), f"read failed: {e}") from e
        if row is None:
            return None
        origin, size, root, note = row
        return StoredCheckpoint(origin, size, bytes(root), note)

    def advance(
        self, origin: str, old_size: int, tree_size: int, root_hash: bytes, note: str
    ) -> int | None:
        """Store the new checkpoint if the stored size is still ``old_size``.

        Returns ``None`` once stored (durably), or the stored size that
        differs: then nothing changed.
        """
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    row = self._db.execute(
                        "SELECT tree_size FROM checkpoints WHERE origin = ?", (origin,)
                    ).fetchone()
                    stored = 0 if row is None else int(row[0])
                    if stored != old_size:
                        self._db.execute("ROLLBACK")
                        return stored
                    self._db.execute(
                        "INSERT INTO checkpoints (origin, origin_hash, tree_size, "
                        "root_hash, note, updated_ms) VALUES (?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (origin) DO UPDATE SET tree_size = "
                        "excluded.tree_size, root_hash = excluded.root_hash, "
                        "note = excluded.note, updated_ms = excluded.updated_ms",
                        (
                            origin,
                            origin_hash(origin),
                            tree_size,
                            root_hash,
                            note,
                            time.time_ns() // 1_000_000,
                        ),
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise LogStorageError(str(self._path), f"write failed: {e}") from e
        return None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> WitnessState:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
