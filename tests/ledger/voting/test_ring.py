"""LSAG ring signatures: what a ballot's eligibility rests on (no chain here)."""

from __future__ import annotations

import dataclasses

import pytest
from coincurve import PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.voting import ring
from ledger.voting.errors import VotingError
from ledger.voting.ring import GROUP_ORDER, BallotKeyPair, RingSignature

DOMAIN = b"fedgov-test-domain"
MESSAGE = b"a voting key's credential message"
PAIRS = [BallotKeyPair.generate() for _ in range(8)]
KEYS = [p.public for p in PAIRS]


@settings(max_examples=20)
@given(size=st.integers(1, 8), data=st.data())
def test_any_member_signs_for_the_ring_and_its_image_is_its_own(
    size: int, data: st.DataObject
) -> None:
    signer = data.draw(st.integers(0, size - 1))
    signature = ring.sign(DOMAIN, MESSAGE, KEYS[:size], PAIRS[signer])
    assert ring.verify(DOMAIN, MESSAGE, KEYS[:size], signature)
    # The image depends on the key and the domain, not on the ring or message:
    # that is what makes a second ballot by one key visible.
    assert signature.key_image == ring.key_image(DOMAIN, PAIRS[signer])
    again = ring.sign(
        DOMAIN, b"another ballot", KEYS[signer : signer + 1], PAIRS[signer]
    )
    assert again.key_image == signature.key_image
    assert ring.key_image(b"another consultation", PAIRS[signer]) != signature.key_image


@settings(max_examples=20)
@given(size=st.integers(2, 6), data=st.data())
def test_any_change_breaks_the_signature(size: int, data: st.DataObject) -> None:
    signature = ring.sign(DOMAIN, MESSAGE, KEYS[:size], PAIRS[0])
    index = data.draw(st.integers(0, size - 1))
    responses = list(signature.responses)
    responses[index] = (responses[index] + 1) % GROUP_ORDER or 1
    tampered = [
        dataclasses.replace(signature, responses=tuple(responses)),
        dataclasses.replace(
            signature, challenge=signature.challenge % (GROUP_ORDER - 1) + 1
        ),
        # Another member's image: the signature no longer closes.
        dataclasses.replace(signature, key_image=ring.key_image(DOMAIN, PAIRS[1])),
    ]
    for bad in tampered:
        assert not ring.verify(DOMAIN, MESSAGE, KEYS[:size], bad)
    assert not ring.verify(DOMAIN, b"another message", KEYS[:size], signature)
    assert not ring.verify(b"another domain", MESSAGE, KEYS[:size], signature)
    swapped = [KEYS[size], *KEYS[1:size]]  # the signer's key swapped for an outsider's
    assert not ring.verify(DOMAIN, MESSAGE, swapped, signature)


def test_an_outsider_cannot_sign_for_a_ring() -> None:
    outsider = BallotKeyPair.generate()
    with pytest.raises(VotingError, match="not in the ring"):
        ring.sign(DOMAIN, MESSAGE, KEYS[:3], outsider)
    # Signing for a ring holding its key, then claiming another ring, fails.
    signature = ring.sign(DOMAIN, MESSAGE, [*KEYS[:2], outsider.public], outsider)
    assert not ring.verify(DOMAIN, MESSAGE, KEYS[:3], signature)


def test_malformed_signatures_are_refused_not_raised() -> None:
    signature = ring.sign(DOMAIN, MESSAGE, KEYS[:3], PAIRS[2])
    assert not ring.verify(DOMAIN, MESSAGE, KEYS[:2], signature)
    assert not ring.verify(DOMAIN, MESSAGE, [], signature)
    zero = dataclasses.replace(signature, responses=(0, *signature.responses[1:]))
    assert not ring.verify(DOMAIN, MESSAGE, KEYS[:3], zero)
    off_curve = next(
        b"\x02" + bytes([i]) * 32 for i in range(256) if not _on_curve(bytes([i]) * 32)
    )
    assert not ring.verify(DOMAIN, MESSAGE, [off_curve, *KEYS[1:3]], signature)
    assert not ring.verify(
        DOMAIN, MESSAGE, KEYS[:3], dataclasses.replace(signature, key_image=off_curve)
    )
    with pytest.raises(VotingError, match="key image"):
        RingSignature(b"\x04" + bytes(32), 1, (1,))


def test_hash_to_point_is_deterministic_and_domain_separated() -> None:
    point = ring.hash_to_point(DOMAIN, KEYS[0])
    assert point == ring.hash_to_point(DOMAIN, KEYS[0])
    assert point != ring.hash_to_point(DOMAIN + b"!", KEYS[0])
    assert PublicKey(point).format(compressed=True) == point


def _on_curve(x: bytes) -> bool:
    try:
        PublicKey(b"\x02" + x)
    except ValueError:
        return False
    return True
