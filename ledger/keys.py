"""Actors' signing keys: one secp256k1 key per department and coordinator.

An actor signs the tree heads of its audit log with its own key, so its key
file lives in its own state folder (:mod:`ledger.layout`) and is
created the first time the actor needs it. Two forms:

- an **encrypted keystore** (the Web3 Secret Storage JSON that geth and
  eth-account write, scrypt) whenever ``$FEDGOV_KEY_PASSWORD`` is set: what a
  county runs;
- a **plaintext** key (``0600``) otherwise: demo mode. A process loading
  one warns loudly (:class:`PlaintextKeyWarning` and a log line), and a
  plaintext file readable by anyone but its owner is refused, as ssh does.

Creation is safe against a race between processes (a department's first
messages may arrive in several processes at once): the file is written
under a temporary name and linked into place, and the loser of the race
loads the winner's key. Decrypting a keystore costs about a second of
scrypt, so each process keeps the keys it has opened.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_utils.address import to_checksum_address

from fedgov.files import private_dir, write_atomic
from fedgov.notices import warn_once
from ledger.errors import KeyFileError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

__all__ = [
    "KEY_PASSWORD_ENV",
    "PlaintextKeyWarning",
    "check_plaintext_mode",
    "install_key_file",
    "key_address",
    "key_password",
    "load_key",
    "load_or_create_key",
    "replace_key",
    "warn_plaintext_key",
]

_log = logging.getLogger(__name__)

KEY_PASSWORD_ENV = "FEDGOV_KEY_PASSWORD"
_PLAINTEXT_FORMAT = "fedgov-plaintext-key"
_cache: dict[tuple[str, int, int, str | None], LocalAccount] = {}
_cache_lock = threading.Lock()


class PlaintextKeyWarning(UserWarning):
    """An actor's signing key is stored unencrypted (demo mode)."""


def key_password() -> str | None:
    """The keystore password from ``$FEDGOV_KEY_PASSWORD``; ``None`` when unset."""
    return os.environ.get(KEY_PASSWORD_ENV) or None


def load_or_create_key(
    path: str | Path, *, password: str | None, iterations: int | None = None
) -> LocalAccount:
    """The key in ``path``, created first if the file does not exist.

    With a ``password`` a new key is written as an encrypted keystore
    (``iterations`` overrides scrypt's work factor, for tests); without one,
    in plaintext with a loud warning.
    """
    file = Path(path)
    if not file.exists():
        _create(file, password, iterations)
    return load_key(file, password=password)


def load_key(path: str | Path, *, password: str | None) -> LocalAccount:
    """The key in the existing key file ``path``."""
    file = Path(path)
    try:
        status = file.stat()
    except OSError as e:
        raise KeyFileError(str(file), f"cannot read: {e.strerror}") from e
    # ctime moves with a chmod too, so a key made world-readable is re-checked.
    cache_key = (str(file.resolve()), status.st_mtime_ns, status.st_ctime_ns, password)
    with _cache_lock:
        cached = _cache.get(cache_key)
    if cached is not None:
        return cached
    account = _read(file, password)
    with _cache_lock:
        _cache[cache_key] = account
    return account


def _read(file: Path, password: str | None) -> LocalAccount:
    try:
        document: Any = json.loads(file.read_text(encoding="utf-8"))
    except OSError as e:
        raise KeyFileError(str(file), f"cannot read: {e.strerror}") from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise KeyFileError(str(file), "is not a JSON key file") from e
    if not isinstance(document, dict):
        raise KeyFileError(str(file), "is not a JSON key file")
    if document.get("format") == _PLAINTEXT_FORMAT:
        return _read_plaintext(file, document, password)
    if "crypto" not in document and "Crypto" not in document:
        raise KeyFileError(
            str(file), "is neither a keystore nor a fedgov plaintext key"
        )
    if password is None:
        raise KeyFileError(
            str(file), f"is an encrypted keystore: set ${KEY_PASSWORD_ENV} to unlock it"
        )
    try:
        account: LocalAccount = Account.from_key(Account.decrypt(document, password))
    except ValueError as e:
        # eth-account says "MAC mismatch" for a wrong password; never echo the key.
        raise KeyFileError(str(file), f"cannot be decrypted: {e}") from e
    return account


def key_address(path: str | Path) -> str | None:
    """The address a key file names, read without unlocking it (``None``: no file).

    Only a hint (a roster, a listing): whoever needs the key itself loads it,
    which checks the address against the key.
    """
    file = Path(path)
    try:
        document: Any = json.loads(file.read_text(encoding="utf-8"))
        address = str(document["address"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise KeyFileError(str(file), "names no address") from e
    try:
        return str(to_checksum_address(address))
    except ValueError as e:
        raise KeyFileError(str(file), f"names no valid address: {address!r}") from e


def check_plaintext_mode(file: Path) -> None:
    """Refuse a plaintext key file that anyone but its owner may read."""
    mode = stat.S_IMODE(file.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(
            str(file),
            f"holds a plaintext key but has mode {mode:04o}: others may read it "
            f"(chmod 600 {file}, or re-create it with ${KEY_PASSWORD_ENV} set)",
        )


def _read_plaintext(
    file: Path, document: dict[str, Any], password: str | None
) -> LocalAccount:
    check_plaintext_mode(file)
    try:
        account: LocalAccount = Account.from_key(document["private_key"])
    except (KeyError, ValueError, TypeError) as e:
        raise KeyFileError(str(file), "holds no valid private key") from e
    if document.get("address") != account.address:
        raise KeyFileError(
            str(file), f"names address {document.get('address')}, its key is another's"
        )
    detail = (
        f" although ${KEY_PASSWORD_ENV} is set: encrypt it"
        if password is not None
        else ""
    )
    warn_plaintext_key(
        file,
        f"audit signing key {file} is stored in PLAINTEXT{detail}",
        "sign audit tree heads as this actor",
    )
    return account


def warn_plaintext_key(file: Path, message: str, power: str) -> None:
    """Warn once per actor, loudly and in the log, that it holds plaintext keys.

    An actor's keys (its audit key, its log's checkpoint key) share its
    folder: the warning names the first one loaded and is said once per
    folder and command. ``power`` says what whoever reads the file can do.
    """
    full = (
        f"{message} (demo mode): anyone who reads the file can {power}; so may "
        f"the other keys beside it. Set ${KEY_PASSWORD_ENV} for sealed keys."
    )
    warn_once(
        f"plaintext-key:{file.parent.resolve()}",
        full,
        PlaintextKeyWarning,
        stacklevel=3,
    )


def install_key_file(file: Path, content: bytes) -> bool:
    """Write ``content`` as the new key file ``file`` (``0600``), never replacing.

    Returns ``False`` when ``file`` already exists: another process created
    it first, and its key is the one to use.
    """
    temporary = _write_temporary(file, content)
    try:
        try:
            # link() never replaces: the loser of a race keeps the winner's key.
            os.link(temporary, file)
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink(missing_ok=True)


def _create(file: Path, password: str | None, iterations: int | None) -> None:
    account = Account.create()
    if install_key_file(file, _document(account, password, iterations)):
        _log.info("created audit signing key %s for %s", file, account.address)


def replace_key(
    path: str | Path,
    account: LocalAccount,
    *,
    password: str | None,
    iterations: int | None = None,
) -> Path:
    """Make ``account`` the key in ``path``; return where the old key went.

    The old file is renamed ``<name>.<old address>.retired``, kept for the
    operator to destroy once everything it signed is anchored.
    """
    file = Path(path)
    old = load_key(file, password=password)
    retired = file.with_name(f"{file.name}.{old.address}.retired")
    os.link(file, retired)
    write_atomic(file, _document(account, password, iterations))
    _log.info(
        "audit signing key %s: %s replaced %s", file, account.address, old.address
    )
    return retired


def _document(
    account: LocalAccount, password: str | None, iterations: int | None
) -> bytes:
    if password is None:
        document: dict[str, Any] = {
            "format": _PLAINTEXT_FORMAT,
            "address": account.address,
            "private_key": "0x" + bytes(account.key).hex(),
        }
    else:
        document = Account.encrypt(account.key, password, iterations=iterations)
    return json.dumps(document).encode()


def _write_temporary(file: Path, content: bytes) -> Path:
    private_dir(file.parent)
    temporary = file.with_name(f".{file.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary
