"""Tampering behind the store's back: triggers dropped, the file edited.

The triggers only stop honest mistakes; these tests bypass them, as an
attacker holding the file would, and expect reopening to find the damage.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from ledger.errors import LogIntegrityError
from ledger.merkle import leaf_hash
from ledger.store import LogStore
from tests.ledger._log_fixtures import ACTOR, DOMAIN, OTHER, make_record

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A closed log of 40 records with heads signed at 16 and 40."""
    path = tmp_path / "log.db"
    with LogStore(path, actor=ACTOR.address) as store:
        store.append_many(make_record(i) for i in range(16))
        store.sign_head(ACTOR, DOMAIN, timestamp_ms=1)
        store.append_many(make_record(i) for i in range(16, 40))
        store.sign_head(ACTOR, DOMAIN, timestamp_ms=2)
    return path


def _tamper(path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    db = sqlite3.connect(path)
    for table in ("records", "signed_heads"):
        for verb in ("update", "delete"):
            db.execute(f"DROP TRIGGER {table}_no_{verb}")
    for sql, parameters in statements:
        db.execute(sql, parameters)
    db.commit()
    db.close()


def test_untouched_log_opens(path: Path) -> None:
    with LogStore(path) as store:
        assert store.size == 40


def test_edited_record_is_named(path: Path) -> None:
    # Prepare: change record 23's bytes, leave its stored leaf hash.
    forged = make_record(23).encode().replace(b"purpose-", b"purpese-")
    _tamper(path, ("UPDATE records SET data = ? WHERE idx = 23", (forged,)))

    # Execute / Assert
    with pytest.raises(LogIntegrityError, match="record 23") as caught:
        LogStore(path)
    assert caught.value.index == 23


def test_edited_record_with_recomputed_hash_breaks_a_signed_root(path: Path) -> None:
    # Prepare: a careful forger also rewrites the leaf hash.
    forged = make_record(23).encode().replace(b"purpose-", b"purpese-")
    _tamper(
        path,
        (
            "UPDATE records SET data = ?, leaf_hash = ? WHERE idx = 23",
            (forged, leaf_hash(forged)),
        ),
    )

    # Execute / Assert: the head at 16 holds, the one at 40 does not.
    with pytest.raises(LogIntegrityError, match=r"records \[16, 40\)") as caught:
        LogStore(path)
    assert caught.value.index is None


def test_deleted_record_is_named(path: Path) -> None:
    _tamper(path, ("DELETE FROM records WHERE idx = 7", ()))

    with pytest.raises(LogIntegrityError, match="record 7 is missing") as caught:
        LogStore(path)
    assert caught.value.index == 7


def test_truncated_log_is_found_by_the_head(path: Path) -> None:
    _tamper(path, ("DELETE FROM records WHERE idx >= 30", ()))

    with pytest.raises(LogIntegrityError, match="records were removed") as caught:
        LogStore(path)
    assert caught.value.index == 30


def test_swapped_records_break_the_first_head(path: Path) -> None:
    # Prepare: swap records 3 and 4, hashes included.
    three, four = make_record(3).encode(), make_record(4).encode()
    _tamper(
        path,
        ("DELETE FROM records WHERE idx IN (3, 4)", ()),
        ("INSERT INTO records VALUES (3, ?, ?)", (four, leaf_hash(four))),
        ("INSERT INTO records VALUES (4, ?, ?)", (three, leaf_hash(three))),
    )

    with pytest.raises(LogIntegrityError, match=r"records \[0, 16\)"):
        LogStore(path)


def test_rewritten_head_root_fails_its_signature(path: Path) -> None:
    _tamper(
        path, ("UPDATE signed_heads SET root_hash = ? WHERE seq = 2", (b"\1" * 32,))
    )

    with pytest.raises(LogIntegrityError, match="does not recover"):
        LogStore(path)


def test_head_re_signed_by_another_key_is_refused(path: Path) -> None:
    _tamper(
        path, ("UPDATE signed_heads SET signer = ? WHERE seq = 1", (OTHER.address,))
    )

    with pytest.raises(LogIntegrityError, match="not the log's actor"):
        LogStore(path)


def test_byte_edit_of_the_file_is_found(path: Path) -> None:
    # Prepare: no SQL at all: flip one character inside the file.
    raw = path.read_bytes()
    target = b"purpose-0000031"
    assert raw.count(target) == 1
    path.write_bytes(raw.replace(target, b"purpose-0000032"))

    # Execute / Assert
    with pytest.raises(LogIntegrityError) as caught:
        LogStore(path)
    assert caught.value.index == 31
