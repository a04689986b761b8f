"""Reading a LogStore file from outside its writer: read-only, no rehash.

The store's schema is documented in ``docs/audit-log.md``. These readers
never write, so they cannot disturb the process that appends, and they do
not rebuild the tree: what they return is what the file holds, as it is.
The relay polls a log's newest head with them, an actor log checks its size,
and the county portal follows logs as they grow. Trust nothing read here
until it is checked: :class:`~ledger.store.LogStore` rehashes a log on
opening, the auditor checks it against its anchors.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils.address import to_checksum_address

from ledger.errors import LogStorageError
from ledger.tree_head import SignedTreeHead, SigningDomain, TreeHead, log_id_for

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from ledger.integrity import HeadEntry

__all__ = [
    "LatestHead",
    "LogFileInfo",
    "LogTail",
    "StoredRow",
    "latest_signed_size",
    "read_checkpoints",
    "read_head_entries",
    "read_latest_head",
    "read_log_info",
    "read_log_tail",
    "read_record",
    "read_rows",
    "stored_size",
]


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


def _identity(db: sqlite3.Connection) -> tuple[str, str] | None:
    """The log's actor (checksummed) and name; ``None`` until both are stored."""
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    if "actor" not in meta or "log_name" not in meta:
        return None
    return to_checksum_address(str(meta["actor"])), str(meta["log_name"])


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
class LogFileInfo:
    """A log file's identity and its size now."""

    actor: str
    log_name: str
    log_id: bytes
    size: int


def read_log_info(path: Path) -> LogFileInfo | None:
    """The log's identity and size; ``None`` while it is still being created."""
    with _read_only(path, "its identity") as db:
        if db is None or (identity := _identity(db)) is None:
            return None
        (size,) = db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM records").fetchone()
    actor, log_name = identity
    return LogFileInfo(actor, log_name, log_id_for(actor, log_name), int(size))


@dataclass(frozen=True)
class StoredRow:
    """A record as the file stores it: index, bytes, and the leaf hash stored with it."""

    index: int
    data: bytes
    leaf_hash: bytes


def read_rows(path: Path, start: int, end: int) -> list[StoredRow]:
    """The stored rows of records ``[start, end)``, by index (gaps left as they are)."""
    with _read_only(path, "its records") as db:
        if db is None:
            return []
        rows = db.execute(
            "SELECT idx, data, leaf_hash FROM records WHERE idx >= ? AND idx < ? "
            "ORDER BY idx",
            (start, end),
        ).fetchall()
    return [StoredRow(int(i), bytes(data), bytes(leaf)) for i, data, leaf in rows]


def read_record(path: Path, index: int) -> bytes | None:
    """The stored bytes of record ``index`` (``None``: the file holds none)."""
    with _read_only(path, f"record {index}") as db:
        if db is None:
            return None
        row = db.execute("SELECT data FROM records WHERE idx = ?", (index,)).fetchone()
    return None if row is None else bytes(row[0])


def read_head_entries(path: Path) -> list[HeadEntry]:
    """Every signed head the file stores with its EIP-712 domain, oldest first."""
    with _read_only(path, "its signed heads") as db:
        if db is None or (identity := _identity(db)) is None:
            return []
        rows = db.execute(
            "SELECT tree_size, root_hash, timestamp_ms, signer, signature, chain_id, "
            "verifying_contract FROM signed_heads ORDER BY seq"
        ).fetchall()
    log_id = log_id_for(*identity)
    return [
        (
            SignedTreeHead(
                TreeHead(log_id, int(size), bytes(root), int(timestamp)),
                str(signer),
                bytes(signature),
            ),
            SigningDomain(int(chain_id), str(contract)),
        )
        for size, root, timestamp, signer, signature, chain_id, contract in rows
    ]


def latest_signed_size(path: Path) -> int | None:
    """The tree size of the log's newest signed head (``None``: none signed)."""
    with _read_only(path, "its signed heads") as db:
        if db is None:
            return None
        (size,) = db.execute("SELECT MAX(tree_size) FROM signed_heads").fetchone()
    return None if size is None else int(size)


def read_checkpoints(path: Path) -> list[str]:
    """Every checkpoint note the file stores, oldest first, as transmitted.

    A file written before checkpoints existed has no such table (a
    read-only reader does not add it): it holds none.
    """
    with _read_only(path, "its checkpoints") as db:
        if (
            db is None
            or not db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'checkpoints'"
            ).fetchone()
        ):
            return []
        rows = db.execute("SELECT note FROM checkpoints ORDER BY seq").fetchall()
    return [str(note) for (note,) in rows]


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
        if db is None or (identity := _identity(db)) is None:
            return None
        row = db.execute(
            "SELECT tree_size, root_hash, timestamp_ms, signer, signature "
            "FROM signed_heads WHERE chain_id = ? AND verifying_contract = ? "
            "ORDER BY seq DESC LIMIT 1",
            (domain.chain_id, domain.verifying_contract),
        ).fetchone()
    if row is None:
        return None
    actor, log_name = identity
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
        if db is None or (identity := _identity(db)) is None:
            raise LogStorageError(str(path), "is not a log yet")
        db.execute("BEGIN")
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
    actor, log_name = identity
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
