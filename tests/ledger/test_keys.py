"""Actors' key files: plaintext demo keys, encrypted keystores, races, refusals."""

from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING

import pytest
from eth_account import Account

from ledger.errors import KeyFileError
from ledger.keys import PlaintextKeyWarning, load_key, load_or_create_key

if TYPE_CHECKING:
    from pathlib import Path

# scrypt at its real work factor takes a second per key; tests need no secrecy.
FAST = 2**4


def test_without_password_a_plaintext_key_is_created_0600_and_warns(
    tmp_path: Path,
) -> None:
    # Prepare
    path = tmp_path / "dept" / "audit-key.json"

    # Act
    with pytest.warns(PlaintextKeyWarning, match="PLAINTEXT"):
        account = load_or_create_key(path, password=None)

    # Assert
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["address"] == account.address
    assert load_key(path, password=None).address == account.address


def test_with_password_the_key_is_an_encrypted_keystore(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "audit-key.json"

    # Act
    account = load_or_create_key(path, password="s3cret", iterations=FAST)

    # Assert
    stored = json.loads(path.read_text())
    assert "crypto" in stored
    assert account.key.hex() not in path.read_text()
    assert Account.decrypt(stored, "s3cret") == account.key


def test_an_encrypted_key_needs_the_right_password(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "audit-key.json"
    load_or_create_key(path, password="right", iterations=FAST)

    # Act / Assert
    with pytest.raises(KeyFileError, match="FEDGOV_KEY_PASSWORD"):
        load_key(path, password=None)
    with pytest.raises(KeyFileError, match="cannot be decrypted"):
        load_key(path, password="wrong")


def test_a_plaintext_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "audit-key.json"
    with pytest.warns(PlaintextKeyWarning):
        load_or_create_key(path, password=None)
    path.chmod(0o644)

    # Act / Assert
    with pytest.raises(KeyFileError, match="mode 0644"):
        load_key(path, password=None)


def test_a_key_file_naming_another_address_is_refused(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "audit-key.json"
    document = {
        "format": "fedgov-plaintext-key",
        "address": Account.create().address,
        "private_key": "0x" + "11" * 32,
    }
    path.write_text(json.dumps(document))
    path.chmod(0o600)

    # Act / Assert
    with pytest.raises(KeyFileError, match="another's"):
        load_key(path, password=None)


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"format": "other"}'])
def test_a_malformed_key_file_is_refused(tmp_path: Path, content: str) -> None:
    # Prepare
    path = tmp_path / "audit-key.json"
    path.write_text(content)

    # Act / Assert
    with pytest.raises(KeyFileError):
        load_key(path, password=None)


def test_processes_racing_to_create_a_key_all_end_up_with_one(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "audit-key.json"
    addresses: list[str] = []
    start = threading.Barrier(8)

    def create() -> None:
        start.wait()
        addresses.append(
            load_or_create_key(path, password="pw", iterations=FAST).address
        )

    threads = [threading.Thread(target=create) for _ in range(8)]

    # Act
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Assert
    assert len(set(addresses)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["audit-key.json"]
    assert os.access(path, os.R_OK)
