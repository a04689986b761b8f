"""The Consultation contract through its client: creation rules, a ballot's life."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest
from Crypto.PublicKey import RSA
from eth_utils.crypto import keccak

from fedgov.errors import ConfigurationError
from ledger.errors import ContractRevertError
from ledger.records import Role
from ledger.voting import resident
from ledger.voting._clock import latest_timestamp
from ledger.voting.ballot import sign_request
from ledger.voting.consultation import ConsultationContract, Phase
from ledger.voting.errors import CredentialError, RollError, VotingError
from tests.ledger.voting._helpers import (
    OPTIONS,
    certify,
    open_consultation,
    to_commit,
    to_end,
    to_reveal,
)

if TYPE_CHECKING:
    from Crypto.PublicKey.RSA import RsaKey

    from tests.ledger.voting._helpers import Voting


def test_a_ballot_goes_through_every_phase(voting: Voting) -> None:
    # Prepare
    v = voting
    info = open_consultation(v)
    wallet = certify(v, info, "alice")
    to_commit(v, info)

    # Execute
    wallet, receipt = resident.cast_ballot(
        v.contract, wallet, info, 1, relayer=v.relayer
    )
    committed = v.contract.ballot(info.consultation_id, wallet.voting_address)
    to_reveal(v, info)
    wallet, _mined = resident.reveal_ballot(v.contract, wallet, relayer=v.relayer)
    to_end(v, info)
    v.contract.finalize(info.consultation_id, sender=v.relayer)

    # Assert
    assert committed.commitment == receipt.commitment
    assert not committed.revealed
    revealed = v.contract.ballot(info.consultation_id, wallet.voting_address)
    assert (revealed.revealed, revealed.choice) == (True, 1)
    state = v.contract.state(info.consultation_id)
    assert (state.issued, state.committed, state.revealed) == (1, 1, 1)
    assert state.tally == (0, 1, 0)
    assert state.finalized
    assert v.contract.phase(info) is Phase.FINALIZED


def test_creation_is_recorded_as_given(voting: Voting) -> None:
    # Execute
    info = open_consultation(voting)

    # Assert
    loaded = ConsultationContract.at(voting.chain, voting.contract.address).info(
        info.consultation_id
    )
    assert loaded == info
    assert loaded.options == OPTIONS
    assert loaded.question == "Plant trees on Main Street?"
    assert loaded.question_hash == keccak(text="Plant trees on Main Street?")
    assert loaded.eligibility_root == voting.roll.root
    assert loaded.roll_size == voting.roll.size
    assert loaded.public_key.n == voting.registrar.public_key.n
    assert voting.contract.phase(info) is Phase.ISSUANCE
    assert voting.contract.consultation_count == 1


def test_phases_follow_block_time(voting: Voting) -> None:
    info = open_consultation(voting)

    assert info.phase_at(info.commit_start - 1, finalized=False) is Phase.ISSUANCE
    assert info.phase_at(info.commit_start, finalized=False) is Phase.COMMIT
    assert info.phase_at(info.commit_end, finalized=False) is Phase.REVEAL
    assert info.phase_at(info.reveal_end, finalized=False) is Phase.CLOSED
    assert info.phase_at(0, finalized=True) is Phase.FINALIZED


def _create(voting: Voting, **changes: object) -> None:
    now = latest_timestamp(voting.chain)
    arguments: dict[str, object] = {
        "question": "q",
        "options": ("a", "b"),
        "eligibility_root": voting.roll.root,
        "roll_size": voting.roll.size,
        "public_key": voting.registrar.public_key,
        "commit_start": now + 100,
        "commit_end": now + 200,
        "reveal_end": now + 300,
        "sender": voting.registrar_account,
    }
    arguments.update(changes)
    voting.contract.create(**arguments)  # type: ignore[arg-type]


def test_creation_rules_are_enforced(voting: Voting) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({"options": ("only",)}, "needs at least 2 options"),
        ({"options": ("a", "")}, "an option is empty"),
        ({"eligibility_root": bytes(32)}, "eligibility root is empty"),
        ({"roll_size": 0}, "the roll is empty"),
        ({"commit_start": 1}, "commit window must open in the future"),
        ({"commit_end": 0}, "commit window is empty"),
        ({"reveal_end": 0}, "reveal window is empty"),
        ({"sender": voting.other}, "caller is not a registrar"),
    ]
    for changes, reason in cases:
        with pytest.raises(ContractRevertError, match=reason):
            _create(voting, **changes)
    assert voting.contract.consultation_count == 0


def test_the_client_refuses_keys_and_texts_the_contract_cannot_hold(
    voting: Voting, credential_key: RsaKey
) -> None:
    with pytest.raises(ConfigurationError, match="options"):
        _create(voting, options=tuple(str(i) for i in range(17)))
    with pytest.raises(ConfigurationError, match="options\\[1\\]"):
        _create(voting, options=("a", "b" * 65))
    with pytest.raises(ConfigurationError, match="question_uri"):
        _create(voting, question="x" * 300)
    with pytest.raises(ConfigurationError, match="RSA-2048"):
        _create(
            voting,
            public_key=RSA.construct(
                (credential_key.n >> 8 | 1, 65537), consistency_check=False
            ),
        )


def test_unknown_consultations_are_refused(voting: Voting) -> None:
    with pytest.raises(ContractRevertError, match="unknown consultation"):
        voting.contract.state(42)
    with pytest.raises(ContractRevertError, match="unknown consultation"):
        voting.contract.finalize(42, sender=voting.relayer)


def test_only_the_consultations_registrar_issues(voting: Voting) -> None:
    # Prepare: a second registrar, and a consultation of the first
    v = voting
    v.roles.grant(v.other.address, Role.REGISTRAR, sender=v.admin)
    info = open_consultation(voting)
    _wallet, request = resident.request_credential(info, v.roll_keys["alice"])

    # Execute, Assert
    with pytest.raises(ContractRevertError, match="not this consultation's registrar"):
        voting.contract.record_issuance(
            info.consultation_id,
            voting.roll.proof("alice"),
            blinded_message=request.blinded_message,
            request_signature=request.signature,
            sender=v.other,
        )


def test_a_revoked_registrar_can_no_longer_issue(voting: Voting) -> None:
    # Prepare
    v = voting
    info = open_consultation(v)
    v.roles.revoke(v.registrar_account.address, Role.REGISTRAR, sender=v.admin)
    _wallet, request = resident.request_credential(info, v.roll_keys["alice"])

    # Execute, Assert
    with pytest.raises(ContractRevertError, match="caller is not a registrar"):
        voting.registrar.issue(info, "alice", request)


def test_the_registrar_checks_key_roll_and_request_before_recording(
    voting: Voting,
) -> None:
    # Prepare
    info = open_consultation(voting)
    alice = voting.roll_keys["alice"]
    _wallet, request = resident.request_credential(info, alice)
    other_root = dataclasses.replace(info, eligibility_root=bytes(32))
    short = request.blinded_message[1:]
    truncated = dataclasses.replace(
        request,
        blinded_message=short,
        signature=sign_request(info.scope, alice.account, short),
    )
    other_consultation = dataclasses.replace(
        request, scope=voting.contract.scope(info.consultation_id + 1)
    )

    # Execute, Assert
    with pytest.raises(ConfigurationError, match="roll"):
        voting.registrar.issue(other_root, "alice", request)
    with pytest.raises(RollError, match="not on the roll"):
        voting.registrar.issue(info, "mallory", request)
    with pytest.raises(VotingError, match="not by bob's roll key"):
        voting.registrar.issue(info, "bob", request)
    with pytest.raises(ConfigurationError, match="request"):
        voting.registrar.issue(info, "alice", other_consultation)
    with pytest.raises(CredentialError, match="unexpected input size"):
        voting.registrar.issue(info, "alice", truncated)
    assert voting.contract.state(info.consultation_id).issued == 0


def test_a_wallet_walks_its_steps_in_order(voting: Voting) -> None:
    # Prepare
    info = open_consultation(voting)
    fresh, _request = resident.request_credential(info, voting.roll_keys["alice"])
    wallet = certify(voting, info, "bob")
    to_commit(voting, info)

    # Execute, Assert
    with pytest.raises(VotingError, match="no credential"):
        resident.cast_ballot(voting.contract, fresh, info, 0, relayer=voting.relayer)
    with pytest.raises(ConfigurationError, match="choice"):
        resident.cast_ballot(voting.contract, wallet, info, 3, relayer=voting.relayer)
    with pytest.raises(VotingError, match="cast no ballot"):
        resident.reveal_ballot(voting.contract, wallet, relayer=voting.relayer)
    wallet, _ = resident.cast_ballot(
        voting.contract, wallet, info, 0, relayer=voting.relayer
    )
    with pytest.raises(VotingError, match="cast its ballot already"):
        resident.cast_ballot(voting.contract, wallet, info, 0, relayer=voting.relayer)
    with pytest.raises(VotingError, match="accepted its credential already"):
        resident.accept_credential(wallet, info, b"")
