"""Dataset vaults: records sealed under their own key, destroyed by shredding it."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

from privacy.at_rest import AtRestKey, open_sealed
from privacy.errors import (
    DatasetDestroyedError,
    IntegrityError,
    KeyMaterialError,
    VaultError,
)
from privacy.vault import RECORDS, DatasetVault

if TYPE_CHECKING:
    from pathlib import Path

SECRET = b"resident 17, visits 4\n" * 50


def test_a_sealed_file_opens_only_with_the_vault(tmp_path: Path) -> None:
    vault = DatasetVault(tmp_path, "health-site-1", "randhie")

    path = vault.seal(RECORDS, SECRET, now=1000)

    assert vault.open(RECORDS) == SECRET
    assert SECRET[:20] not in path.read_bytes()
    assert vault.state() is not None
    assert vault.state().held_since == 1000  # type: ignore[union-attr]
    assert vault.state().due_at(2) == 1000 + 2 * 86_400  # type: ignore[union-attr]
    assert oct(vault.key_path.stat().st_mode & 0o777) == "0o600"
    other = DatasetVault(tmp_path, "health-site-1", "adult")
    other.seal(RECORDS, b"x")
    # Another dataset's key cannot open this dataset's file, even renamed.
    shutil.copy(path, other.folder / path.name)
    with pytest.raises(IntegrityError):
        other.open(RECORDS)


def test_destroying_shreds_the_key_then_the_files(tmp_path: Path) -> None:
    # Prepare: a copy of the sealed file survives elsewhere (a backup)
    vault = DatasetVault(tmp_path, "health-site-1", "randhie")
    sealed = vault.seal(RECORDS, SECRET)
    backup = sealed.read_bytes()
    key_id = vault.state().key_id  # type: ignore[union-attr]

    # Execute
    tombstone = vault.destroy(reason="retention period of 7 days ended", now=2000)

    # Assert
    assert not vault.key_path.exists()
    assert vault.files() == []
    assert tombstone.key_id == key_id
    assert tombstone.files == ((sealed.name, len(backup)),)
    assert vault.tombstone() == tombstone
    with pytest.raises(DatasetDestroyedError, match="destroyed its records of randhie"):
        vault.open(RECORDS)
    with pytest.raises(DatasetDestroyedError):
        vault.seal(RECORDS, SECRET)
    with pytest.raises(DatasetDestroyedError):
        vault.destroy(reason="again")
    assert not vault.has(RECORDS)
    # The backup is ciphertext whose key is gone: no other key opens it.
    with pytest.raises(IntegrityError):
        open_sealed(
            backup,
            keys=AtRestKey.generate(),
            purpose="dataset:health-site-1:randhie:records.parquet",
        )


def test_a_department_that_never_held_the_dataset_can_still_destroy_it(
    tmp_path: Path,
) -> None:
    vault = DatasetVault(tmp_path, "health-site-2", "randhie")

    tombstone = vault.destroy(reason="withdrawn from the programme")

    assert tombstone.files == ()
    with pytest.raises(DatasetDestroyedError):
        vault.check_readable()


def test_a_key_kept_apart_is_shredded_there(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    vault = DatasetVault(tmp_path / "state", "health-site-1", "randhie", key_dir=keys)
    vault.seal(RECORDS, SECRET)

    assert vault.key_path.parent == keys / "health-site-1"
    assert not (vault.folder / "data.key").exists()
    vault.destroy(reason="retention")
    assert not vault.key_path.exists()


def test_a_missing_or_exposed_key_is_refused(tmp_path: Path) -> None:
    vault = DatasetVault(tmp_path, "health-site-1", "randhie")
    vault.seal(RECORDS, SECRET)

    os.chmod(vault.key_path, 0o644)
    with pytest.raises(KeyMaterialError, match="chmod 600"):
        vault.open(RECORDS)
    vault.key_path.unlink()
    with pytest.raises(VaultError, match="data key is missing"):
        vault.open(RECORDS)


@pytest.mark.parametrize("name", ["", "../x", ".hidden", "a/b"])
def test_vault_file_names_are_plain(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="cannot name"):
        DatasetVault(tmp_path, "health-site-1", "randhie").seal(name, b"x")
