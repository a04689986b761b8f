"""Key material helpers shared by pseudonymization and encryption at rest.

Secrets are plain ``bytes`` kept out of every ``repr``; what identifies a key
in files, pseudonyms and logs is its *key id*, a fingerprint from which the
secret cannot be recovered.
"""

from __future__ import annotations

import base64
import binascii
import re

from Crypto.Hash import HMAC, SHA256
from Crypto.Protocol.KDF import HKDF
from Crypto.Random import get_random_bytes

from privacy.errors import KeyMaterialError

__all__ = [
    "decode_key_text",
    "derive_key",
    "fingerprint",
    "random_secret",
    "require_length",
]

_FINGERPRINT_LABEL = b"fedgov/key-id/v1"
_HEX = re.compile(r"[0-9a-fA-F]+")


def fingerprint(secret: bytes) -> str:
    """The key id of ``secret``: 16 hex digits of HMAC-SHA256(secret, label).

    A keyed function rather than a plain hash, so the id reveals nothing about
    the key even for an attacker who can guess candidate keys' structure.
    """
    return HMAC.new(secret, _FINGERPRINT_LABEL, digestmod=SHA256).hexdigest()[:16]


def derive_key(secret: bytes, label: str, *, length: int = 32) -> bytes:
    """A sub-key of ``secret`` for one use, named by ``label`` (HKDF-SHA256, RFC 5869).

    Sub-keys for different labels are independent: one department key can
    serve several schemes without any of them seeing another's key.
    """
    derived = HKDF(secret, length, b"", SHA256, context=label.encode("utf-8"))
    assert isinstance(derived, bytes)  # num_keys=1 gives one key, not a tuple
    return derived


def random_secret(length: int) -> bytes:
    """``length`` bytes from the operating system's CSPRNG."""
    return get_random_bytes(length)


def require_length(
    secret: bytes, *, source: str, exact: int = 0, minimum: int = 0
) -> None:
    """Refuse ``secret`` unless it is ``exact`` bytes long, or ``minimum`` or more."""
    if exact and len(secret) != exact:
        rule = f"exactly {exact} bytes"
    elif len(secret) < minimum:
        rule = f"at least {minimum} bytes"
    else:
        return
    raise KeyMaterialError(source, f"key must be {rule}, got {len(secret)} bytes")


def decode_key_text(text: str, *, source: str) -> bytes:
    """Decode a key written as hex or base64 (standard or URL-safe alphabet).

    Hex is recognised first: a 64-digit string is always read as hex, never as
    base64 that happens to use only hex digits.
    """
    cleaned = text.strip()
    if cleaned.startswith(("hex:", "base64:")):
        kind, _, cleaned = cleaned.partition(":")
    else:
        kind = "hex" if _HEX.fullmatch(cleaned) and len(cleaned) % 2 == 0 else "base64"
    if not cleaned:
        raise KeyMaterialError(source, "key is empty")
    try:
        if kind == "hex":
            return bytes.fromhex(cleaned)
        padded = cleaned + "=" * (-len(cleaned) % 4)
        alphabet = b"-_" if ("-" in cleaned or "_" in cleaned) else None
        return base64.b64decode(padded, altchars=alphabet, validate=True)
    except (ValueError, binascii.Error) as e:
        raise KeyMaterialError(source, f"key is not valid {kind}") from e
