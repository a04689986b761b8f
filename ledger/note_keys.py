"""Ed25519 note keys: a log's checkpoint key, a witness's cosigning key.

Each actor log signs its checkpoints (:mod:`ledger.checkpoint`) with its
own Ed25519 key, kept beside the log it signs for
(:func:`ledger.layout.note_key_path`); a witness keeps its cosigning
key the same way. They are handled as the actors' secp256k1 keys are
(:mod:`ledger.keys`):

- with ``$FEDGOV_KEY_PASSWORD`` set, a **sealed** PKCS#8 PEM (RFC 5958
  ``ENCRYPTED PRIVATE KEY``: PBES2 with scrypt as RFC 7914 section 7
  defines it, AES-256-CBC);
- without it, a **plaintext** PKCS#8 PEM with mode ``0600``, loaded with a
  loud :class:`~ledger.keys.PlaintextKeyWarning`; one readable by
  anyone but its owner is refused;
- created on first use, linked into place so that concurrent first uses
  agree on one key; unsealing costs a fraction of a second of scrypt, so
  each process keeps the keys it opened.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from Crypto.PublicKey import ECC
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import KeyFileError
from ledger.keys import (
    KEY_PASSWORD_ENV,
    check_plaintext_mode,
    install_key_file,
    warn_plaintext_key,
)

__all__ = ["SCRYPT_COST", "load_note_key", "load_or_create_note_key"]

SCRYPT_COST = 2**17
"""scrypt's N for sealed note keys (r = 8, p = 1: 128 MiB, ~0.4 s)."""
_SEALED = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
_PLAIN = b"-----BEGIN PRIVATE KEY-----"
_log = logging.getLogger(__name__)
_cache: dict[tuple[str, int, int, str | None], Ed25519PrivateKey] = {}
_cache_lock = threading.Lock()


def load_or_create_note_key(
    path: str | Path,
    *,
    password: str | None,
    power: str,
    iterations: int | None = None,
) -> Ed25519PrivateKey:
    """The Ed25519 key in ``path``, created first if the file does not exist.

    ``power`` says, in a plaintext warning, what the key lets its reader do
    (``"sign checkpoints of this log"``); ``iterations`` overrides scrypt's
    N for a new sealed key (tests).
    """
    file = Path(path)
    if not file.exists():
        seed = ECC.generate(curve="ed25519")
        if password is None:
            content = seed.export_key(format="PEM").encode()
        else:
            content = seed.export_key(
                format="PEM",
                passphrase=password,
                protection="scryptAndAES256-CBC",
                prot_params={"iteration_count": iterations or SCRYPT_COST},
            ).encode()
        if install_key_file(file, content):
            _log.info("created note key %s", file)
    return load_note_key(file, password=password, power=power)


def load_note_key(
    path: str | Path, *, password: str | None, power: str
) -> Ed25519PrivateKey:
    """The Ed25519 key in the existing key file ``path``."""
    file = Path(path)
    try:
        status = file.stat()
        content = file.read_bytes()
    except OSError as e:
        raise KeyFileError(str(file), f"cannot read: {e.strerror}") from e
    sealed = content.lstrip().startswith(_SEALED)
    if not sealed and not content.lstrip().startswith(_PLAIN):
        raise KeyFileError(str(file), "is not a PKCS#8 PEM private key")
    if sealed and password is None:
        raise KeyFileError(
            str(file), f"is a sealed key: set ${KEY_PASSWORD_ENV} to unlock it"
        )
    if not sealed:
        check_plaintext_mode(file)
    # ctime moves with a chmod too, so a key made world-readable is re-checked.
    cache_key = (str(file.resolve()), status.st_mtime_ns, status.st_ctime_ns, password)
    with _cache_lock:
        key = _cache.get(cache_key)
    if key is None:
        key = _read(file, content, password if sealed else None)
        with _cache_lock:
            _cache[cache_key] = key
    if not sealed:
        detail = (
            f" although ${KEY_PASSWORD_ENV} is set: seal it"
            if password is not None
            else ""
        )
        warn_plaintext_key(
            file, f"note key {file} is stored in PLAINTEXT{detail}", power
        )
    return key


def _read(file: Path, content: bytes, password: str | None) -> Ed25519PrivateKey:
    try:
        key = ECC.import_key(content, passphrase=password)
    except (ValueError, IndexError, TypeError) as e:
        # pycryptodome says "Padding is incorrect" for a wrong password.
        raise KeyFileError(str(file), f"cannot be read or unsealed: {e}") from e
    if key.curve != "Ed25519" or not key.has_private():
        raise KeyFileError(
            str(file), f"holds a {key.curve} key, not an Ed25519 private key"
        )
    return Ed25519PrivateKey.from_private_bytes(key.seed)
