"""Reading a LogStore file from outside its writer: read-only, no rehash.

The store's schema is documented in ``docs/audit-log.md``; these two
queries are all the relay and the actor logs need to know, and they never
write: a reader cannot disturb the process that appends.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger.errors import LogStorageError
from ledger.tree_head import SignedTreeHead, SigningDomain, TreeHead, log_id_for

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from ledger.integrity import HeadEntry

__all__ = ["LatestHead", "LogTail", "read_latest_head", "read_log_tail", "stored_size"]


@contextlib.contextmanager
def _read_only(path: Path, what: str) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection; ``None`` while the log is still being created."""
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as db:
            tables = db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchall()
            yield db if tables else None
    except sqlite3.Error as e:
        raise LogStorageError(str(path), f"cannot read {what}: {e}") from e


def stored_size(path: Path) -> int:
    """How many records the log file holds now (0 if it does not exist yet)."""
    if not path.exists():
        return 0
    with _read_only(path, "its size") as db:
        if db is None:
            return 0
        (size,) = db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM records").fetchone()
    return int(size)


@dataclass(frozen=True)
class LatestHead:
    """A log's newest head signed for one domain, as its file holds it."""

    actor: str
    log_name: str
    signed: SignedTreeHead


def read_latest_head(path: Path, domain: SigningDomain) -> LatestHead | None:
    """The newest head of the log file ``path`` signed for ``domain``.

    ``None`` when the log does not exist yet or holds no such head.
    """
    if not path.exists():
        return None
    with _read_only(path, "its signed heads") as db:
        if db is None:
            return None
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        row = db.execute(
            "SELECT tree_size, root_hash, timestamp_ms, signer, signature "
            "FROM signed_heads WHERE chain_id = ? AND verifying_contract = ? "
            "ORDER BY seq DESC LIMIT 1",
            (domain.chain_id, domain.verifying_contract),
        ).fetchone()
    if row is None:
        return None
    actor, log_name = str(meta["actor"]), str(meta["log_name"])
    size, root, timestamp, signer, signature = row
    head = TreeHead(log_id_for(actor, log_name), int(size), bytes(root), int(timestamp))
    return LatestHead(
        actor, log_name, SignedTreeHead(head, str(signer), bytes(signature))
    )


@dataclass(frozen=True)
class LogTail:
    """What a log file holds past a point: for an auditor who read the rest before."""

    actor: str
    log_name: str
    log_id: bytes
    size: int
    records: list[tuple[bytes, bytes]]
    """``(canonical bytes, stored leaf hash)`` of records ``[start, size)``."""
    heads: list[HeadEntry]
    """Signed heads after the first ``heads_after``, oldest first."""
    head_count: int
    checkpoints: list[str]
    """Checkpoint notes after the first ``checkpoints_after``."""
    checkpoint_count: int


def read_log_tail(
    path: Path, *, start: int, heads_after: int = 0, checkpoints_after: int = 0
) -> LogTail:
    """Records from ``start`` on, and the heads and checkpoints stored since,
    read-only in one snapshot of the file (no rehash of what came before)."""
    with _read_only(path, "its records") as db:
        if db is None:
            raise LogStorageError(str(path), "is not a log yet")
        db.execute("BEGIN")
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        (size,) = db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM records").fetchone()
        rows = db.execute(
            "SELECT idx, data, leaf_hash FROM records WHERE idx >= ? ORDER BY idx",
            (start,),
        ).fetchall()
        heads = db.execute(
            "SELECT tree_size, root_hash, timestamp_ms, signer, signature, chain_id, "
            "verifying_contract FROM signed_heads WHERE seq > ? ORDER BY seq",
            (heads_after,),
        ).fetchall()
        (head_count,) = db.execute("SELECT COUNT(*) FROM signed_heads").fetchone()
        has_checkpoints = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
            ("checkpoints",),
        ).fetchall()
        notes: list[tuple[str]] = []
        note_count = 0
        if has_checkpoints:
            notes = db.execute(
                "SELECT note FROM checkpoints WHERE seq > ? ORDER BY seq",
                (checkpoints_after,),
            ).fetchall()
            (note_count,) = db.execute("SELECT COUNT(*) FROM checkpoints").fetchone()
        db.execute("COMMIT")
    actor, log_name = str(meta["actor"]), str(meta["log_name"])
    log_id = log_id_for(actor, log_name)
    expected = start
    records = []
    for index, data, leaf in rows:
        if index != expected:
            raise LogStorageError(str(path), f"record {expected} is missing")
        records.append((bytes(data), bytes(leaf)))
        expected += 1
    entries: list[HeadEntry] = [
        (
            SignedTreeHead(
                TreeHead(log_id, int(size_), bytes(root), int(timestamp)),
                str(signer),
                bytes(signature),
            ),
            SigningDomain(int(chain_id), str(contract)),
        )
        for size_, root, timestamp, signer, signature, chain_id, contract in heads
    ]
    return LogTail(
        actor=actor,
        log_name=log_name,
        log_id=log_id,
        size=int(size),
        records=records,
        heads=entries,
        head_count=int(head_count),
        checkpoints=[str(note) for (note,) in notes],
        checkpoint_count=int(note_count),
    )
