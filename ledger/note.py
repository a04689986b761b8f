"""Signed notes (C2SP ``signed-note``): text signed by one or more keys.

A note is a UTF-8 text ending in a newline, a blank line, then one
signature line per signature::

    <text ending in \\n>
    \\n
    — <key name> base64(uint32 key ID || signature)\\n

The key ID is the first four bytes of ``SHA-256(name || 0x0A || type ||
public key)``, ``type`` being the signature type byte (``0x01`` for
Ed25519 note signatures, ``0x04`` for ``tlog-cosignature`` Ed25519
cosignatures). A verifier key (*vkey*) is written
``<name>+<hex key ID>+base64(type || public key)``.

Opening a note follows the specification: signatures by unknown keys
(name and ID not both matching a known key) are ignored; a known key's
signature that does not verify rejects the whole note; a note with no
verified signature is rejected. Checkpoints (:mod:`ledger.checkpoint`) and
cosignatures (:mod:`ledger.cosignature`) are notes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger.errors import MalformedNoteError, UnverifiedNoteError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "MAX_SIGNATURES",
    "Note",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "SignatureType",
    "Verifier",
    "VerifierKey",
    "key_id",
    "open_note",
    "public_key_bytes",
    "sign_note",
]

MAX_SIGNATURES = 100
"""Most signature lines a note may carry (the specification asks for at least 16)."""
_DASH = "\u2014 "
_ED25519_KEY_SIZE = 32


class SignatureType(IntEnum):
    """Signature type bytes assigned by ``signed-note``, those fedgov uses."""

    ED25519 = 0x01
    """An Ed25519 signature over the note text (a log's checkpoint signature)."""
    COSIGNATURE_V1 = 0x04
    """A timestamped Ed25519 cosignature (``tlog-cosignature``)."""


def _check_name(name: str, what: str) -> str:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise MalformedNoteError(
            f"{what} {name!r} must be non-empty, without spaces or '+'"
        )
    return name


def key_id(name: str, signature_type: int, public_key: bytes) -> int:
    """``SHA-256(name || 0x0A || type || public key)[:4]``, big-endian."""
    digest = hashlib.sha256(
        name.encode() + b"\n" + bytes([signature_type]) + public_key
    ).digest()
    return int.from_bytes(digest[:4], "big")


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32-byte RFC 8032 encoding of an Ed25519 (public) key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes_raw()


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as e:
        raise MalformedNoteError(f"{what} is not standard base64: {e}") from e


@dataclass(frozen=True)
class VerifierKey:
    """A public key as a ``signed-note`` vkey: name, key ID, type and key bytes.

    Only Ed25519 keys (types ``0x01`` and ``0x04``) can be parsed: their key
    ID must be the one the specification's rule derives.
    """

    name: str
    signature_type: SignatureType
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name, "key name")
        if len(self.public_key) != _ED25519_KEY_SIZE:
            raise MalformedNoteError(
                f"an Ed25519 key is {_ED25519_KEY_SIZE} bytes, got "
                f"{len(self.public_key)}"
            )

    @property
    def key_id(self) -> int:
        """The key ID signature lines carry."""
        return key_id(self.name, self.signature_type, self.public_key)

    @classmethod
    def for_key(
        cls,
        name: str,
        key: Ed25519PrivateKey | Ed25519PublicKey,
        signature_type: SignatureType,
    ) -> VerifierKey:
        """The vkey of ``key`` under ``name`` for ``signature_type``."""
        return cls(name, signature_type, public_key_bytes(key))

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Parse ``<name>+<hex key ID>+base64(type || key)``."""
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise MalformedNoteError(f"vkey {text!r} is not name+id+key")
        name, id_text, material = parts
        _check_name(name, "vkey name")
        if len(id_text) != 8 or any(c not in "0123456789abcdefABCDEF" for c in id_text):
            raise MalformedNoteError(
                f"vkey {text!r}: key ID {id_text!r} is not 8 hex digits"
            )
        raw = _b64decode(material, f"vkey {text!r} key")
        if not raw:
            raise MalformedNoteError(f"vkey {text!r} holds no key")
        try:
            signature_type = SignatureType(raw[0])
        except ValueError as e:
            raise MalformedNoteError(
                f"vkey {text!r}: signature type 0x{raw[0]:02x} is not supported "
                "(fedgov reads Ed25519 keys: 0x01 and 0x04)"
            ) from e
        key = cls(name, signature_type, raw[1:])
        if key.key_id != int(id_text, 16):
            raise MalformedNoteError(
                f"vkey {text!r}: key ID {id_text} is not the one its name and key "
                f"derive ({key.key_id:08x})"
            )
        return key

    def __str__(self) -> str:
        material = base64.b64encode(bytes([self.signature_type]) + self.public_key)
        return f"{self.name}+{self.key_id:08x}+{material.decode('ascii')}"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, key ID and the signature bytes."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        """The signature line, newline included."""
        blob = self.key_id.to_bytes(4, "big") + self.signature
        return f"{_DASH}{self.name} {base64.b64encode(blob).decode('ascii')}\n"

    @classmethod
    def parse_line(cls, line: str) -> NoteSignature:
        """Parse one signature line (without its newline)."""
        if not line.startswith(_DASH):
            raise MalformedNoteError(
                f"signature line {line[:80]!r} does not start with '— '"
            )
        name, space, blob = line[len(_DASH) :].partition(" ")
        if not space:
            raise MalformedNoteError(f"signature line {line[:80]!r} has no signature")
        _check_name(name, "signature key name")
        raw = _b64decode(blob, f"signature of {name!r}")
        if len(raw) < 5:
            raise MalformedNoteError(f"signature of {name!r} is shorter than 5 bytes")
        return cls(name, int.from_bytes(raw[:4], "big"), raw[4:])


def _check_text(text: str) -> None:
    for c in text:
        if c < " " and c != "\n":
            raise MalformedNoteError("a note holds no control character but newline")
        if "\ud800" <= c <= "\udfff":
            raise MalformedNoteError("a note is UTF-8 text: lone surrogates are not")


@dataclass(frozen=True)
class Note:
    """A note's text (ending in a newline) and its signatures, in order."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        if not self.text.endswith("\n"):
            raise MalformedNoteError("a note's text ends with a newline")
        _check_text(self.text)
        if len(self.signatures) > MAX_SIGNATURES:
            raise MalformedNoteError(
                f"{len(self.signatures)} signatures, more than {MAX_SIGNATURES}"
            )

    def format(self) -> str:
        """The note as transmitted: text, blank line, signature lines."""
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signatures(self, signatures: Iterable[NoteSignature]) -> Note:
        """This note with ``signatures`` added (lines already present kept once)."""
        merged = list(self.signatures)
        for signature in signatures:
            if signature not in merged:
                merged.append(signature)
        return Note(self.text, tuple(merged))

    @classmethod
    def parse(cls, data: str | bytes) -> Note:
        """Parse a signed note; the signatures are not verified here."""
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise MalformedNoteError(f"not UTF-8: {e}") from e
        _check_text(data)
        split = data.rfind("\n\n")
        if split < 0:
            raise MalformedNoteError("no blank line before the signatures")
        text, block = data[: split + 1], data[split + 2 :]
        if not block.endswith("\n"):
            raise MalformedNoteError("the signature block does not end with a newline")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise MalformedNoteError(f"more than {MAX_SIGNATURES} signature lines")
        return cls(text, tuple(NoteSignature.parse_line(line) for line in lines))


class Verifier(Protocol):
    """Checks signatures of one key: what :func:`open_note` is configured with."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's over the note ``text``."""
        ...


class NoteVerifier:
    """Verifies Ed25519 note signatures (type ``0x01``) of one key."""

    def __init__(self, vkey: VerifierKey) -> None:
        if vkey.signature_type is not SignatureType.ED25519:
            raise MalformedNoteError(f"{vkey} is not an Ed25519 note key (type 0x01)")
        self.vkey = vkey
        self._key = Ed25519PublicKey.from_public_bytes(vkey.public_key)

    @property
    def name(self) -> str:
        return self.vkey.name

    @property
    def key_id(self) -> int:
        return self.vkey.key_id

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, text)
        except InvalidSignature:
            return False
        return True


class NoteSigner:
    """Signs notes with an Ed25519 key under ``name`` (type ``0x01``)."""

    def __init__(self, name: str, key: Ed25519PrivateKey) -> None:
        self.vkey = VerifierKey.for_key(name, key, SignatureType.ED25519)
        self._key = key

    @property
    def name(self) -> str:
        return self.vkey.name

    def sign(self, text: str) -> NoteSignature:
        """This key's signature line over ``text``."""
        Note(text, ())  # validates the text
        return NoteSignature(
            self.vkey.name, self.vkey.key_id, self._key.sign(text.encode())
        )


def sign_note(text: str, signer: NoteSigner) -> Note:
    """``text`` signed by ``signer``."""
    return Note(text, (signer.sign(text),))


def open_note(note: Note, verifiers: Sequence[Verifier]) -> tuple[NoteSignature, ...]:
    """Verify ``note`` against known keys; return the verified signatures.

    Raises :class:`~ledger.errors.UnverifiedNoteError` when a known key's
    signature fails, or when no known key signed.
    """
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: list[NoteSignature] = []
    text = note.text.encode()
    for signature in note.signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None or signature in verified:
            continue
        if not verifier.verify(text, signature.signature):
            key = f"{signature.name}+{signature.key_id:08x}"
            raise UnverifiedNoteError(key, f"the signature by {key} does not verify")
        verified.append(signature)
    if not verified:
        names = ", ".join(sorted({f"{v.name}+{v.key_id:08x}" for v in verifiers}))
        raise UnverifiedNoteError(
            "", f"no signature by a known key ({names or 'none configured'})"
        )
    return tuple(verified)
