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
from ledger.tree_head import SignedTreeHead, TreeHead, log_id_for

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from ledger.tree_head import SigningDomain

__all__ = ["LatestHead", "read_latest_head", "stored_size"]


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
