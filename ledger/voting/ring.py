"""Linkable ring signatures (LSAG) over secp256k1: anonymous, one-per-key ballots.

A ring signature proves that *one* of the ring's public keys signed a message,
without saying which. The linkable variant (Liu, Wei and Wong, "Linkable
Spontaneous Anonymous Group Signature for Ad Hoc Groups", ACISP 2004; the
single-key form of Monero's MLSAG) adds a **key image**
``I = x * Hp(domain, P)`` of the signer's key ``P = x * G``: the same key gives
the same image in every signature under the same domain, so a second ballot by
one key is seen (the image is the ballot's nullifier), while the image says
nothing about which ring member it belongs to (deciding that is the
decisional Diffie-Hellman problem).

Signing a message ``m`` with ring ``P_0 .. P_{n-1}``, secret ``x`` of ``P_j``::

    H_i = Hp(domain, P_i)      I = x * H_j
    a random;  c_{j+1} = Hs(prefix, a*G, a*H_j)
    for i = j+1 .. j-1 (mod n):  s_i random
        c_{i+1} = Hs(prefix, s_i*G + c_i*P_i, s_i*H_i + c_i*I)
    s_j = a - c_j * x  (mod q)

    signature: I, c_0, s_0 .. s_{n-1}

and verifying recomputes the ``c_i`` around the ring from ``c_0`` and accepts
when they come back to ``c_0``. ``prefix`` binds the domain, the message, every
ring key in order and the key image.

The group operations are libsecp256k1's (through coincurve): multiplication,
addition (``combine_keys``), and point decoding, which refuses anything off the
curve. secp256k1 has prime order, so every decoded point is in the group and a
key image needs no cofactor check (the flaw Monero had on ed25519). Scalars are
Python integers modulo the group order. ``Hp`` is try-and-increment: hash to an
x-coordinate until it decodes as a point with even y; it runs on public inputs
only, so its variable time leaks nothing, and nobody knows the discrete
logarithm of its output.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coincurve import PrivateKey, PublicKey

from ledger.voting.errors import VotingError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "GROUP_ORDER",
    "POINT_BYTES",
    "SCALAR_BYTES",
    "BallotKeyPair",
    "RingSignature",
    "hash_to_point",
    "is_point",
    "key_image",
    "sign",
    "verify",
]

GROUP_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
POINT_BYTES = 33
"""A compressed point: 0x02 or 0x03, then the x-coordinate."""
SCALAR_BYTES = 32
_HASH_TO_POINT_TAG = b"fedgov-lsag-v1/hash-to-point"
_CHALLENGE_TAG = b"fedgov-lsag-v1/challenge"
# Try-and-increment succeeds with probability ~1/2 a try: 2**-256 to fail 256 times.
_HASH_TO_POINT_TRIES = 256


@dataclass(frozen=True)
class BallotKeyPair:
    """A resident's ballot key for one consultation: ``public = secret * G``."""

    secret: bytes

    @property
    def public(self) -> bytes:
        """The compressed public key (33 bytes), what goes on chain."""
        return PrivateKey(self.secret).public_key.format(compressed=True)

    @classmethod
    def generate(cls) -> BallotKeyPair:
        return cls(_scalar_bytes(_random_scalar()))


@dataclass(frozen=True)
class RingSignature:
    """One LSAG signature: the key image, the first challenge, one response per member."""

    key_image: bytes
    challenge: int
    responses: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.key_image) != POINT_BYTES or self.key_image[0] not in (2, 3):
            raise VotingError(
                f"key image must be a {POINT_BYTES}-byte compressed point, got "
                f"{len(self.key_image)} bytes"
            )


def is_point(key: bytes) -> bool:
    """Whether ``key`` is a compressed point of secp256k1 (a usable ballot key)."""
    if len(key) != POINT_BYTES:
        return False
    try:
        PublicKey(key)
    except ValueError:
        return False
    return True


def hash_to_point(domain: bytes, public: bytes) -> bytes:
    """``Hp(domain, public)``: a point whose discrete logarithm nobody knows."""
    for counter in range(_HASH_TO_POINT_TRIES):
        x = hashlib.sha256(
            _framed(_HASH_TO_POINT_TAG, domain, public) + counter.to_bytes(4, "big")
        ).digest()
        try:
            return PublicKey(b"\x02" + x).format(compressed=True)
        except ValueError:
            continue  # x is not on the curve (or not below the field prime)
    raise VotingError("hash to point: no point found (probability 2**-256)")


def key_image(domain: bytes, pair: BallotKeyPair) -> bytes:
    """The key image of ``pair`` under ``domain`` (the ballot's nullifier)."""
    base = PublicKey(hash_to_point(domain, pair.public))
    return base.multiply(pair.secret).format(compressed=True)


def sign(
    domain: bytes,
    message: bytes,
    ring: Sequence[bytes],
    pair: BallotKeyPair,
) -> RingSignature:
    """Sign ``message`` as one of ``ring`` (compressed keys, ``pair``'s among them)."""
    try:
        position = list(ring).index(pair.public)
    except ValueError:
        raise VotingError("the signer's ballot key is not in the ring") from None
    size = len(ring)
    points = [_point(key, f"ring[{i}]") for i, key in enumerate(ring)]
    bases = [PublicKey(hash_to_point(domain, key)) for key in ring]
    image = bases[position].multiply(pair.secret)
    image_bytes = image.format(compressed=True)
    prefix = _prefix(domain, message, ring, image_bytes)

    nonce = _random_scalar()
    nonce_bytes = _scalar_bytes(nonce)
    challenges = [0] * size
    responses = [0] * size
    challenges[(position + 1) % size] = _challenge(
        prefix,
        PrivateKey(nonce_bytes).public_key,
        bases[position].multiply(nonce_bytes),
    )
    for step in range(1, size):
        i = (position + step) % size
        responses[i] = _random_scalar()
        challenges[(i + 1) % size] = _challenge(
            prefix,
            *_commitments(points[i], bases[i], image, challenges[i], responses[i]),
        )
    secret = int.from_bytes(pair.secret, "big")
    responses[position] = (nonce - challenges[position] * secret) % GROUP_ORDER
    if responses[position] == 0:  # probability 2**-256; a zero response cannot be used
        return sign(domain, message, ring, pair)
    return RingSignature(image_bytes, challenges[0], tuple(responses))


def verify(
    domain: bytes, message: bytes, ring: Sequence[bytes], signature: RingSignature
) -> bool:
    """Whether ``signature`` is one of ``ring``'s signatures over ``message``."""
    size = len(ring)
    if size == 0 or len(signature.responses) != size:
        return False
    if not all(
        0 < s < GROUP_ORDER for s in (signature.challenge, *signature.responses)
    ):
        return False
    try:
        image = PublicKey(signature.key_image)
        prefix = _prefix(domain, message, ring, signature.key_image)
        challenge = signature.challenge
        for key, response in zip(ring, signature.responses, strict=True):
            point, base = _member(domain, key)
            challenge = _challenge(
                prefix, *_commitments(point, base, image, challenge, response)
            )
    except ValueError:
        # A ring key or the image off the curve, or a sum at infinity.
        return False
    return challenge == signature.challenge


@functools.lru_cache(maxsize=1 << 16)
def _member(domain: bytes, key: bytes) -> tuple[PublicKey, PublicKey]:
    """A ring key decoded, and its ``Hp``: one re-tally meets each key many times."""
    return PublicKey(key), PublicKey(hash_to_point(domain, key))


def _commitments(
    point: PublicKey, base: PublicKey, image: PublicKey, challenge: int, response: int
) -> tuple[PublicKey, PublicKey]:
    """``s*G + c*P`` and ``s*H + c*I``."""
    c = _scalar_bytes(challenge)
    s = _scalar_bytes(response)
    return (
        point.multiply(c).add(s),
        PublicKey.combine_keys([base.multiply(s), image.multiply(c)]),
    )


def _challenge(prefix: bytes, left: PublicKey, right: PublicKey) -> int:
    # 512 bits reduced modulo the ~256-bit order: no bias worth the name.
    digest = hashlib.sha512(
        prefix + left.format(compressed=True) + right.format(compressed=True)
    ).digest()
    return int.from_bytes(digest, "big") % GROUP_ORDER


def _prefix(
    domain: bytes, message: bytes, ring: Sequence[bytes], image: bytes
) -> bytes:
    return hashlib.sha512(
        _framed(_CHALLENGE_TAG, domain, message, image, *ring)
    ).digest()


def _framed(*parts: bytes) -> bytes:
    """Each part with its length first: no two part lists frame alike."""
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def _point(key: bytes, where: str) -> PublicKey:
    if len(key) != POINT_BYTES:
        raise VotingError(
            f"{where}: a ballot key is {POINT_BYTES} bytes, got {len(key)}"
        )
    try:
        return PublicKey(key)
    except ValueError as e:
        raise VotingError(f"{where}: not a point of secp256k1") from e


def _random_scalar() -> int:
    return secrets.randbelow(GROUP_ORDER - 1) + 1


def _scalar_bytes(value: int) -> bytes:
    return value.to_bytes(SCALAR_BYTES, "big")
