"""Ring-credential ballots as the chain holds them: the key set, rings, signatures.

With ring credentials (:mod:`ledger.voting.ring`), a consultation's anonymity
set is its recorded ballot keys, numbered in issuance order (the
``BallotKeyRegistered`` events; issuance closes before the commit window
opens, so the set is fixed before any ballot). A ballot names its ring by
those numbers and carries an LSAG signature over its voting key's credential
message (:func:`ledger.voting.ballot.credential_message`) in the
consultation's domain (:func:`ledger.voting.ballot.ring_domain`).

The resident (:func:`choose_ring`), a relayer (:func:`ballot_problem`) and
the re-tally (:func:`verify_ballot`) share these definitions.
"""

from __future__ import annotations

import itertools
import secrets
from typing import TYPE_CHECKING

from ledger.voting import ring
from ledger.voting.ballot import credential_message, ring_domain
from ledger.voting.errors import VotingError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger.voting.ballot import BallotScope
    from ledger.voting.consultation import ChainEvent

__all__ = [
    "ballot_problem",
    "choose_ring",
    "registered_keys",
    "ring_signature",
    "sign_ballot",
    "verify_ballot",
]


def registered_keys(issued: Sequence[ChainEvent]) -> tuple[bytes, ...]:
    """The recorded ballot keys, indexed by issuance number (0-based)."""
    keys = tuple(bytes(e.args["ballotKey"]) for e in issued)
    for number, event in enumerate(issued):
        if int(event.args["issued"]) != number + 1:
            raise VotingError(
                f"ballot key events out of order: event {number} says issuance "
                f"{event.args['issued']}"
            )
    return keys


def choose_ring(keys: Sequence[bytes], own: bytes, size: int) -> tuple[int, ...]:
    """``size`` issuance numbers, ``own``'s among them, the others uniformly at random.

    The ring is sorted, so a member's place in it says nothing about who signed.
    """
    try:
        mine = list(keys).index(own)
    except ValueError:
        raise VotingError(
            "your ballot key is not among the recorded ones: was your request "
            "recorded before the commit window opened?"
        ) from None
    if not 1 <= size <= len(keys):
        raise VotingError(f"a ring of {size} from {len(keys)} recorded keys")
    others = [i for i in range(len(keys)) if i != mine]
    decoys = []
    for _ in range(size - 1):
        decoys.append(others.pop(secrets.randbelow(len(others))))
    return tuple(sorted([mine, *decoys]))


def sign_ballot(
    scope: BallotScope,
    keys: Sequence[bytes],
    members: Sequence[int],
    pair: ring.BallotKeyPair,
    voting_key: str,
) -> ring.RingSignature:
    """The ring signature authorizing ``voting_key``'s ballot."""
    return ring.sign(
        ring_domain(scope),
        credential_message(scope, voting_key),
        [keys[i] for i in members],
        pair,
    )


def ring_signature(event: ChainEvent) -> ring.RingSignature:
    """The signature a ``RingBallotCommitted`` event carries."""
    args = event.args
    return ring.RingSignature(
        key_image=bytes(args["keyImage"]),
        challenge=int.from_bytes(bytes(args["challenge"]), "big"),
        responses=tuple(int.from_bytes(bytes(s), "big") for s in args["responses"]),
    )


def verify_ballot(
    scope: BallotScope, keys: Sequence[bytes], event: ChainEvent
) -> str | None:
    """Why a ``RingBallotCommitted`` event's ballot is not eligible, or ``None``."""
    members = [int(m) for m in event.args["ring"]]
    problem = _members_problem(members, len(keys))
    if problem is not None:
        return problem
    try:
        signature = ring_signature(event)
    except VotingError as e:
        return str(e)
    return ballot_problem(scope, keys, event.args["votingKey"], members, signature)


def ballot_problem(
    scope: BallotScope,
    keys: Sequence[bytes],
    voting_key: str,
    members: Sequence[int],
    signature: ring.RingSignature,
) -> str | None:
    """Why a ring ballot for ``voting_key`` is not eligible, or ``None``.

    What :func:`verify_ballot` checks, for a ballot not yet on chain (a
    relayer's check before it pays).
    """
    problem = _members_problem(members, len(keys))
    if problem is not None:
        return problem
    if not ring.verify(
        ring_domain(scope),
        credential_message(scope, voting_key),
        [keys[i] for i in members],
        signature,
    ):
        return "its ring signature does not verify"
    return None


def _members_problem(members: Sequence[int], recorded: int) -> str | None:
    if any(b <= a for a, b in itertools.pairwise(members)):
        return "its ring members do not ascend"
    if not members or members[-1] >= recorded:
        return "its ring names a key that was never recorded"
    return None
