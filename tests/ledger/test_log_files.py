"""Reading a log file from outside its writer: what it holds, as it is, unchanged."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import Checkpoint, origin_for, sign_checkpoint
from ledger.cosignature import Cosigner
from ledger.errors import LogIntegrityError, LogStorageError
from ledger.log_files import (
    StoredRow,
    latest_signed_size,
    read_checkpoints,
    read_head_entries,
    read_latest_head,
    read_log_info,
    read_record,
    read_rows,
    stored_size,
)
from ledger.merkle import leaf_hash
from ledger.note import NoteSigner
from ledger.store import LogStore
from tests.ledger._log_fixtures import ACTOR, DOMAIN, make_record

if TYPE_CHECKING:
    from pathlib import Path

ORIGIN = origin_for("lakeview", ACTOR.address, "audit")


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """Nine records, heads at 4 and 9, a checkpoint of 9 cosigned by a witness."""
    path = tmp_path / "log.db"
    with LogStore(path, actor=ACTOR.address, log_name="audit") as store:
        store.append_many(make_record(i) for i in range(4))
        store.sign_head(ACTOR, DOMAIN, timestamp_ms=10)
        store.append_many(make_record(i) for i in range(4, 9))
        store.sign_head(ACTOR, DOMAIN, timestamp_ms=20)
        note = sign_checkpoint(
            Checkpoint(ORIGIN, 9, store.root(9)),
            NoteSigner(ORIGIN, Ed25519PrivateKey.generate()),
        )
        witness = Cosigner("witness.example/civic", Ed25519PrivateKey.generate())
        store.add_checkpoint(
            note.with_signatures([witness.cosign(note.text, 1_764_000_000)])
        )
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_readers_return_what_the_store_holds(log: Path) -> None:
    # Prepare
    before = _digest(log)

    # Execute
    info = read_log_info(log)
    rows = read_rows(log, 2, 6)
    last, beyond = read_record(log, 8), read_record(log, 9)
    heads = read_head_entries(log)
    notes = read_checkpoints(log)
    latest = read_latest_head(log, DOMAIN)
    sizes = (latest_signed_size(log), stored_size(log))
    after = _digest(log)

    # Assert
    assert after == before
    assert sizes == (9, 9)
    assert beyond is None
    with LogStore(log) as store:
        assert info is not None
        assert (info.actor, info.log_name, info.log_id, info.size) == (
            store.actor,
            store.log_name,
            store.log_id,
            9,
        )
        assert rows == [
            StoredRow(i, data, leaf_hash(data))
            for i, data in zip(range(2, 6), store.encoded_records(2, 6), strict=True)
        ]
        assert last == store.encoded_records(8, 9)[0]
        assert heads == store.signed_head_entries()
        assert notes == store.checkpoints()
        assert len(notes) == 1
        assert latest is not None
        assert latest.signed == store.latest_tree_head()


def test_a_tampered_record_is_read_as_it_is_stored(log: Path) -> None:
    # Prepare: an edit behind the store's back (its guard triggers dropped)
    with contextlib.closing(sqlite3.connect(log)) as db:
        db.execute("DROP TRIGGER records_no_update")
        db.execute("UPDATE records SET data = ? WHERE idx = 3", (b"{}",))
        db.commit()

    # Execute
    edited = read_record(log, 3)
    (row,) = read_rows(log, 3, 4)

    # Assert: the reader reports the file; judging it is the store's and auditor's
    assert edited == b"{}"
    assert row.leaf_hash != leaf_hash(row.data)
    with pytest.raises(LogIntegrityError, match="record 3"):
        LogStore(log)


def test_a_file_older_than_checkpoints_stays_untouched(log: Path) -> None:
    # Prepare: the file as schema 1 wrote it, before the checkpoints table
    with contextlib.closing(sqlite3.connect(log)) as db:
        db.execute("DROP TABLE checkpoints")
        db.commit()
    before = _digest(log)

    # Execute
    notes = read_checkpoints(log)

    # Assert
    assert notes == []
    assert _digest(log) == before
    with contextlib.closing(sqlite3.connect(log)) as db:
        assert not db.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'checkpoints'"
        ).fetchone()


def test_a_log_still_being_created_reads_as_empty(tmp_path: Path) -> None:
    # Prepare: the writer has created the file, not yet its tables
    path = tmp_path / "new.db"
    sqlite3.connect(path).close()

    # Execute / Assert
    assert read_log_info(path) is None
    assert read_rows(path, 0, 10) == []
    assert read_record(path, 0) is None
    assert read_head_entries(path) == []
    assert latest_signed_size(path) is None
    assert read_checkpoints(path) == []
    assert stored_size(path) == 0


def test_a_file_that_is_no_log_is_a_storage_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"not a database" * 100)

    with pytest.raises(LogStorageError, match=r"junk\.db: cannot read its identity"):
        read_log_info(path)
