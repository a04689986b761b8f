"""Authenticated encryption at rest: AES-256-GCM envelopes and key sources.

Checkpoints, budget books, pseudonym key rings and exported results are
written as *sealed envelopes*::

    magic "FGSL" | version (1 byte) | scheme (1 byte) | key-id length (1 byte)
    | key id (ASCII) | scheme body

* scheme 1, AES-256-GCM: body = nonce (12 bytes) | ciphertext | tag (16 bytes).
  The associated data is the header (everything up to the nonce) followed by
  the caller's *purpose* (e.g. ``"budget-ledger:health-site-1"``), so a
  ledger cannot be swapped for a checkpoint, nor the header edited, without
  the tag failing. Nonces are random: one key may seal up to about 2**32
  envelopes (NIST SP 800-38D), far more than a department writes.
* scheme 0, *insecure plaintext*: body = SHA-256(header | purpose | data) |
  data. It exists for development only, warns loudly on every use, and is
  never accepted where a key is configured: an attacker who swaps a sealed
  file for a plaintext one gets an :class:`~privacy.errors.IntegrityError`.

A key id is a fingerprint of the key (:func:`privacy._keys.fingerprint`), so
opening with a wrong key says so before any decryption is attempted, and
retired keys can be supplied to read files sealed before a rotation.

Keys come from a :class:`KeySource`: an environment variable, a key file
readable by its owner only, a passphrase stretched with scrypt, or the
explicit :class:`InsecurePlaintext` mode.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol import KDF

from fedgov.errors import ConfigurationError
from fedgov.files import private_dir, write_atomic
from fedgov.notices import warn_once
from privacy._keys import decode_key_text, fingerprint, random_secret, require_length
from privacy.errors import IntegrityError, KeyMaterialError, UnknownKeyError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "DEFAULT_SCRYPT_COST",
    "KEY_BYTES",
    "AtRestKey",
    "EnvKeySource",
    "InsecurePlaintext",
    "InsecurePlaintextWarning",
    "KeyFileSource",
    "KeySource",
    "PassphraseKeySource",
    "SealingCodec",
    "key_source_from_spec",
    "open_sealed",
    "read_encrypted",
    "rotate_file",
    "seal",
    "write_encrypted",
]

_log = logging.getLogger(__name__)

KEY_BYTES = 32
"""AES-256: every at-rest key is 32 bytes."""

DEFAULT_SCRYPT_COST = 2**17
"""scrypt's N for passphrases (with r=8, p=1: 128 MiB, ~0.5 s), OWASP's figure."""

_MIN_SCRYPT_COST = 2**14
_MIN_SALT_BYTES = 16
_MIN_PASSPHRASE_CHARS = 12
_MAGIC = b"FGSL"
_VERSION = 1
_SCHEME_PLAINTEXT = 0
_SCHEME_AES256_GCM = 1
_NONCE_BYTES = 12
_TAG_BYTES = 16
_DIGEST_BYTES = 32
_PREFIX_BYTES = len(_MAGIC) + 3
_MAX_PURPOSE_CHARS = 256


class InsecurePlaintextWarning(UserWarning):
    """Data that should be sealed is being written or read in plaintext."""


@dataclass(frozen=True)
class AtRestKey:
    """A 32-byte AES-256 key; ``key_id`` is its fingerprint, safe to show.

    An ``AtRestKey`` is also a :class:`KeySource` of itself, for keys that
    come from code (tests, a key ring already unsealed).
    """

    secret: bytes = field(repr=False)
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        require_length(self.secret, source="an in-memory at-rest key", exact=KEY_BYTES)
        object.__setattr__(self, "key_id", fingerprint(self.secret))

    @classmethod
    def generate(cls) -> AtRestKey:
        """A fresh random key."""
        return cls(random_secret(KEY_BYTES))

    def describe(self) -> str:
        """Where the key comes from: code, known by its id."""
        return f"in-memory key {self.key_id}"

    def load(self) -> AtRestKey:
        """The key itself."""
        return self


class KeySource(Protocol):
    """Where an at-rest key comes from."""

    def describe(self) -> str:
        """Name the source in messages (never the secret)."""
        ...

    def load(self) -> AtRestKey | None:
        """The key; ``None`` only for the explicit insecure plaintext mode."""
        ...


@dataclass(frozen=True)
class EnvKeySource:
    """A key in an environment variable, as hex or base64 (``hex:``/``base64:``
    prefixes force one reading)."""

    variable: str
    environ: Mapping[str, str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.variable or "=" in self.variable:
            raise ConfigurationError(
                "variable", "must be a non-empty environment variable name"
            )

    def describe(self) -> str:
        """The variable's name."""
        return f"environment variable {self.variable}"

    def load(self) -> AtRestKey:
        """Read and decode the variable now (not at construction)."""
        env = os.environ if self.environ is None else self.environ
        text = env.get(self.variable)
        if text is None:
            raise KeyMaterialError(self.describe(), "the variable is not set")
        secret = decode_key_text(text, source=self.describe())
        require_length(secret, source=self.describe(), exact=KEY_BYTES)
        return AtRestKey(secret)


@dataclass(frozen=True)
class KeyFileSource:
    """A key file holding the key as hex or base64 text.

    The file must be a regular file that neither group nor others may read or
    write (mode 0600 or 0400): a key anyone on the host can read protects
    nothing. Symbolic links are followed (secret volumes mount keys that way)
    and the check applies to the file they lead to.
    """

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def create(cls, path: Path | str) -> KeyFileSource:
        """Write a fresh random key to a new file with mode 0600."""
        target = Path(path)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as e:
            raise KeyMaterialError(
                f"key file {target}", "already exists; refusing to overwrite a key"
            ) from e
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(random_secret(KEY_BYTES).hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        return cls(target)

    def describe(self) -> str:
        """The file's path."""
        return f"key file {self.path}"

    def load(self) -> AtRestKey:
        """Check the file's permissions, then read and decode it."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as e:
            raise KeyMaterialError(
                self.describe(), f"cannot be opened: {e.strerror}"
            ) from e
        try:
            # fstat on the open descriptor: the file checked is the file read.
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise KeyMaterialError(self.describe(), "is not a regular file")
            if info.st_mode & 0o077:
                raise KeyMaterialError(
                    self.describe(),
                    f"has mode {stat.S_IMODE(info.st_mode):04o}; group and others must "
                    "have no access (chmod 600)",
                )
            raw = os.read(fd, 4096)
        finally:
            os.close(fd)
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as e:
            raise KeyMaterialError(
                self.describe(), "must hold the key as hex or base64 text"
            ) from e
        secret = decode_key_text(text, source=self.describe())
        require_length(secret, source=self.describe(), exact=KEY_BYTES)
        return AtRestKey(secret)


class PassphraseKeySource:
    """A key stretched from a passphrase with scrypt (r=8, p=1).

    The salt is not secret but must be stable: generate 16 random bytes once
    per department and keep them in its configuration. The key is derived on
    the first :meth:`load` and kept, since scrypt is deliberately slow.
    """

    def __init__(
        self,
        passphrase: str,
        *,
        salt: bytes,
        cost: int = DEFAULT_SCRYPT_COST,
        label: str = "passphrase",
    ) -> None:
        self._label = label
        if len(passphrase) < _MIN_PASSPHRASE_CHARS:
            raise KeyMaterialError(
                self.describe(),
                f"passphrase must be at least {_MIN_PASSPHRASE_CHARS} characters",
            )
        if len(salt) < _MIN_SALT_BYTES:
            raise ConfigurationError(
                "salt", f"must be at least {_MIN_SALT_BYTES} bytes, got {len(salt)}"
            )
        if cost < _MIN_SCRYPT_COST or cost & (cost - 1):
            raise ConfigurationError(
                "cost", f"must be a power of two >= {_MIN_SCRYPT_COST}, got {cost}"
            )
        self._passphrase = passphrase
        self._salt = bytes(salt)
        self._cost = cost
        self._key: AtRestKey | None = None

    @classmethod
    def from_env(
        cls,
        variable: str,
        *,
        salt: bytes,
        cost: int = DEFAULT_SCRYPT_COST,
        environ: Mapping[str, str] | None = None,
    ) -> PassphraseKeySource:
        """Read the passphrase from an environment variable now."""
        env = os.environ if environ is None else environ
        passphrase = env.get(variable)
        label = f"passphrase in environment variable {variable}"
        if passphrase is None:
            raise KeyMaterialError(label, "the variable is not set")
        return cls(passphrase, salt=salt, cost=cost, label=label)

    def __repr__(self) -> str:
        return f"PassphraseKeySource({self._label!r}, cost={self._cost})"

    def describe(self) -> str:
        """The label (never the passphrase)."""
        return self._label

    def load(self) -> AtRestKey:
        """Derive (once) and return the key."""
        if self._key is None:
            self._key = AtRestKey(
                _scrypt(self._passphrase.encode("utf-8"), self._salt, n=self._cost)
            )
        return self._key


class InsecurePlaintext:
    """Explicitly store data *unencrypted*. For development only.

    Warns (Python warning and log) when chosen and on every write or read.
    """

    def __init__(self) -> None:
        _warn_plaintext("InsecurePlaintext key source chosen")

    def __repr__(self) -> str:
        return "InsecurePlaintext()"

    def describe(self) -> str:
        """Says what it is."""
        return "INSECURE plaintext mode (no key)"

    def load(self) -> None:
        """No key: data is stored in plaintext."""
        return


def seal(data: bytes, *, key: AtRestKey, purpose: str) -> bytes:
    """Encrypt and authenticate ``data`` for ``purpose`` under ``key``."""
    header = _header(_SCHEME_AES256_GCM, key.key_id)
    nonce = random_secret(_NONCE_BYTES)
    ciphertext, tag = _gcm_encrypt(
        key.secret, nonce, header + _purpose_bytes(purpose), data
    )
    return header + nonce + ciphertext + tag


def open_sealed(
    blob: bytes,
    *,
    keys: AtRestKey | Iterable[AtRestKey],
    purpose: str,
    origin: str = "sealed data",
) -> bytes:
    """Verify and decrypt an envelope made by :func:`seal`.

    ``keys`` may hold retired keys next to the current one; the envelope's key
    id picks among them. Raises :class:`~privacy.errors.IntegrityError` (or its
    subclass :class:`~privacy.errors.UnknownKeyError`) naming ``origin``.
    """
    ring = [keys] if isinstance(keys, AtRestKey) else list(keys)
    return _open(blob, ring, allow_plaintext=False, purpose=purpose, origin=origin)


class SealingCodec:
    """Seals with the current key, opens with the current or a retired one.

    Implements ``privacy.budget.BudgetCodec`` (``seal``/``open`` on bytes).
    Keys are loaded at construction, so a misconfigured source fails early
    and a passphrase is stretched once.
    """

    def __init__(
        self,
        key_source: KeySource,
        *,
        purpose: str,
        retired: Sequence[KeySource] = (),
        origin: str = "sealed data",
    ) -> None:
        _purpose_bytes(purpose)
        self._purpose = purpose
        self._origin = origin
        self._current = key_source.load()
        loaded = [source.load() for source in retired]
        self._allow_plaintext = self._current is None or any(k is None for k in loaded)
        self._ring = [k for k in [self._current, *loaded] if k is not None]

    @property
    def key_id(self) -> str | None:
        """The id of the key new data is sealed with; ``None`` in plaintext mode."""
        return None if self._current is None else self._current.key_id

    def seal(self, plaintext: bytes) -> bytes:
        """Seal with the current key (or wrap as plaintext, warning)."""
        if self._current is None:
            _warn_plaintext(f"writing {self._origin} without encryption")
            return _plaintext_envelope(plaintext, self._purpose)
        return seal(plaintext, key=self._current, purpose=self._purpose)

    def open(self, stored: bytes) -> bytes:
        """Verify and return the plaintext of ``stored``."""
        return _open(
            stored,
            self._ring,
            allow_plaintext=self._allow_plaintext,
            purpose=self._purpose,
            origin=self._origin,
        )


def write_encrypted(
    path: Path | str, data: bytes, *, key_source: KeySource, purpose: str
) -> None:
    """Seal ``data`` and write it atomically (temp file, fsync, rename), mode 0600."""
    target = Path(path)
    codec = SealingCodec(key_source, purpose=purpose, origin=str(target))
    write_atomic(target, codec.seal(data))


def read_encrypted(
    path: Path | str,
    *,
    key_source: KeySource,
    purpose: str,
    retired: Sequence[KeySource] = (),
) -> bytes:
    """Read and open a file written by :func:`write_encrypted`."""
    target = Path(path)
    codec = SealingCodec(
        key_source, purpose=purpose, retired=retired, origin=str(target)
    )
    return codec.open(target.read_bytes())


def rotate_file(
    path: Path | str,
    *,
    new: KeySource,
    old: Sequence[KeySource],
    purpose: str,
) -> None:
    """Re-seal a file under ``new``; ``old`` lists the sources it may be sealed with.

    Also migrates a plaintext file to encryption when ``old`` includes
    :class:`InsecurePlaintext`. The file is replaced atomically.
    """
    target = Path(path)
    reader = SealingCodec(new, purpose=purpose, retired=old, origin=str(target))
    data = reader.open(target.read_bytes())
    writer = SealingCodec(new, purpose=purpose, origin=str(target))
    write_atomic(target, writer.seal(data))


# -- internals -------------------------------------------------------------------


def _scrypt(passphrase: bytes, salt: bytes, *, n: int) -> bytes:
    # pycryptodome's stub types password and salt as str; bytes are accepted.
    kdf: Any = KDF.scrypt
    derived: bytes = kdf(passphrase, salt, KEY_BYTES, N=n, r=8, p=1)
    return derived


def _gcm_encrypt(
    key: bytes, nonce: bytes, associated: bytes, plaintext: bytes
) -> tuple[bytes, bytes]:
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=_TAG_BYTES)
    cipher.update(associated)
    return cipher.encrypt_and_digest(plaintext)


def _gcm_decrypt(
    key: bytes, nonce: bytes, associated: bytes, ciphertext: bytes, tag: bytes
) -> bytes:
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=_TAG_BYTES)
    cipher.update(associated)
    return cipher.decrypt_and_verify(ciphertext, tag)


def _purpose_bytes(purpose: str) -> bytes:
    if not (
        0 < len(purpose) <= _MAX_PURPOSE_CHARS
        and purpose.isascii()
        and purpose.isprintable()
    ):
        raise ConfigurationError(
            "purpose", f"must be 1 to {_MAX_PURPOSE_CHARS} printable ASCII characters"
        )
    return purpose.encode("ascii")


def _header(scheme: int, key_id: str) -> bytes:
    encoded = key_id.encode("ascii")
    return _MAGIC + bytes([_VERSION, scheme, len(encoded)]) + encoded


def _plaintext_envelope(data: bytes, purpose: str) -> bytes:
    header = _header(_SCHEME_PLAINTEXT, "")
    digest = SHA256.new(header + _purpose_bytes(purpose) + data).digest()
    return header + digest + data


def _open(
    blob: bytes,
    ring: Sequence[AtRestKey],
    *,
    allow_plaintext: bool,
    purpose: str,
    origin: str,
) -> bytes:
    associated_purpose = _purpose_bytes(purpose)
    if len(blob) < _PREFIX_BYTES or blob[: len(_MAGIC)] != _MAGIC:
        raise IntegrityError(
            origin, "not a fedgov sealed envelope (bad magic or too short)"
        )
    version, scheme, id_length = blob[len(_MAGIC) : _PREFIX_BYTES]
    if version != _VERSION:
        raise IntegrityError(origin, f"unsupported envelope version {version}")
    header_end = _PREFIX_BYTES + id_length
    header = blob[:header_end]
    if scheme == _SCHEME_PLAINTEXT:
        if not allow_plaintext:
            raise IntegrityError(
                origin,
                "stored in plaintext but a key is configured; refusing a possible "
                "downgrade (migrate it with rotate_file if it is genuinely yours)",
            )
        _warn_plaintext(f"reading {origin} without encryption")
        digest, data = (
            blob[header_end : header_end + _DIGEST_BYTES],
            blob[header_end + _DIGEST_BYTES :],
        )
        if (
            id_length
            or SHA256.new(header + associated_purpose + data).digest() != digest
        ):
            raise IntegrityError(
                origin,
                "plaintext checksum mismatch: corrupted, truncated or other purpose",
            )
        return data
    if scheme != _SCHEME_AES256_GCM:
        raise IntegrityError(origin, f"unknown scheme {scheme}")
    if len(blob) < header_end + _NONCE_BYTES + _TAG_BYTES:
        raise IntegrityError(origin, "truncated envelope")
    try:
        key_id = header[_PREFIX_BYTES:].decode("ascii")
    except UnicodeDecodeError as e:
        raise IntegrityError(origin, "key id is not ASCII") from e
    if not ring:
        raise KeyMaterialError(
            "INSECURE plaintext mode",
            f"{origin} is encrypted (key id {key_id!r}); configure its key",
        )
    key = next((k for k in ring if k.key_id == key_id), None)
    if key is None:
        raise UnknownKeyError(origin, key_id, tuple(k.key_id for k in ring))
    nonce = blob[header_end : header_end + _NONCE_BYTES]
    ciphertext, tag = blob[header_end + _NONCE_BYTES : -_TAG_BYTES], blob[-_TAG_BYTES:]
    try:
        return _gcm_decrypt(
            key.secret, nonce, header + associated_purpose, ciphertext, tag
        )
    except ValueError as e:
        raise IntegrityError(
            origin,
            f"authentication failed for purpose {purpose!r}: the data was modified or "
            "truncated, or was sealed for another purpose",
        ) from e


def _warn_plaintext(what: str) -> None:
    message = f"INSECURE: {what}; data at rest is neither encrypted nor authenticated"
    warn_once(
        f"plaintext-at-rest:{what}", message, InsecurePlaintextWarning, stacklevel=3
    )


def key_source_from_spec(spec: str, *, default_key_file: Path) -> KeySource:
    """Parse a configured key source.

    ``"auto"`` is a key file at ``default_key_file``, created (mode 0600) on
    first use; ``"file:PATH"`` an existing key file; ``"env:VAR"`` a key in an
    environment variable; ``"passphrase-env:VAR:SALT_HEX"`` a passphrase in an
    environment variable stretched with scrypt; ``"plaintext"`` the insecure
    mode, which warns on every use.
    """
    kind, _, rest = spec.partition(":")
    if spec == "auto":
        if not default_key_file.exists():
            private_dir(default_key_file.parent)
            try:
                return KeyFileSource.create(default_key_file)
            except KeyMaterialError:
                # Another process created it between the check and the create.
                pass
        return KeyFileSource(default_key_file)
    if kind == "file" and rest:
        return KeyFileSource(Path(rest))
    if kind == "env" and rest:
        return EnvKeySource(rest)
    if kind == "passphrase-env" and rest.count(":") == 1:
        variable, salt_hex = rest.split(":")
        try:
            salt = bytes.fromhex(salt_hex)
        except ValueError as e:
            raise ConfigurationError("key", f"salt must be hex in {spec!r}") from e
        return PassphraseKeySource.from_env(variable, salt=salt)
    if spec == "plaintext":
        return InsecurePlaintext()
    raise ConfigurationError(
        "key",
        f"{spec!r} is not a key source: use auto, file:PATH, env:VAR, "
        "passphrase-env:VAR:SALT_HEX or plaintext",
    )
