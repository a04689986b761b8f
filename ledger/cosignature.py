"""Checkpoint cosignatures (C2SP ``tlog-cosignature``, Ed25519 ``cosignature/v1``).

A cosignature is a witness's note signature on a log's checkpoint, of
signature type ``0x04``. Its bytes are a big-endian ``uint64`` POSIX
timestamp (seconds) followed by the Ed25519 signature of::

    cosignature/v1\\n
    time <timestamp>\\n
    <the checkpoint's note text>

It states that, at that time, the checkpoint was the largest consistent
tree head the witness had seen for the log named by the origin line. The
message does not name the witness, so one Ed25519 key serves one cosigner.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger.errors import MalformedNoteError
from ledger.note import Note, NoteSignature, SignatureType, VerifierKey

__all__ = [
    "MAX_TIMESTAMP",
    "CosignatureVerifier",
    "Cosigner",
    "cosignature_timestamp",
    "cosigned_message",
]

MAX_TIMESTAMP = 2**63 - 1
_SIGNATURE_SIZE = 8 + 64


def cosigned_message(text: bytes, timestamp: int) -> bytes:
    """What a ``cosignature/v1`` signs for the checkpoint note ``text``."""
    return b"cosignature/v1\ntime %d\n" % timestamp + text


def cosignature_timestamp(signature: NoteSignature) -> int:
    """The POSIX timestamp a cosignature carries."""
    if len(signature.signature) != _SIGNATURE_SIZE:
        raise MalformedNoteError(
            f"a cosignature is {_SIGNATURE_SIZE} bytes, {signature.name}'s is "
            f"{len(signature.signature)}"
        )
    return int.from_bytes(signature.signature[:8], "big")


class Cosigner:
    """A witness's cosigning key under its name."""

    def __init__(self, name: str, key: Ed25519PrivateKey) -> None:
        self.vkey = VerifierKey.for_key(name, key, SignatureType.COSIGNATURE_V1)
        self._key = key

    @property
    def name(self) -> str:
        return self.vkey.name

    def cosign(self, text: str, timestamp: int) -> NoteSignature:
        """The cosignature line over the checkpoint ``text`` at ``timestamp``."""
        Note(text, ())  # validates the text
        if not 0 < timestamp <= MAX_TIMESTAMP:
            raise MalformedNoteError(
                f"a cosignature's timestamp is in [1, 2^63 - 1], got {timestamp}"
            )
        signature = self._key.sign(cosigned_message(text.encode(), timestamp))
        return NoteSignature(
            self.vkey.name,
            self.vkey.key_id,
            timestamp.to_bytes(8, "big") + signature,
        )


class CosignatureVerifier:
    """Verifies one witness's ``cosignature/v1`` signatures (type ``0x04``)."""

    def __init__(self, vkey: VerifierKey) -> None:
        if vkey.signature_type is not SignatureType.COSIGNATURE_V1:
            raise MalformedNoteError(f"{vkey} is not a cosignature/v1 key (type 0x04)")
        self.vkey = vkey
        self._key = Ed25519PublicKey.from_public_bytes(vkey.public_key)

    @property
    def name(self) -> str:
        return self.vkey.name

    @property
    def key_id(self) -> int:
        return self.vkey.key_id

    def verify(self, text: bytes, signature: bytes) -> bool:
        if len(signature) != _SIGNATURE_SIZE:
            return False
        timestamp = int.from_bytes(signature[:8], "big")
        if not 0 < timestamp <= MAX_TIMESTAMP:
            return False
        try:
            self._key.verify(signature[8:], cosigned_message(text, timestamp))
        except InvalidSignature:
            return False
        return True
