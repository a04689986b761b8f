"""Ed25519 note keys: sealed with a password, plaintext and warned without one."""

from __future__ import annotations

import threading
import warnings
from typing import TYPE_CHECKING

import pytest

from fedgov.notices import WARNED_ENV
from ledger.errors import KeyFileError
from ledger.keys import PlaintextKeyWarning
from ledger.note import public_key_bytes
from ledger.note_keys import load_note_key, load_or_create_note_key

if TYPE_CHECKING:
    from pathlib import Path

# scrypt at its real cost takes ~0.4 s per key; tests need no secrecy.
FAST = 2**4
POWER = "sign checkpoints of this log"


def test_without_password_a_plaintext_pem_is_created_0600_and_warns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dept" / "audit-0x1.note-key.pem"

    with pytest.warns(
        PlaintextKeyWarning, match="note key .* PLAINTEXT.*sign checkpoints"
    ):
        key = load_or_create_note_key(path, password=None, power=POWER)

    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    # Said once per command (fedgov.notices): loading the same file again is quiet.
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlaintextKeyWarning)
        again = load_note_key(path, password=None, power=POWER)
    assert public_key_bytes(again) == public_key_bytes(key)


def test_with_password_the_key_is_sealed_and_needs_it(tmp_path: Path) -> None:
    path = tmp_path / "note-key.pem"

    with warnings.catch_warnings():
        warnings.simplefilter("error", PlaintextKeyWarning)
        key = load_or_create_note_key(path, password="pw", power=POWER, iterations=FAST)

    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_key_bytes(load_note_key(path, password="pw", power=POWER)) == (
        public_key_bytes(key)
    )
    with pytest.raises(KeyFileError, match="set \\$FEDGOV_KEY_PASSWORD"):
        load_note_key(path, password=None, power=POWER)
    with pytest.raises(KeyFileError, match="cannot be read or unsealed"):
        load_note_key(path, password="wrong", power=POWER)


def test_a_plaintext_key_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "note-key.pem"
    with pytest.warns(PlaintextKeyWarning):
        load_or_create_note_key(path, password=None, power=POWER)

    path.chmod(0o644)

    with pytest.raises(KeyFileError, match="mode 0644: others may read it"):
        load_note_key(path, password=None, power=POWER)


def test_a_plaintext_key_warns_even_when_a_password_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "note-key.pem"
    with pytest.warns(PlaintextKeyWarning):
        load_or_create_note_key(path, password=None, power=POWER)
    monkeypatch.delenv(WARNED_ENV)  # a later command, which says it afresh

    with pytest.warns(
        PlaintextKeyWarning, match="although \\$FEDGOV_KEY_PASSWORD is set"
    ):
        load_note_key(path, password="pw", power=POWER)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"not a key", "not a PKCS#8 PEM"),
        (
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "cannot be read",
        ),
    ],
)
def test_other_files_are_refused(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "note-key.pem"
    path.write_bytes(content)
    path.chmod(0o600)

    with pytest.raises(KeyFileError, match=match):
        load_note_key(path, password=None, power=POWER)


def test_concurrent_first_uses_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "note-key.pem"
    keys: list[bytes] = []

    def first_use() -> None:
        key = load_or_create_note_key(path, password="pw", power=POWER, iterations=FAST)
        keys.append(public_key_bytes(key))

    threads = [threading.Thread(target=first_use) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(keys) == 6
    assert len(set(keys)) == 1
