"""Ballot stuffing against ring credentials (issue 12): each attack, on chain.

With blind RSA credentials a registrar could sign credentials off the record
and, cast no more of them than residents abstain, pass the re-tally (the
"abstainers' shadow"). With ring credentials the registrar holds no key that
makes a ballot; whatever it sends the contract (which cannot verify ring
signatures) is named and left uncounted by the public re-tally, and no ballot
takes an honest resident's place.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest
from eth_account import Account

from ledger.errors import ContractRevertError
from ledger.voting import resident
from ledger.voting.ballot import (
    commitment,
    fresh_salt,
    ring_domain,
    sign_authorization,
    sign_key_request,
)
from ledger.voting.errors import TallyMismatchError, VotingError
from ledger.voting.receipt import check_receipt
from ledger.voting.resident import RollKey
from ledger.voting.ring import BallotKeyPair, RingSignature, is_point, key_image
from ledger.voting.ring_ballot import registered_keys, sign_ballot
from ledger.voting.tally import retally, verify_tally
from tests.ledger.voting._helpers import (
    enrol,
    open_ring_consultation,
    ring_registrar,
    to_commit,
    to_end,
    to_reveal,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ledger.voting.consultation import ConsultationInfo
    from tests.ledger.voting._helpers import Voting

_UNASKED = "Consultation: request is not signed by the resident's roll key"


def test_no_ballot_key_is_recorded_for_a_resident_who_never_asked(
    voting: Voting,
) -> None:
    v = voting
    info = open_ring_consultation(v)
    other = open_ring_consultation(v)
    key = BallotKeyPair.generate().public  # the registrar's own
    proof = v.roll.proof("erin")  # erin never asks
    attempts = {
        "signed by the registrar": sign_key_request(
            info.scope, v.registrar_account, key
        ),
        "signed by another resident": sign_key_request(
            info.scope, v.roll_keys["alice"].account, key
        ),
        "erin's signature for another consultation": sign_key_request(
            other.scope, v.roll_keys["erin"].account, key
        ),
    }
    for what, signature in attempts.items():
        with pytest.raises(ContractRevertError) as caught:
            v.contract.register_ballot_key(
                info.consultation_id,
                proof,
                ballot_key=key,
                request_signature=signature,
                sender=v.registrar_account,
            )
        assert caught.value.reason == _UNASKED, what
    # The registrar's own checks refuse it before any transaction, too.
    _wallet, alices = resident.request_ballot_key(info, v.roll_keys["alice"])
    with pytest.raises(VotingError, match="not by erin's roll key"):
        ring_registrar(v).record(info, "erin", alices)
    # A request made by someone off the roll names no roll entry at all.
    _wallet, outsiders = resident.request_ballot_key(info, RollKey.generate())
    with pytest.raises(VotingError, match="roll key"):
        ring_registrar(v).record(info, "alice", outsiders)
    assert not v.contract.credential_issued(
        info.consultation_id, v.roll.entry("erin").commitment
    )
    assert v.contract.state(info.consultation_id).issued == 0


def test_the_registrars_ballots_are_caught_by_the_retally_and_residents_still_vote(
    voting: Voting,
) -> None:
    # The attack as found, against ring credentials: three residents ask, one
    # votes; the registrar casts ballots in the abstainers' place (with blind
    # credentials the counts balanced and the re-tally passed).
    v = voting
    info = open_ring_consultation(v, ring_size=3)
    wallets = {name: enrol(v, info, name) for name in ("alice", "bob", "carol")}
    to_commit(v, info)
    keys = registered_keys(v.contract.events(info.consultation_id).issued)
    alice_image = _image(info, wallets["alice"])

    forged = BallotKeyPair.generate()  # a key the registrar holds, never recorded
    stuffed = [
        # signed with its own key, passed off as the ring of three recorded keys
        _send(
            v,
            info,
            [0, 1, 2],
            lambda k: sign_ballot(
                info.scope, [*keys[:2], forged.public], [0, 1, 2], forged, k
            ),
        ),
        # alice's key image in first, with a signature that does not close
        _send(
            v,
            info,
            [0, 1, 2],
            lambda _k: RingSignature(alice_image, 1, tuple(range(1, 4))),
        ),
    ]
    # alice still votes, after the copy of her image; bob and carol abstain
    wallet, receipt = resident.cast_ballot(
        v.contract, wallets["alice"], info, 0, relayer=v.relayer
    )
    to_reveal(v, info)
    resident.reveal_ballot(v.contract, wallet, relayer=v.relayer)
    for voting_key, salt in stuffed:
        v.contract.reveal(
            info.consultation_id,
            voting_key=voting_key,
            choice=1,
            salt=salt,
            sender=v.other,
        )
    to_end(v, info)
    v.contract.finalize(info.consultation_id, sender=v.other)

    result = retally(v.contract, info.consultation_id)
    assert result.tally == (1, 0, 0)  # alice's ballot, nothing else
    assert result.contract_tally == (1, 2, 0)  # the contract counted what it was sent
    for voting_key, _salt in stuffed:
        assert any(
            voting_key in p and "ring signature does not verify" in p
            for p in result.problems
        ), result.problems
    with pytest.raises(TallyMismatchError):
        verify_tally(v.contract, info.consultation_id)
    assert check_receipt(v.contract, receipt).ok


def test_a_second_ballot_by_one_ballot_key_is_refused_and_never_counted(
    voting: Voting,
) -> None:
    v = voting
    info = open_ring_consultation(v, ring_size=2)
    wallets = {name: enrol(v, info, name) for name in ("alice", "bob")}
    to_commit(v, info)
    first, _receipt = resident.cast_ballot(
        v.contract, wallets["alice"], info, 0, relayer=v.relayer
    )
    # A copy of the wallet with a fresh voting key: the client (as a relayer
    # would) finds the key image on chain and refuses.
    again = dataclasses.replace(
        wallets["alice"], voting_key=bytes(Account.create().key)
    )
    with pytest.raises(VotingError, match="already cast a ballot"):
        resident.cast_ballot(v.contract, again, info, 1, relayer=v.relayer)
    # Sent around the client, the contract takes it; the re-tally counts one.
    keys = registered_keys(v.contract.events(info.consultation_id).issued)
    pair = BallotKeyPair(wallets["alice"].ballot_secret or b"")
    second = _send(
        v, info, [0, 1], lambda k: sign_ballot(info.scope, keys, [0, 1], pair, k)
    )
    to_reveal(v, info)
    resident.reveal_ballot(v.contract, first, relayer=v.relayer)
    v.contract.reveal(
        info.consultation_id,
        voting_key=second[0],
        choice=1,
        salt=second[1],
        sender=v.other,
    )
    result = retally(v.contract, info.consultation_id)
    assert result.tally == (1, 0, 0)
    assert any("a second ballot by one ballot key" in p for p in result.problems)


@pytest.mark.parametrize(
    ("ring", "reason"),
    [
        ([0, 1], "the ring must hold min(ring size, registered keys) keys"),
        ([1, 0, 2], "ring members must ascend"),
        ([0, 1, 3], "ring member was never registered"),
    ],
)
def test_the_contract_refuses_a_malformed_ring(
    voting: Voting, ring: list[int], reason: str
) -> None:
    v = voting
    info = open_ring_consultation(v, ring_size=3)
    for name in ("alice", "bob", "carol"):
        enrol(v, info, name)
    to_commit(v, info)
    with pytest.raises(ContractRevertError) as caught:
        _send(
            v,
            info,
            ring,
            lambda _k: RingSignature(
                BallotKeyPair.generate().public, 1, (1,) * len(ring)
            ),
        )
    assert caught.value.reason == f"Consultation: {reason}"


def _image(info: ConsultationInfo, wallet: resident.Wallet) -> bytes:
    return key_image(
        ring_domain(info.scope), BallotKeyPair(wallet.ballot_secret or b"")
    )


def _send(
    v: Voting,
    info: ConsultationInfo,
    ring: Sequence[int],
    signer: Callable[[str], RingSignature],
) -> tuple[str, bytes]:
    """The registrar commits a ballot: fresh voting key, ``signer(voting_key)``'s signature."""
    voting = Account.create()
    salt = fresh_salt()
    ballot = commitment(info.scope, voting.address, 1, salt)
    signature = signer(voting.address)
    v.contract.commit_ring(
        info.consultation_id,
        voting_key=voting.address,
        commitment=ballot,
        ring=ring,
        signature=signature,
        authorization=sign_authorization(info.scope, voting, ballot),
        sender=v.registrar_account,
    )
    return voting.address, salt


def test_a_key_off_the_curve_is_refused_so_it_can_spoil_no_ring(voting: Voting) -> None:
    # A "ballot key" that is no point would make every ring holding it fail.
    v = voting
    info = open_ring_consultation(v, ring_size=3)
    junk = b"\x02" + next(
        bytes([i]) * 32 for i in range(256) if not is_point(b"\x02" + bytes([i]) * 32)
    )
    for key in (junk, b"\x04" + junk[1:], b"\x02" + b"\xff" * 32):  # x >= p last
        with pytest.raises(ContractRevertError) as caught:
            v.contract.register_ballot_key(
                info.consultation_id,
                v.roll.proof("bob"),
                ballot_key=key,
                request_signature=sign_key_request(
                    info.scope, v.roll_keys["bob"].account, key
                ),
                sender=v.registrar_account,
            )
        assert caught.value.reason == (
            "Consultation: ballot key is not a compressed point of secp256k1"
        )
    enrol(v, info, "bob")  # a real key goes through


def test_the_contract_refuses_a_key_image_that_is_no_point(voting: Voting) -> None:
    v = voting
    info = open_ring_consultation(v, ring_size=2)
    for name in ("alice", "bob"):
        enrol(v, info, name)
    to_commit(v, info)
    junk = b"\x03" + b"\xff" * 32  # x >= p
    with pytest.raises(ContractRevertError) as caught:
        _send(v, info, [0, 1], lambda _k: RingSignature(junk, 1, (1, 1)))
    assert caught.value.reason == (
        "Consultation: key image is not a compressed point of secp256k1"
    )
