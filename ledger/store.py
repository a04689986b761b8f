"""A durable, append-only audit log for one actor, on SQLite.

Each actor (department node, coordinator) keeps its own log: records it
wrote, their RFC 9162 leaf hashes, and the tree heads it signed. SQLite runs
in WAL mode with ``synchronous=FULL``, so :meth:`LogStore.append_many`
returns only once its one transaction is on disk: an acknowledged record
survives a crash. Appends never update or delete a row, and triggers make
SQLite refuse any UPDATE or DELETE. Those triggers are a guard against
mistakes, not a defence: whoever holds the file can drop them. The defence is
the Merkle tree. On opening, the store recomputes every leaf hash from the
record bytes and the root at every signed head's size, so edits, removals and
reorderings behind its back are found (:class:`LogIntegrityError`) unless they
touch only records no signed head covers yet.

The in-memory :class:`MerkleTree` mirrors the table, so proofs for any
earlier size are served without rehashing. One process writes a store;
several threads of it may share one :class:`LogStore`.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils.address import is_address, to_checksum_address

from fedgov.errors import ConfigurationError
from fedgov.files import private_file
from ledger.checkpoint import Checkpoint
from ledger.errors import LogIntegrityError, LogRangeError, LogStorageError
from ledger.export import read_export, verify_exported_log, write_export
from ledger.integrity import HeadEntry, check_signed_heads
from ledger.log_files import LogTail, read_log_tail
from ledger.merkle import ConsistencyProof, InclusionProof, MerkleTree, leaf_hash
from ledger.note import Note
from ledger.records import AuditRecord, now_ms
from ledger.tree_head import (
    MAX_LOG_NAME_BYTES,
    SignedTreeHead,
    SigningDomain,
    TreeHead,
    log_id_for,
    recover_signer,
    sign_tree_head,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from types import TracebackType

    from eth_account.signers.local import LocalAccount

__all__ = ["LogStore", "LogTail", "read_log_tail"]

_SCHEMA_VERSION = "1"
_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE records (
        idx INTEGER PRIMARY KEY,
        data BLOB NOT NULL,
        leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32)
    )""",
    """CREATE TABLE signed_heads (
        seq INTEGER PRIMARY KEY,
        tree_size INTEGER NOT NULL,
        root_hash BLOB NOT NULL,
        timestamp_ms INTEGER NOT NULL,
        signer TEXT NOT NULL,
        signature BLOB NOT NULL,
        chain_id INTEGER NOT NULL,
        verifying_contract TEXT NOT NULL
    )""",
    *(
        f"""CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table}
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: {verb} on {table}');
        END"""
        for table in ("meta", "records", "signed_heads")
        for verb in ("UPDATE", "DELETE")
    ),
)
# Added after schema 1 shipped: files without it gain it on opening.
_CHECKPOINT_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS checkpoints (
        seq INTEGER PRIMARY KEY,
        tree_size INTEGER NOT NULL,
        note TEXT NOT NULL
    )""",
    *(
        f"""CREATE TRIGGER IF NOT EXISTS checkpoints_no_{verb.lower()} BEFORE {verb}
        ON checkpoints BEGIN SELECT RAISE(ABORT,
        'the audit log is append-only: {verb} on checkpoints'); END"""
        for verb in ("UPDATE", "DELETE")
    ),
)


class LogStore:
    """One actor's append-only audit log in the SQLite file ``path``.

    Opening a new file creates the log for ``actor`` (required) under
    ``log_name``; opening an existing one checks its integrity and that any
    ``actor``/``log_name`` given match the stored ones.
    """

    def __init__(
        self, path: str | Path, *, actor: str | None = None, log_name: str | None = None
    ) -> None:
        self._path = Path(path)
        self._lock = threading.RLock()
        self._tree = MerkleTree()
        self._heads: list[HeadEntry] = []
        existed = self._path.exists()
        if not existed and actor is None:
            raise ConfigurationError(
                "actor", f"is required to create the new log {self._path}"
            )
        if (
            log_name is not None
            and not 0 < len(log_name.encode()) <= MAX_LOG_NAME_BYTES
        ):
            raise ConfigurationError(
                "log_name", f"must be 1..{MAX_LOG_NAME_BYTES} UTF-8 bytes (anchorable)"
            )
        if actor is not None and not is_address(actor):
            raise ConfigurationError("actor", f"must be an Ethereum address: {actor!r}")
        if not existed:
            # SQLite creates its -wal and -shm files with the database's mode.
            private_file(self._path)
        try:
            # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE).
            self._db = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise LogStorageError(str(self._path), f"cannot open: {e}") from e
        try:
            self._open(existed, actor, log_name)
        except BaseException:
            self._db.close()
            if not existed:
                # A log that was never created must not leave a husk behind.
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self._path}{suffix}").unlink(missing_ok=True)
            raise

    def _open(self, existed: bool, actor: str | None, log_name: str | None) -> None:
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            if not existed:
                self._create(str(actor), log_name or "audit")
            if not self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'checkpoints'"
            ).fetchone():
                self._db.execute("BEGIN IMMEDIATE")
                for statement in _CHECKPOINT_SCHEMA:
                    self._db.execute(statement)
                self._db.execute("COMMIT")
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as e:
            raise LogStorageError(str(self._path), f"cannot open: {e}") from e
        self._actor = str(meta.get("actor", ""))
        self._log_name = str(meta.get("log_name", ""))
        self._check_meta(meta, actor, log_name)
        self._log_id = log_id_for(self._actor, self._log_name)
        self.verify()

    def _create(self, actor: str, log_name: str) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._db.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [
                ("schema_version", _SCHEMA_VERSION),
                ("actor", to_checksum_address(actor)),
                ("log_name", log_name),
            ],
        )
        self._db.execute("COMMIT")

    def _check_meta(
        self, meta: dict[str, str], actor: str | None, log_name: str | None
    ) -> None:
        if meta.get("schema_version") != _SCHEMA_VERSION:
            raise LogStorageError(
                str(self._path),
                f"schema version {meta.get('schema_version')!r}, "
                f"expected {_SCHEMA_VERSION}",
            )
        if actor is not None and to_checksum_address(actor) != self._actor:
            raise ConfigurationError(
                "actor", f"{self._path} is the log of {self._actor}, not of {actor}"
            )
        if log_name is not None and log_name != self._log_name:
            raise ConfigurationError(
                "log_name",
                f"{self._path} is the log {self._log_name!r}, not {log_name!r}",
            )

    # -- identity --

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    @property
    def actor(self) -> str:
        """The checksummed address whose log this is: it writes and signs."""
        return self._actor

    @property
    def log_name(self) -> str:
        """The log's name; with the actor it derives :attr:`log_id`."""
        return self._log_name

    @property
    def log_id(self) -> bytes:
        """``log_id_for(actor, log_name)``: the id signed heads and anchors carry."""
        return self._log_id

    @property
    def size(self) -> int:
        """The number of records."""
        with self._lock:
            return self._tree.size

    # -- appending --

    def append(self, record: AuditRecord) -> int:
        """Durably append one record; return its index."""
        return self.append_many([record])

    def append_many(self, records: Iterable[AuditRecord]) -> int:
        """Durably append records in one transaction; return the first index.

        All or nothing: a record of another actor, or a storage failure,
        leaves the log as it was.
        """
        encoded: list[bytes] = []
        for position, record in enumerate(records):
            if record.actor != self._actor:
                raise ConfigurationError(
                    f"records[{position}].actor",
                    f"is {record.actor}, but this is the log of {self._actor}",
                )
            encoded.append(record.encode())
        return self._append_encoded(encoded)

    def _append_encoded(self, encoded: list[bytes]) -> int:
        hashes = [leaf_hash(data) for data in encoded]
        with self._lock:
            first = self._tree.size
            if not encoded:
                return first
            self._transaction(
                first,
                "INSERT INTO records (idx, data, leaf_hash) VALUES (?, ?, ?)",
                zip(range(first, first + len(encoded)), encoded, hashes, strict=True),
            )
            self._tree.extend(hashes)
            return first

    def _transaction(self, expected_size: int, sql: str, rows: Iterable[Any]) -> None:
        """Run ``sql`` for ``rows`` in one durable transaction, or not at all."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (stored,) = self._db.execute(
                    "SELECT COALESCE(MAX(idx) + 1, 0) FROM records"
                ).fetchone()
                if stored != expected_size:
                    raise LogIntegrityError(
                        min(stored, expected_size),
                        f"the file holds {stored} records, this store {expected_size}: "
                        "another writer changed it",
                    )
                self._db.executemany(sql, rows)
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite ends a transaction itself on some errors (a full
                # disk): a second ROLLBACK would hide the error behind its own.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise LogStorageError(str(self._path), f"write failed: {e}") from e

    # -- tree heads --

    def root(self, size: int | None = None) -> bytes:
        """The Merkle root over the first ``size`` records (default: all)."""
        with self._lock:
            return self._tree.root(size)

    def tree_head(self, *, timestamp_ms: int | None = None) -> TreeHead:
        """The unsigned head of the log as it is now."""
        with self._lock:
            return TreeHead(
                log_id=self._log_id,
                tree_size=self._tree.size,
                root_hash=self._tree.root(),
                timestamp=now_ms() if timestamp_ms is None else timestamp_ms,
            )

    def sign_head(
        self,
        account: LocalAccount,
        domain: SigningDomain,
        *,
        timestamp_ms: int | None = None,
    ) -> SignedTreeHead:
        """Sign the current head with the actor's key, store it, return it.

        Timestamps are Unix milliseconds and may not go back in time.
        """
        if account.address != self._actor:
            raise ConfigurationError(
                "account", f"is {account.address}; only {self._actor} signs this log"
            )
        with self._lock:
            head = self.tree_head(timestamp_ms=timestamp_ms)
            if self._heads and head.timestamp < self._heads[-1][0].head.timestamp:
                raise ConfigurationError(
                    "timestamp_ms",
                    f"{head.timestamp} is before the last signed head's "
                    f"{self._heads[-1][0].head.timestamp}",
                )
            signed = sign_tree_head(head, account, domain)
            self._store_head(signed, domain)
            return signed

    def add_signed_head(self, signed: SignedTreeHead, domain: SigningDomain) -> bool:
        """Store a head the actor signed elsewhere (this file being a replica).

        It must be this log's, signed under ``domain`` by the log's actor, at
        a size this replica holds and with its root there, and no older than
        the latest stored head. A head stored already is skipped: returns
        whether it was new.
        """
        head = signed.head
        with self._lock:
            if any(
                known.head == head and known.signature == signed.signature
                for known, _ in self._heads
            ):
                return False
            if head.log_id != self._log_id:
                raise ConfigurationError("signed_head", "is another log's head")
            if signed.signer != self._actor or recover_signer(signed, domain) != (
                self._actor
            ):
                raise ConfigurationError(
                    "signed_head",
                    f"is not signed by the log's actor {self._actor} under {domain}",
                )
            if head.tree_size > self._tree.size:
                raise LogRangeError(
                    "signed_head.tree_size", head.tree_size, self._tree.size
                )
            if self._tree.root(head.tree_size) != head.root_hash:
                raise LogIntegrityError(
                    None,
                    f"{self._path}: the signed head at size {head.tree_size} has "
                    "another root than the records here",
                )
            if self._heads and head.timestamp < self._heads[-1][0].head.timestamp:
                raise ConfigurationError(
                    "signed_head.timestamp",
                    "is before the latest stored head's: heads are stored in order",
                )
            self._store_head(signed, domain)
            return True

    def _store_head(self, signed: SignedTreeHead, domain: SigningDomain) -> None:
        head = signed.head
        self._transaction(
            self._tree.size,
            "INSERT INTO signed_heads (tree_size, root_hash, timestamp_ms, signer, "
            "signature, chain_id, verifying_contract) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    head.tree_size,
                    head.root_hash,
                    head.timestamp,
                    signed.signer,
                    signed.signature,
                    domain.chain_id,
                    domain.verifying_contract,
                )
            ],
        )
        self._heads.append((signed, domain))

    def signed_heads(self) -> list[SignedTreeHead]:
        """Every head this log signed, oldest first."""
        with self._lock:
            return [signed for signed, _ in self._heads]

    def signed_head_entries(self) -> list[HeadEntry]:
        """Every signed head with the EIP-712 domain it was signed for."""
        with self._lock:
            return list(self._heads)

    def latest_tree_head(self) -> SignedTreeHead | None:
        """The most recently signed head (what gets anchored), if any."""
        with self._lock:
            return self._heads[-1][0] if self._heads else None

    # -- checkpoints --

    def add_checkpoint(self, note: Note) -> None:
        """Store ``note``, a checkpoint of one of this log's signed heads.

        The note keeps whatever signatures it carries (the log's, witnesses'
        cosignatures); :mod:`ledger.witness_policy` judges them. Refused: a
        checkpoint of a size and root the actor never signed as EIP-712,
        and one under another origin than the log's earlier checkpoints.
        """
        checkpoint = Checkpoint.parse(note.text)
        with self._lock:
            if not any(
                signed.head.tree_size == checkpoint.tree_size
                and signed.head.root_hash == checkpoint.root_hash
                for signed, _ in self._heads
            ):
                raise ConfigurationError(
                    "note",
                    f"its checkpoint (size {checkpoint.tree_size}) is no head "
                    f"{self._actor} signed in {self._path}",
                )
            earlier = self.checkpoints()
            if earlier:
                origin = Checkpoint.parse(Note.parse(earlier[0]).text).origin
                if origin != checkpoint.origin:
                    raise ConfigurationError(
                        "note",
                        f"its origin {checkpoint.origin!r} is not this log's "
                        f"{origin!r}: one log publishes under one origin",
                    )
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT INTO checkpoints (tree_size, note) VALUES (?, ?)",
                    (checkpoint.tree_size, note.format()),
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise LogStorageError(str(self._path), f"write failed: {e}") from e

    def checkpoints(self) -> list[str]:
        """Every checkpoint note stored, oldest first, as transmitted."""
        with self._lock:
            return [
                str(note)
                for (note,) in self._query("SELECT note FROM checkpoints ORDER BY seq")
            ]

    # -- reading --

    def record(self, index: int) -> AuditRecord:
        """The record at ``index``."""
        with self._lock:
            if not 0 <= index < self._tree.size:
                raise LogRangeError("index", index, self._tree.size)
            (record,) = self.records(index, index + 1)
        return record

    def records(self, start: int, end: int | None = None) -> list[AuditRecord]:
        """The records ``[start, end)`` (default: to the end), decoded."""
        return [AuditRecord.decode(data) for data in self.encoded_records(start, end)]

    def encoded_records(self, start: int, end: int | None = None) -> list[bytes]:
        """The canonical bytes of records ``[start, end)`` (default: to the end)."""
        with self._lock:
            size = self._tree.size
            end = size if end is None else end
            if not 0 <= start <= size:
                raise LogRangeError("start", start, size)
            if not start <= end <= size:
                raise LogRangeError("end", end, size)
            rows = self._query(
                "SELECT data FROM records WHERE idx >= ? AND idx < ? ORDER BY idx",
                (start, end),
            )
        return [bytes(data) for (data,) in rows]

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """Proof that record ``index`` is in the log of ``size`` records."""
        with self._lock:
            size = self._tree.size if size is None else size
            path = self._tree.inclusion_proof(index, size)
            return InclusionProof(index, size, self._tree.leaf_hash(index), tuple(path))

    def consistency_proof(
        self, size1: int, size2: int | None = None
    ) -> ConsistencyProof:
        """Proof that the log of ``size1`` records is a prefix of that of ``size2``."""
        with self._lock:
            size2 = self._tree.size if size2 is None else size2
            proof = self._tree.consistency_proof(size1, size2)
            return ConsistencyProof(size1, size2, tuple(proof))

    def _query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as e:
            raise LogStorageError(str(self._path), f"read failed: {e}") from e

    # -- integrity --

    def verify(self) -> None:
        """Rebuild the tree from the file and check it against every signed head.

        Runs on opening. Raises :class:`LogIntegrityError` naming the first
        bad record where it can be told (a record whose bytes do not match
        its stored leaf hash, a gap in the indices), else the range of
        records that no longer matches a signed root.
        """
        with self._lock:
            tree = MerkleTree()
            for index, data, stored_hash in self._rows():
                if index != tree.size:
                    raise LogIntegrityError(
                        tree.size, f"record {tree.size} is missing (next is {index})"
                    )
                computed = leaf_hash(bytes(data))
                if computed != stored_hash:
                    raise LogIntegrityError(
                        index, "its bytes do not match its stored leaf hash"
                    )
                tree.append(computed)
            heads = [
                (
                    SignedTreeHead(
                        head=TreeHead(self._log_id, size, bytes(root), timestamp),
                        signer=signer,
                        signature=bytes(signature),
                    ),
                    SigningDomain(chain_id, contract),
                )
                for size, root, timestamp, signer, signature, chain_id, contract in (
                    self._query(
                        "SELECT tree_size, root_hash, timestamp_ms, signer, signature, "
                        "chain_id, verifying_contract FROM signed_heads ORDER BY seq"
                    )
                )
            ]
            check_signed_heads(tree, heads, log_id=self._log_id, actor=self._actor)
            self._tree, self._heads = tree, heads

    def _rows(self) -> Iterator[tuple[int, bytes, bytes]]:
        try:
            yield from self._db.execute(
                "SELECT idx, data, leaf_hash FROM records ORDER BY idx"
            )
        except sqlite3.Error as e:
            raise LogStorageError(str(self._path), f"read failed: {e}") from e

    # -- export --

    def export(self, path: str | Path) -> None:
        """Write the whole log, records and signed heads, for offline audit.

        The format is described in :mod:`ledger.export`.
        """
        with self._lock:
            write_export(
                path,
                actor=self._actor,
                log_name=self._log_name,
                records=self.encoded_records(0),
                heads=self._heads,
                checkpoints=self.checkpoints(),
            )

    @classmethod
    def import_export(cls, export_path: str | Path, path: str | Path) -> LogStore:
        """Create the store ``path`` from a verified export file.

        The heads keep their original signatures: nothing is re-signed.
        """
        if Path(path).exists():
            raise ConfigurationError("path", f"{path} exists; import into a new file")
        log = read_export(export_path)
        verify_exported_log(log)
        store = cls(path, actor=log.actor, log_name=log.log_name)
        with store._lock:
            size = 0
            for signed, domain in log.heads:
                store._append_encoded(list(log.records[size : signed.head.tree_size]))
                size = signed.head.tree_size
                store._store_head(signed, domain)
            store._append_encoded(list(log.records[size:]))
            for note in log.checkpoints:
                store.add_checkpoint(Note.parse(note))
        return store

    # -- lifetime --

    def close(self) -> None:
        """Close the database; the store is unusable afterwards."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> LogStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
