"""A department's dataset vault: its records of one dataset, sealed under their own key.

Everything a department keeps of a dataset's records at rest (the copy it
imported with ``fedgov data import``, and whatever else it derives from
them) is sealed with AES-256-GCM under a *data key* that belongs to that
department and that dataset alone::

    <state>/departments/<department>/datasets/<dataset>/
        vault.json             held since when, under which key id (no secret)
        data.key               the data key, 0600 (or under --key-dir, below)
        <name>.sealed          sealed files, purpose "dataset:<dept>:<dataset>:<name>"
        destroyed.json         the tombstone, once destroyed

Destroying the vault (:meth:`DatasetVault.destroy`) is crypto-shredding:
the tombstone is written first (from then on every read is refused), then
the data key is overwritten and deleted, then the sealed files are deleted.
A copy of a sealed file that survives elsewhere (a backup, a disk block the
file system kept) is ciphertext whose key no longer exists.

That holds only if the key was never copied: keep data keys outside what is
backed up (``key_dir``, another volume) and never on the same backup as the
sealed files. Overwriting a file does not reach blocks a copy-on-write file
system or an SSD's wear levelling kept; the key's absence from every copy,
not the overwrite, is the guarantee.

The vault's ``held_since`` (the first import, or the department's first
read of the dataset) starts the retention period a dataset's declaration
states (:attr:`fedgov.data.DatasetSpec.retention_days`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fedgov.errors import ConfigurationError
from fedgov.files import private_dir, write_atomic
from privacy._keys import random_secret
from privacy.at_rest import KEY_BYTES, AtRestKey, open_sealed, seal
from privacy.errors import DatasetDestroyedError, KeyMaterialError, VaultError

__all__ = [
    "RECORDS",
    "DatasetVault",
    "Tombstone",
    "VaultState",
    "vault_dir",
]

RECORDS: Final = "records.parquet"
"""The sealed file holding the records a department imported."""

_FORMAT = "fedgov-dataset-vault"
_TOMBSTONE_FORMAT = "fedgov-dataset-destroyed"
_VERSION = 1
_STATE = "vault.json"
_TOMBSTONE = "destroyed.json"
_KEY = "data.key"
_SEALED = ".sealed"
_DAY_S = 86_400


def vault_dir(state_dir: str | Path, department: str, dataset: str) -> Path:
    """The folder of ``department``'s vault for ``dataset``."""
    for name, value in (("department", department), ("dataset", dataset)):
        if not value or value in (".", "..") or "/" in value or "\\" in value:
            raise ConfigurationError(name, f"{value!r} cannot name a folder")
    return Path(state_dir) / "departments" / department / "datasets" / dataset


@dataclass(frozen=True)
class VaultState:
    """Since when a department holds a dataset's records, under which key."""

    department: str
    dataset: str
    held_since: int
    """Unix seconds: the first import or read; retention counts from here."""
    key_id: str

    def due_at(self, retention_days: int) -> int:
        """When records held since :attr:`held_since` are past ``retention_days``."""
        return self.held_since + retention_days * _DAY_S


@dataclass(frozen=True)
class Tombstone:
    """What a vault's destruction left: when, why, which key, which files."""

    department: str
    dataset: str
    destroyed_at: int
    reason: str
    key_id: str
    held_since: int
    files: tuple[tuple[str, int], ...]
    """(name, size in bytes) of every sealed file deleted."""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _TOMBSTONE_FORMAT,
            "version": _VERSION,
            "department": self.department,
            "dataset": self.dataset,
            "destroyed_at": self.destroyed_at,
            "reason": self.reason,
            "key_id": self.key_id,
            "held_since": self.held_since,
            "files": [{"name": n, "bytes": b} for n, b in self.files],
        }


class DatasetVault:
    """``department``'s vault for ``dataset`` under ``state_dir``.

    ``key_dir`` keeps the data key apart from the sealed files
    (``<key_dir>/<department>/<dataset>.key``); by default it sits in the
    vault's folder, which guards copies of the sealed files but not a copy of
    the whole folder.
    """

    def __init__(
        self,
        state_dir: str | Path,
        department: str,
        dataset: str,
        *,
        key_dir: str | Path | None = None,
    ) -> None:
        self.department = department
        self.dataset = dataset
        self.folder = vault_dir(state_dir, department, dataset)
        self.key_path = (
            Path(key_dir) / department / f"{dataset}.key"
            if key_dir is not None
            else self.folder / _KEY
        )

    # -- state -------------------------------------------------------------------

    def state(self) -> VaultState | None:
        """The vault's state; ``None`` when the department never held the dataset."""
        data = self._json(self.folder / _STATE)
        if data is None:
            return None
        try:
            return VaultState(
                department=str(data["department"]),
                dataset=str(data["dataset"]),
                held_since=int(data["held_since"]),
                key_id=str(data["key_id"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise VaultError(str(self.folder / _STATE), f"malformed: {e!r}") from e

    def tombstone(self) -> Tombstone | None:
        """The destruction's record; ``None`` while the vault is live."""
        data = self._json(self.folder / _TOMBSTONE)
        if data is None:
            return None
        try:
            return Tombstone(
                department=str(data["department"]),
                dataset=str(data["dataset"]),
                destroyed_at=int(data["destroyed_at"]),
                reason=str(data["reason"]),
                key_id=str(data["key_id"]),
                held_since=int(data["held_since"]),
                files=tuple((str(f["name"]), int(f["bytes"])) for f in data["files"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise VaultError(str(self.folder / _TOMBSTONE), f"malformed: {e!r}") from e

    def check_readable(self) -> None:
        """Raise :class:`~privacy.errors.DatasetDestroyedError` once destroyed."""
        tombstone = self.tombstone()
        if tombstone is not None:
            raise DatasetDestroyedError(
                str(self.folder),
                department=self.department,
                dataset=self.dataset,
                destroyed_at=tombstone.destroyed_at,
            )

    def open_or_create(self, *, now: int | None = None) -> VaultState:
        """The vault's state, creating the vault (and its data key) on first use.

        A destroyed vault is never re-created: its records are gone, and the
        department must not start holding the dataset again unnoticed.
        """
        self.check_readable()
        state = self.state()
        if state is not None:
            return state
        key = self._create_key()
        state = VaultState(
            department=self.department,
            dataset=self.dataset,
            held_since=int(time.time()) if now is None else now,
            key_id=key.key_id,
        )
        document = {
            "format": _FORMAT,
            "version": _VERSION,
            "department": state.department,
            "dataset": state.dataset,
            "held_since": state.held_since,
            "key_id": state.key_id,
        }
        try:
            fd = os.open(
                self.folder / _STATE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
            )
        except FileExistsError:
            existing = self.state()
            assert existing is not None
            return existing  # another process created it first
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        return state

    # -- sealed files -----------------------------------------------------------------

    def seal(self, name: str, data: bytes, *, now: int | None = None) -> Path:
        """Seal ``data`` as the vault's file ``name`` (replacing it atomically)."""
        self.open_or_create(now=now)
        path = self._sealed_path(name)
        write_atomic(path, seal(data, key=self._key(), purpose=self._purpose(name)))
        return path

    def has(self, name: str) -> bool:
        """Whether the live vault holds the sealed file ``name``."""
        return self.tombstone() is None and self._sealed_path(name).is_file()

    def open(self, name: str) -> bytes:
        """The plaintext of the sealed file ``name``; refused once destroyed."""
        self.check_readable()
        path = self._sealed_path(name)
        try:
            blob = path.read_bytes()
        except OSError as e:
            raise VaultError(str(path), f"cannot read: {e.strerror}") from e
        return open_sealed(
            blob, keys=self._key(), purpose=self._purpose(name), origin=str(path)
        )

    def files(self) -> list[Path]:
        """Every sealed file of the vault."""
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob(f"*{_SEALED}"))

    # -- retention and destruction ----------------------------------------------------

    def destroy(self, *, reason: str, now: int | None = None) -> Tombstone:
        """Crypto-shred the vault: tombstone, then the data key, then the files.

        Raises :class:`~privacy.errors.DatasetDestroyedError` if it already
        was destroyed. A department that never held the dataset gets a vault
        created and destroyed at once, so its tombstone still refuses reads.
        """
        if not reason.strip():
            raise ConfigurationError("reason", "say why the records are destroyed")
        state = self.open_or_create(now=now)
        files = self.files()
        tombstone = Tombstone(
            department=self.department,
            dataset=self.dataset,
            destroyed_at=int(time.time()) if now is None else now,
            reason=reason,
            key_id=state.key_id,
            held_since=state.held_since,
            files=tuple((f.name, f.stat().st_size) for f in files),
        )
        write_atomic(
            self.folder / _TOMBSTONE,
            json.dumps(tombstone.to_json(), sort_keys=True).encode("utf-8"),
        )
        _shred(self.key_path)
        for file in files:
            file.unlink()
        _sync_dir(self.folder)
        return tombstone

    # -- internals -----------------------------------------------------------------------

    def _purpose(self, name: str) -> str:
        return f"dataset:{self.department}:{self.dataset}:{name}"

    def _sealed_path(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise ConfigurationError("name", f"{name!r} cannot name a vault file")
        return self.folder / f"{name}{_SEALED}"

    def _key(self) -> AtRestKey:
        path = self.key_path
        try:
            text = path.read_text(encoding="ascii").strip()
            mode = path.stat().st_mode & 0o077
        except FileNotFoundError as e:
            raise VaultError(
                str(path),
                "the data key is missing: the vault cannot be opened (destroyed "
                "outside fedgov, or key_dir not given)",
            ) from e
        except (OSError, UnicodeDecodeError) as e:
            raise VaultError(str(path), f"cannot read the data key: {e}") from e
        if mode:
            raise KeyMaterialError(
                f"key file {path}", "group or others may access it (chmod 600)"
            )
        try:
            key = AtRestKey(bytes.fromhex(text))
        except ValueError as e:
            raise VaultError(str(path), "the data key is not 64 hex digits") from e
        state = self.state()
        if state is not None and state.key_id != key.key_id:
            raise VaultError(
                str(path),
                f"holds key {key.key_id}, the vault was created under {state.key_id}",
            )
        return key

    def _create_key(self) -> AtRestKey:
        private_dir(self.folder)
        private_dir(self.key_path.parent)
        secret = random_secret(KEY_BYTES)
        try:
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._key()  # another process created it first
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secret.hex() + "\n")
            out.flush()
            os.fsync(out.fileno())
        _sync_dir(self.key_path.parent)
        return AtRestKey(secret)

    @staticmethod
    def _json(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise VaultError(str(path), f"cannot be read: {e}") from e
        if not isinstance(data, dict):
            raise VaultError(str(path), "is not a JSON object")
        return data


def _shred(path: Path) -> None:
    """Overwrite ``path`` with random bytes, sync, then delete it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    with path.open("r+b") as out:
        out.write(random_secret(max(size, KEY_BYTES)))
        out.flush()
        os.fsync(out.fileno())
    path.unlink()
    _sync_dir(path.parent)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
