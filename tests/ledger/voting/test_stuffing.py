"""Ballot stuffing by the registrar (issue 12): every variant of the attack.

The attack as found: the registrar recorded a credential for a resident who
never asked, signed two more off the record and cast three ballots; an honest
resident holding a recorded credential was then refused ("more ballots than
recorded credentials"), and the re-tally reported a match. Here the registrar
holds everything a registrar holds (its chain account, the roll, the
credential key) and tries each step; it must be refused where the contract can
tell, and caught by the public re-tally where it cannot.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from fedgov.cli import main
from ledger.errors import ContractRevertError
from ledger.voting import blind_rsa, resident
from ledger.voting.ballot import sign_request
from ledger.voting.cli import CONTRACT_ENV, RPC_URL_ENV
from ledger.voting.errors import TallyMismatchError, VotingError
from ledger.voting.resident import RollKey
from ledger.voting.tally import retally, verify_tally
from tests.chain_fixtures import BACKENDS
from tests.ledger.voting._helpers import (
    certify,
    open_consultation,
    to_commit,
    to_end,
    to_reveal,
)

if TYPE_CHECKING:
    from Crypto.PublicKey.RSA import RsaKey

    from ledger.voting.consultation import ConsultationInfo
    from ledger.voting.resident import Wallet
    from tests.ledger.voting._helpers import Voting

ANVIL = BACKENDS[1]
_UNASKED = "Consultation: request is not signed by the resident's roll key"


def test_a_registrar_cannot_record_a_credential_for_a_resident_who_never_asked(
    voting: Voting,
) -> None:
    # Prepare: erin never asks; alice does, for this consultation and another
    v = voting
    info = open_consultation(v)
    other = open_consultation(v)
    blinded = resident.request_credential(info, RollKey.generate())[1].blinded_message
    _wallet, alices = resident.request_credential(info, v.roll_keys["alice"])
    _wallet, alices_elsewhere = resident.request_credential(other, v.roll_keys["alice"])
    attempts = {
        "signed by the registrar itself": sign_request(
            info.scope, v.registrar_account, blinded
        ),
        "signed by a key that is on no roll": sign_request(
            info.scope, RollKey.generate().account, blinded
        ),
        "no signature at all": bytes(65),
    }

    # Execute, Assert: erin's entry, with a request erin never signed
    for what, signature in attempts.items():
        with pytest.raises(ContractRevertError) as refused:
            v.contract.record_issuance(
                info.consultation_id,
                v.roll.proof("erin"),
                blinded_message=blinded,
                request_signature=signature,
                sender=v.registrar_account,
            )
        assert refused.value.reason is not None, what
        assert refused.value.reason.startswith((_UNASKED, "Consultation: signature")), (
            what,
            refused.value.reason,
        )
    # alice's genuine request, recorded against erin's entry
    with pytest.raises(ContractRevertError, match=re.escape(_UNASKED)):
        v.contract.record_issuance(
            info.consultation_id,
            v.roll.proof("erin"),
            blinded_message=alices.blinded_message,
            request_signature=alices.signature,
            sender=v.registrar_account,
        )
    # alice's request for another consultation, replayed in this one
    with pytest.raises(ContractRevertError, match=re.escape(_UNASKED)):
        v.contract.record_issuance(
            info.consultation_id,
            v.roll.proof("alice"),
            blinded_message=alices_elsewhere.blinded_message,
            request_signature=alices_elsewhere.signature,
            sender=v.registrar_account,
        )
    # and through the registrar's own client, which checks before sending
    with pytest.raises(VotingError, match="not by erin's roll key"):
        v.registrar.issue(info, "erin", alices)
    assert v.contract.state(info.consultation_id).issued == 0
    assert not v.contract.credential_issued(
        info.consultation_id, v.roll.entry("erin").commitment
    )


def _off_the_record(info: ConsultationInfo, key: RsaKey) -> Wallet:
    """A credential the registrar signs for itself and never records."""
    wallet, request = resident.request_credential(info, RollKey.generate())
    blind_signature = blind_rsa.blind_sign(key, request.blinded_message)
    return resident.accept_credential(wallet, info, blind_signature)


def _stuffed(v: Voting, key: RsaKey, *, stuffed: int) -> ConsultationInfo:
    """A consultation of three honest voters, ``stuffed`` ballots cast first.

    alice, bob and carol ask for and get recorded credentials; dave and erin
    never ask. The registrar signs ``stuffed`` credentials off the record and
    casts their ballots the moment the commit window opens, before any
    resident; then every honest resident commits, reveals, and it ends.
    """
    info = open_consultation(v)
    honest = [certify(v, info, name) for name in ("alice", "bob", "carol")]
    ghosts = [_off_the_record(info, key) for _ in range(stuffed)]
    to_commit(v, info)
    cast = [
        resident.cast_ballot(v.contract, w, info, 0, relayer=v.registrar_account)[0]
        for w in ghosts
    ]
    # The honest residents come after the stuffing: not one may be refused.
    cast += [
        resident.cast_ballot(v.contract, w, info, 1, relayer=v.relayer)[0]
        for w in honest
    ]
    to_reveal(v, info)
    for wallet in cast:
        resident.reveal_ballot(v.contract, wallet, relayer=v.relayer)
    to_end(v, info)
    v.contract.finalize(info.consultation_id, sender=v.relayer)
    return info


def test_off_the_record_ballots_lock_no_resident_out_and_fail_the_retally(
    voting: Voting, credential_key: RsaKey
) -> None:
    # Execute: three ballots stuffed ahead of three honest residents
    info = _stuffed(voting, credential_key, stuffed=3)

    # Assert: every honest ballot counted; the stuffing is public and named
    state = voting.contract.state(info.consultation_id)
    assert (state.issued, state.committed, state.revealed) == (3, 6, 6)
    assert state.tally == (3, 3, 0)
    assert state.off_record == 3
    result = retally(voting.contract, info.consultation_id)
    assert not result.matches
    assert result.tally == result.contract_tally  # the count itself agrees...
    (problem,) = result.problems  # ...and the one problem is the stuffing
    assert problem == (
        "over-issuance: 6 valid ballots for 3 recorded credentials; the "
        "registrar's key signed at least 3 credential(s) off the record"
    )
    with pytest.raises(TallyMismatchError, match="off the record"):
        verify_tally(voting.contract, info.consultation_id)


def test_an_honest_consultation_reports_no_over_issuance(
    voting: Voting, credential_key: RsaKey
) -> None:
    info = _stuffed(voting, credential_key, stuffed=0)

    result = verify_tally(voting.contract, info.consultation_id)

    assert voting.contract.state(info.consultation_id).off_record == 0
    assert result.tally == (0, 3, 0)


@pytest.mark.parametrize("chain", [ANVIL], indirect=True)
def test_tally_verify_fails_naming_the_stuffing(
    voting: Voting,
    credential_key: RsaKey,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Prepare: the stuffed consultation on a chain the commands can reach
    info = _stuffed(voting, credential_key, stuffed=2)
    monkeypatch.setenv(RPC_URL_ENV, voting.chain.endpoint)
    monkeypatch.setenv(CONTRACT_ENV, voting.contract.address)
    consultation = str(info.consultation_id)

    # Execute
    status = main(["vote", "status", "--id", consultation])
    status_out = capsys.readouterr().out
    verified = main(["vote", "tally", "--id", consultation, "--verify"])
    captured = capsys.readouterr()

    # Assert
    assert status == 0
    assert "OVER-ISSUANCE: 2 more ballot(s) than recorded credentials" in status_out
    assert verified == 1
    assert "credentials 3, ballots 5" in captured.out
    assert "re-tally matches" not in captured.out
    assert "over-issuance: 5 valid ballots for 3 recorded credentials" in (
        captured.out + captured.err
    )
