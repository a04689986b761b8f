"""RSA blind signatures: the protocol of RFC 9474, on pycryptodome's RSA.

A resident obtains a credential without the registrar learning what it signed:

1. ``prepare`` — message randomization (RFC 9474 section 4): a fresh 32-byte
   prefix is put before the message, so even a registrar with a crafted key
   learns nothing from a low-entropy message;
2. ``blind`` (resident) — EMSA-PSS-encode the prepared message with a fresh
   salt, multiply by ``r^e`` for a uniformly random ``r``; the registrar only
   ever sees this blinded value, which is uniform whatever the message;
3. ``blind_sign`` (registrar) — the raw RSA private operation, followed by
   the RFC's fault check (``s^e == m``), which keeps a faulty CRT computation
   from leaking the key;
4. ``finalize`` (resident) — unblind with ``r^-1`` and verify the result as an
   ordinary RSASSA-PSS signature under the registrar's public key; a signature
   that does not verify (a registrar tagging residents with a wrong key or a
   bad answer) is refused.

The result verifies with any RSASSA-PSS verifier: the Consultation contract
on chain, :class:`Verifier` here, pycryptodome's ``Crypto.Signature.pss``
(the tests check all three agree).

Suites. RFC 9474's named variants use SHA-384, which no EVM precompile offers;
:data:`FEDGOV_SUITE` is the same protocol with SHA-256 (the EVM's precompile
0x02) for the hash and MGF1, a 32-byte salt and message randomization — the
RFC's recommended ``PSS-Randomized`` shape with the hash swapped. The RFC's
SHA-384 suites are defined too, so that the implementation is checked against
the RFC's test vectors.

Keys: the suites use 2048-bit moduli or larger with ``e = 65537``; a key must
sign for one suite only (RFC 9474 section 6.2), so the registrar makes a fresh
key per consultation.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ledger.voting.errors import CredentialError

if TYPE_CHECKING:
    from Crypto.PublicKey.RSA import RsaKey

__all__ = [
    "FEDGOV_SUITE",
    "PREFIX_BYTES",
    "RFC9474_SHA384_PSS_DETERMINISTIC",
    "RFC9474_SHA384_PSS_RANDOMIZED",
    "BlindRsaSuite",
    "Blinding",
    "PreparedMessage",
    "Verifier",
    "blind",
    "blind_sign",
    "check_blinded_message",
    "finalize",
    "prepare",
    "verify",
]

PREFIX_BYTES = 32
"""Length of the random prefix of message randomization (RFC 9474 section 4)."""


@dataclass(frozen=True)
class BlindRsaSuite:
    """One RSABSSA variant: hash (also MGF1's), PSS salt length, randomization."""

    name: str
    hash_name: Literal["sha256", "sha384"]
    salt_bytes: int
    randomized: bool

    def digest(self, data: bytes) -> bytes:
        """The suite's hash of ``data``."""
        return hashlib.new(self.hash_name, data).digest()

    @property
    def digest_bytes(self) -> int:
        return hashlib.new(self.hash_name).digest_size

    def mgf1(self, seed: bytes, length: int) -> bytes:
        """MGF1 (RFC 8017 appendix B.2.1) with the suite's hash."""
        blocks = (length + self.digest_bytes - 1) // self.digest_bytes
        return b"".join(
            self.digest(seed + counter.to_bytes(4, "big")) for counter in range(blocks)
        )[:length]


FEDGOV_SUITE = BlindRsaSuite(
    "RSABSSA-SHA256-PSS-Randomized", "sha256", salt_bytes=32, randomized=True
)
"""fedgov's credentials: RFC 9474's PSS-Randomized variant with SHA-256."""
RFC9474_SHA384_PSS_RANDOMIZED = BlindRsaSuite(
    "RSABSSA-SHA384-PSS-Randomized", "sha384", salt_bytes=48, randomized=True
)
RFC9474_SHA384_PSS_DETERMINISTIC = BlindRsaSuite(
    "RSABSSA-SHA384-PSS-Deterministic", "sha384", salt_bytes=48, randomized=False
)


@dataclass(frozen=True)
class PreparedMessage:
    """A message after RFC 9474 ``Prepare``: ``prefix || message``."""

    prefix: bytes
    """32 random bytes for randomized suites, empty otherwise."""
    message: bytes

    @property
    def prepared(self) -> bytes:
        """The bytes actually signed."""
        return self.prefix + self.message


@dataclass(frozen=True)
class Blinding:
    """What ``blind`` returns: the value for the signer, and the resident's secret."""

    blinded_message: bytes
    inverse: int
    """``r^-1 mod n``: unblinds the signer's answer; never leaves the resident."""


def prepare(message: bytes, *, suite: BlindRsaSuite = FEDGOV_SUITE) -> PreparedMessage:
    """RFC 9474 ``Prepare``: prefix ``message`` with fresh randomness if the suite asks."""
    prefix = secrets.token_bytes(PREFIX_BYTES) if suite.randomized else b""
    return PreparedMessage(prefix, message)


def blind(
    public_key: RsaKey, message: PreparedMessage, *, suite: BlindRsaSuite = FEDGOV_SUITE
) -> Blinding:
    """RFC 9474 ``Blind``: encode ``message`` with a fresh salt and blind it."""
    n = public_key.n
    while True:
        r = secrets.randbelow(n - 1) + 1
        try:
            return _blind_with(
                public_key,
                message,
                suite=suite,
                salt=secrets.token_bytes(suite.salt_bytes),
                r=r,
            )
        except CredentialError as e:
            # "invalid blind": r shares a factor with n (probability ~2^-1000).
            if e.reason != "invalid blind":
                raise


def blind_sign(
    private_key: RsaKey, blinded_message: bytes, *, suite: BlindRsaSuite = FEDGOV_SUITE
) -> bytes:
    """RFC 9474 ``BlindSign``: the RSA private operation on a blinded message."""
    del suite  # the signer's step is the same for every suite
    m = check_blinded_message(private_key, blinded_message)
    # pycryptodome's own RSASP1, the one its PSS signer calls: CRT with RSA
    # blinding of the base, so that the time taken does not depend on m.
    signature: bytes = private_key._decrypt_to_bytes(m)  # type: ignore[attr-defined]
    s = int.from_bytes(signature, "big")
    if pow(s, private_key.e, private_key.n) != m:
        raise CredentialError("BlindSign", "signing failure: the fault check failed")
    return s.to_bytes(private_key.size_in_bytes(), "big")


def check_blinded_message(key: RsaKey, blinded_message: bytes) -> int:
    """``BlindSign``'s input checks; the blinded message as an integer."""
    k = key.size_in_bytes()
    if len(blinded_message) != k:
        raise CredentialError(
            "BlindSign",
            f"unexpected input size: {len(blinded_message)} bytes, expected {k}",
        )
    m = int.from_bytes(blinded_message, "big")
    if m >= key.n:
        raise CredentialError("BlindSign", "invalid message: not below the modulus")
    return m


def finalize(
    public_key: RsaKey,
    message: PreparedMessage,
    blind_signature: bytes,
    inverse: int,
    *,
    suite: BlindRsaSuite = FEDGOV_SUITE,
) -> bytes:
    """RFC 9474 ``Finalize``: unblind the signer's answer and verify it."""
    k = public_key.size_in_bytes()
    if len(blind_signature) != k:
        raise CredentialError(
            "Finalize",
            f"unexpected input size: {len(blind_signature)} bytes, expected {k}",
        )
    z = int.from_bytes(blind_signature, "big")
    signature = (z * inverse % public_key.n).to_bytes(k, "big")
    if not verify(public_key, message, signature, suite=suite):
        raise CredentialError(
            "Finalize", "invalid signature: the signer's answer does not verify"
        )
    return signature


def verify(
    public_key: RsaKey,
    message: PreparedMessage,
    signature: bytes,
    *,
    suite: BlindRsaSuite = FEDGOV_SUITE,
) -> bool:
    """RSASSA-PSS-VERIFY (RFC 8017 section 8.1.2) of ``signature``."""
    return Verifier(public_key, suite=suite).verify(message, signature)


class Verifier:
    """RSASSA-PSS-VERIFY under one key, for many signatures.

    An auditor verifies tens of thousands of credentials: this takes the key's
    numbers out of pycryptodome once (each ``RsaKey.n`` is a 0.4 ms conversion)
    and runs Python's ``pow`` and ``hashlib``, about three times faster than
    pycryptodome's PSS verifier. The tests check both agree.
    """

    def __init__(
        self, public_key: RsaKey, *, suite: BlindRsaSuite = FEDGOV_SUITE
    ) -> None:
        self._n = public_key.n
        self._e = public_key.e
        self._k = public_key.size_in_bytes()
        self._em_bits = public_key.size_in_bits() - 1
        self._suite = suite

    def verify(self, message: PreparedMessage, signature: bytes) -> bool:
        """Whether ``signature`` is valid over the prepared message."""
        k = self._k
        if len(signature) != k:
            return False
        s = int.from_bytes(signature, "big")
        if s >= self._n:
            return False
        em_len = (self._em_bits + 7) // 8
        full = pow(s, self._e, self._n).to_bytes(k, "big")
        if any(full[: k - em_len]):
            return False  # I2OSP(m, emLen) fails: m does not fit in emLen bytes
        return _emsa_pss_verify(
            message.prepared, full[k - em_len :], self._em_bits, suite=self._suite
        )


def _blind_with(
    public_key: RsaKey,
    message: PreparedMessage,
    *,
    suite: BlindRsaSuite,
    salt: bytes,
    r: int,
) -> Blinding:
    """``Blind`` with the salt and blind given (the RFC's test vectors fix both)."""
    n, e = public_key.n, public_key.e
    encoded = _emsa_pss_encode(
        message.prepared, public_key.size_in_bits() - 1, suite=suite, salt=salt
    )
    try:
        inverse = pow(r, -1, n)
    except ValueError:
        raise CredentialError("Blind", "invalid blind") from None
    z = int.from_bytes(encoded, "big") * pow(r, e, n) % n
    return Blinding(z.to_bytes(public_key.size_in_bytes(), "big"), inverse)


def _emsa_pss_verify(
    message: bytes, encoded: bytes, em_bits: int, *, suite: BlindRsaSuite
) -> bool:
    """EMSA-PSS-VERIFY (RFC 8017 section 9.1.2) with the suite's hash and salt."""
    h_len, s_len, em_len = suite.digest_bytes, suite.salt_bytes, len(encoded)
    if em_len < h_len + s_len + 2 or encoded[-1] != 0xBC:
        return False
    masked_db, h = encoded[: em_len - h_len - 1], encoded[em_len - h_len - 1 : -1]
    top_bits = 0xFF << (8 - (8 * em_len - em_bits)) & 0xFF
    if masked_db[0] & top_bits:
        return False
    db = bytearray(_xor(masked_db, suite.mgf1(h, len(masked_db))))
    db[0] &= ~top_bits & 0xFF
    padding = em_len - h_len - s_len - 2
    if any(db[:padding]) or db[padding] != 0x01:
        return False
    salt = bytes(db[len(db) - s_len :]) if s_len else b""
    return suite.digest(b"\x00" * 8 + suite.digest(message) + salt) == h


def _emsa_pss_encode(
    message: bytes, em_bits: int, *, suite: BlindRsaSuite, salt: bytes
) -> bytes:
    """EMSA-PSS-ENCODE (RFC 8017 section 9.1.1) with the suite's hash and MGF1."""
    h_len, s_len = suite.digest_bytes, len(salt)
    em_len = (em_bits + 7) // 8
    if em_len < h_len + s_len + 2:
        raise CredentialError("Blind", "encoding error: the modulus is too small")
    h = suite.digest(b"\x00" * 8 + suite.digest(message) + salt)
    db = b"\x00" * (em_len - s_len - h_len - 2) + b"\x01" + salt
    masked_db = bytearray(_xor(db, suite.mgf1(h, em_len - h_len - 1)))
    masked_db[0] &= 0xFF >> (8 * em_len - em_bits)
    return bytes(masked_db) + h + b"\xbc"


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")
