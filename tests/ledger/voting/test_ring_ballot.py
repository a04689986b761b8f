"""Ring ballots as the chain holds them: ring choice, and the re-tally's check of one."""

from __future__ import annotations

from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.voting.ballot import BallotScope
from ledger.voting.consultation import ChainEvent
from ledger.voting.ring import BallotKeyPair
from ledger.voting.ring_ballot import choose_ring, sign_ballot, verify_ballot

SCOPE = BallotScope(31337, "0x" + "ab" * 20, 1)
PAIRS = [BallotKeyPair.generate() for _ in range(6)]
KEYS = tuple(p.public for p in PAIRS)


@given(own=st.integers(0, 5), size=st.integers(1, 6))
def test_a_ring_holds_its_signer_and_distinct_recorded_keys_in_order(
    own: int, size: int
) -> None:
    ring = choose_ring(KEYS, KEYS[own], size)

    assert len(ring) == size
    assert own in ring
    assert list(ring) == sorted(set(ring))
    assert all(0 <= i < len(KEYS) for i in ring)


@settings(max_examples=10)
@given(own=st.integers(0, 5), size=st.integers(1, 6))
def test_the_retally_accepts_exactly_the_ballot_that_was_signed(
    own: int, size: int
) -> None:
    voting_key = Account.create().address
    ring = choose_ring(KEYS, KEYS[own], size)
    signature = sign_ballot(SCOPE, KEYS, ring, PAIRS[own], voting_key)
    event = _event(
        voting_key, ring, signature.key_image, signature.challenge, signature.responses
    )

    assert verify_ballot(SCOPE, KEYS, event) is None
    # The same signature for another voting key, another consultation, or
    # against another ring, is refused.
    other = _event(
        Account.create().address,
        ring,
        signature.key_image,
        signature.challenge,
        signature.responses,
    )
    assert verify_ballot(SCOPE, KEYS, other) == "its ring signature does not verify"
    elsewhere = BallotScope(SCOPE.chain_id, SCOPE.contract, 2)
    assert verify_ballot(elsewhere, KEYS, event) == "its ring signature does not verify"
    if size > 1:
        backwards = _event(
            voting_key,
            tuple(reversed(ring)),
            signature.key_image,
            signature.challenge,
            signature.responses,
        )
        assert verify_ballot(SCOPE, KEYS, backwards) == "its ring members do not ascend"
    beyond = _event(
        voting_key,
        (*ring[:-1], len(KEYS)),
        signature.key_image,
        signature.challenge,
        signature.responses,
    )
    assert verify_ballot(SCOPE, KEYS, beyond) == (
        "its ring names a key that was never recorded"
    )


def _event(
    voting_key: str,
    ring: tuple[int, ...],
    image: bytes,
    challenge: int,
    responses: tuple[int, ...],
) -> ChainEvent:
    return ChainEvent(
        name="RingBallotCommitted",
        args={
            "votingKey": voting_key,
            "keyImage": image,
            "ring": list(ring),
            "challenge": challenge.to_bytes(32, "big"),
            "responses": [s.to_bytes(32, "big") for s in responses],
        },
        block_number=1,
        transaction_hash=bytes(32),
        log_index=0,
    )
