"""The county chain node's durable state: a snapshot and a write-ahead journal.

anvil keeps its chain in memory. It can dump the whole chain (blocks,
transactions, receipts, logs, accounts) as one JSON document and load it
again, but a dump costs time proportional to the chain's history (about
0.1 ms per block), and a ``kill -9`` skips the dump anvil makes on exit.
So the node keeps two files (:mod:`ledger.node` explains the rest):

``snapshot.json``
    anvil's own dump, written atomically (temporary file, fsync, rename,
    fsync of the folder) every few hundred journal entries and on a clean
    stop; ``snapshot.meta.json`` beside it says when (wall clock) and at
    which block and block time it was taken.
``journal.jsonl``
    one line per call that changed the chain since the snapshot: the call
    (``eth_sendRawTransaction`` with the signed transaction, or
    ``evm_mine``), the blocks it mined with their timestamps, and the wall
    time. A line is appended and fsynced *before* the caller gets its
    answer, so whatever a client was told is on disk.

A crash may leave a torn last line (the write started, the fsync never
returned, the caller got no answer): it is dropped on reading, as it was
never confirmed. Any other malformed line is corruption and stops the node.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedgov.files import write_atomic, write_json_atomic
from ledger.errors import ChainError

__all__ = [
    "JOURNAL_FILE",
    "SNAPSHOT_FILE",
    "SNAPSHOT_META_FILE",
    "Journal",
    "JournalEntry",
    "SnapshotMeta",
    "read_snapshot_meta",
    "write_snapshot",
]

SNAPSHOT_FILE = "snapshot.json"
SNAPSHOT_META_FILE = "snapshot.meta.json"
JOURNAL_FILE = "journal.jsonl"


@dataclass(frozen=True)
class JournalEntry:
    """One state-changing call the node confirmed."""

    method: str
    params: list[Any]
    blocks: tuple[tuple[int, int], ...]
    """``(number, timestamp)`` of each block the call mined (none: a
    transaction left pending)."""
    wall_ms: int
    tx_hash: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "params": self.params,
            "blocks": [list(block) for block in self.blocks],
            "wall_ms": self.wall_ms,
            "tx_hash": self.tx_hash,
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> JournalEntry:
        try:
            blocks = tuple((int(n), int(t)) for n, t in data["blocks"])
            return cls(
                method=str(data["method"]),
                params=list(data["params"]),
                blocks=blocks,
                wall_ms=int(data["wall_ms"]),
                tx_hash=str(data.get("tx_hash", "")),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ChainError(
                "read the chain journal", f"{where}: malformed entry"
            ) from e


class Journal:
    """The append-only journal file ``path``: appended and fsynced line by line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = path.open("ab")

    def append(self, entry: JournalEntry) -> None:
        """Append ``entry`` and return only once it is on disk."""
        line = json.dumps(entry.to_json(), separators=(",", ":")) + "\n"
        self._handle.write(line.encode("utf-8"))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def entries(self) -> list[JournalEntry]:
        """Every confirmed entry, oldest first (a torn last line is dropped)."""
        return read_journal(self.path)

    def reset(self, keep: list[JournalEntry]) -> None:
        """Replace the journal with ``keep`` (after a snapshot), atomically."""
        text = "".join(
            json.dumps(entry.to_json(), separators=(",", ":")) + "\n" for entry in keep
        )
        self._handle.close()
        write_atomic(self.path, text.encode("utf-8"))
        self._handle = self.path.open("ab")

    def close(self) -> None:
        self._handle.close()


def read_journal(path: Path) -> list[JournalEntry]:
    """The confirmed entries of the journal at ``path`` (none when it is missing)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    # Everything before the last newline was fsynced whole; what follows it
    # is a write the crash interrupted, never confirmed to anyone.
    complete, _torn = lines[:-1], lines[-1]
    entries = []
    for number, raw in enumerate(complete, start=1):
        try:
            parsed = json.loads(raw)
        except ValueError as e:
            raise ChainError(
                "read the chain journal", f"{path}, line {number}: not JSON"
            ) from e
        entries.append(JournalEntry.from_json(parsed, f"{path}, line {number}"))
    return entries


@dataclass(frozen=True)
class SnapshotMeta:
    """When a snapshot was taken: its latest block, that block's time, the wall clock."""

    block: int
    block_timestamp: int
    wall_ms: int


def write_snapshot(folder: Path, state: bytes, meta: SnapshotMeta) -> None:
    """Write anvil's dumped ``state`` and its ``meta``, each atomically.

    The meta file is written second: a crash between the two leaves a newer
    snapshot with an older meta, and the meta is only a hint (recovery
    reads the block number from the chain once loaded).
    """
    write_atomic(folder / SNAPSHOT_FILE, state)
    write_json_atomic(
        folder / SNAPSHOT_META_FILE,
        {
            "block": meta.block,
            "block_timestamp": meta.block_timestamp,
            "wall_ms": meta.wall_ms,
        },
    )


def read_snapshot_meta(folder: Path) -> SnapshotMeta | None:
    """The meta of the snapshot in ``folder``; ``None`` when there is none."""
    try:
        data = json.loads((folder / SNAPSHOT_META_FILE).read_text(encoding="utf-8"))
        return SnapshotMeta(
            block=int(data["block"]),
            block_timestamp=int(data["block_timestamp"]),
            wall_ms=int(data["wall_ms"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ChainError(
            "read the chain snapshot", f"{folder / SNAPSHOT_META_FILE}: {e}"
        ) from e
