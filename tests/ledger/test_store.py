"""The durable log store: appends, proofs, signed heads, reopening."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fedgov.errors import ConfigurationError
from ledger.errors import LogIntegrityError, LogRangeError, LogStorageError
from ledger.merkle import EMPTY_ROOT, leaf_hash, root_from_leaf_hashes
from ledger.store import LogStore
from ledger.tree_head import log_id_for, recover_signer
from tests.ledger._log_fixtures import ACTOR, DOMAIN, OTHER, make_record


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    return LogStore(tmp_path / "log.db", actor=ACTOR.address)


def test_new_store_is_empty_and_named(store: LogStore) -> None:
    assert store.size == 0
    assert store.root() == EMPTY_ROOT
    assert store.actor == ACTOR.address
    assert store.log_name == "audit"
    assert store.log_id == log_id_for(ACTOR.address, "audit")
    assert store.latest_tree_head() is None


def test_appends_get_consecutive_indices_and_the_rfc_root(store: LogStore) -> None:
    # Prepare
    records = [make_record(i) for i in range(10)]

    # Execute
    first = store.append(records[0])
    second = store.append_many(records[1:6])
    third = store.append_many(records[6:])
    empty = store.append_many([])

    # Assert
    assert (first, second, third, empty) == (0, 1, 6, 10)
    assert store.size == 10
    assert store.root() == root_from_leaf_hashes(leaf_hash(r.encode()) for r in records)
    assert store.records(0) == records
    assert store.record(7) == records[7]
    assert store.encoded_records(2, 4) == [r.encode() for r in records[2:4]]


def test_proofs_for_every_index_and_size_verify(store: LogStore) -> None:
    store.append_many(make_record(i) for i in range(13))

    for size in range(1, 14):
        for index in range(size):
            store.inclusion_proof(index, size).verify(store.root(size))
        store.consistency_proof(size).verify(store.root(size), store.root())
    assert store.inclusion_proof(3).tree_size == 13


def test_out_of_range_reads_are_range_errors(store: LogStore) -> None:
    store.append_many(make_record(i) for i in range(3))

    with pytest.raises(LogRangeError, match="start=4"):
        store.records(4)
    with pytest.raises(LogRangeError, match="end=5"):
        store.records(0, 5)
    with pytest.raises(LogRangeError, match="index=3"):
        store.inclusion_proof(3)
    with pytest.raises(LogRangeError, match="size=4"):
        store.root(4)
    with pytest.raises(LogRangeError, match="index=3"):
        store.record(3)


def test_another_actors_record_is_refused_and_nothing_is_written(
    store: LogStore,
) -> None:
    with pytest.raises(ConfigurationError, match=r"records\[1\].actor"):
        store.append_many([make_record(0), make_record(1, actor=OTHER)])

    assert store.size == 0


def test_signed_heads_are_stored_and_recover_to_the_actor(store: LogStore) -> None:
    # Prepare
    store.append_many(make_record(i) for i in range(5))

    # Execute
    first = store.sign_head(ACTOR, DOMAIN, timestamp_ms=1000)
    store.append(make_record(5))
    second = store.sign_head(ACTOR, DOMAIN, timestamp_ms=2000)

    # Assert
    assert first.head.tree_size == 5
    assert first.head.root_hash == store.root(5)
    assert recover_signer(first, DOMAIN) == ACTOR.address
    assert store.signed_heads() == [first, second]
    assert store.latest_tree_head() == second
    assert store.signed_head_entries() == [(first, DOMAIN), (second, DOMAIN)]


def test_signing_rules(store: LogStore) -> None:
    store.sign_head(ACTOR, DOMAIN, timestamp_ms=5000)

    with pytest.raises(ConfigurationError, match="only 0x"):
        store.sign_head(OTHER, DOMAIN)
    with pytest.raises(ConfigurationError, match="before the last signed head"):
        store.sign_head(ACTOR, DOMAIN, timestamp_ms=4999)


def test_reopening_restores_tree_and_heads(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "log.db"
    with LogStore(path, actor=ACTOR.address, log_name="node-a") as store:
        store.append_many(make_record(i) for i in range(20))
        signed = store.sign_head(ACTOR, DOMAIN)
        root = store.root()

    # Execute
    with LogStore(path) as reopened:
        # Assert
        assert reopened.size == 20
        assert reopened.root() == root
        assert reopened.log_name == "node-a"
        assert reopened.latest_tree_head() == signed
        reopened.inclusion_proof(11).verify(root)


def test_opening_checks_identity_and_arguments(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    LogStore(path, actor=ACTOR.address).close()

    with pytest.raises(ConfigurationError, match="is the log of"):
        LogStore(path, actor=OTHER.address)
    with pytest.raises(ConfigurationError, match="is the log 'audit'"):
        LogStore(path, log_name="other")
    with pytest.raises(ConfigurationError, match="actor: is required"):
        LogStore(tmp_path / "new.db")
    with pytest.raises(ConfigurationError, match="Ethereum address"):
        LogStore(tmp_path / "new.db", actor="0x12")
    with pytest.raises(ConfigurationError, match=r"must be 1\.\.64 UTF-8 bytes"):
        LogStore(tmp_path / "new.db", actor=ACTOR.address, log_name="")
    with pytest.raises(ConfigurationError, match=r"must be 1\.\.64 UTF-8 bytes"):
        LogStore(tmp_path / "new.db", actor=ACTOR.address, log_name="é" * 33)
    assert not (tmp_path / "new.db").exists()


def test_a_file_that_is_not_a_log_is_a_storage_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    other_db = tmp_path / "other.db"
    sqlite3.connect(other_db).execute("CREATE TABLE t (x)").connection.close()

    with pytest.raises(LogStorageError, match="cannot open"):
        LogStore(junk)
    with pytest.raises(LogStorageError, match="cannot open"):
        LogStore(tmp_path)
    with pytest.raises(LogStorageError, match="cannot open"):
        LogStore(other_db)


def test_sqlite_is_durable_wal_with_append_only_triggers(store: LogStore) -> None:
    # Prepare
    store.append(make_record(0))
    store.sign_head(ACTOR, DOMAIN)
    db = sqlite3.connect(store.path)

    # Execute / Assert
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    for statement in [
        "UPDATE records SET data = x'00'",
        "DELETE FROM records",
        "UPDATE signed_heads SET tree_size = 0",
        "DELETE FROM signed_heads",
        "UPDATE meta SET value = 'x'",
        "DELETE FROM meta",
    ]:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(statement)
    db.close()
    assert store.size == 1


def test_a_second_writer_is_detected_not_overwritten(tmp_path: Path) -> None:
    # Prepare: two stores on one file, both at size 0.
    path = tmp_path / "log.db"
    first = LogStore(path, actor=ACTOR.address)
    second = LogStore(path)
    first.append(make_record(0))

    # Execute / Assert
    with pytest.raises(LogIntegrityError, match="another writer"):
        second.append(make_record(1))
    assert LogStore(path).records(0) == [make_record(0)]


def test_concurrent_appends_from_threads_all_land(store: LogStore) -> None:
    # Prepare
    def writer(offset: int) -> None:
        for i in range(offset, offset + 25):
            store.append(make_record(i))

    threads = [threading.Thread(target=writer, args=(k * 100,)) for k in range(4)]

    # Execute
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Assert: every record once, and the tree matches the table.
    purposes = sorted(r.purpose for r in store.records(0))
    assert purposes == sorted(
        f"purpose-{k * 100 + i:07d}" for k in range(4) for i in range(25)
    )
    store.verify()


def test_acknowledged_records_survive_a_killed_process(tmp_path: Path) -> None:
    # Prepare: a child appends, prints the size, then dies without closing.
    path = tmp_path / "log.db"
    script = f"""
import os
from ledger.store import LogStore
from tests.ledger._log_fixtures import ACTOR, make_record
store = LogStore({str(path)!r}, actor=ACTOR.address)
store.append_many(make_record(i) for i in range(100))
store.append(make_record(100))
print(store.size, store.root().hex(), flush=True)
os._exit(0)
"""

    # Execute
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )

    # Assert
    size, root = result.stdout.split()
    with LogStore(path) as store:
        assert (store.size, store.root().hex()) == (int(size), root)
