"""Receipts: kept as files, checked against the chain, refused when they lie."""

from __future__ import annotations

import dataclasses
import json
import stat
from typing import TYPE_CHECKING

import pytest

from ledger.voting import resident
from ledger.voting.ballot import BallotScope
from ledger.voting.consultation import Phase
from ledger.voting.errors import VotingFileError
from ledger.voting.receipt import Receipt, check_receipt
from ledger.voting.resident import CredentialRequest
from tests.ledger.voting._helpers import (
    certify,
    open_consultation,
    to_commit,
    to_end,
    to_reveal,
)

if TYPE_CHECKING:
    from pathlib import Path

    from ledger.voting.consultation import ConsultationInfo
    from ledger.voting.resident import Wallet
    from tests.ledger.voting._helpers import Voting


def _voted(
    v: Voting, *, with_choice: bool = False
) -> tuple[ConsultationInfo, Wallet, Receipt]:
    info = open_consultation(v)
    wallet = certify(v, info, "carol")
    to_commit(v, info)
    wallet, receipt = resident.cast_ballot(
        v.contract, wallet, info, 2, relayer=v.relayer, receipt_with_choice=with_choice
    )
    return info, wallet, receipt


def test_a_receipt_follows_its_ballot_through_the_phases(voting: Voting) -> None:
    # Prepare
    info, wallet, receipt = _voted(voting)

    # Execute
    committed = check_receipt(voting.contract, receipt)
    to_reveal(voting, info)
    pending = check_receipt(voting.contract, receipt)
    resident.reveal_ballot(voting.contract, wallet, relayer=voting.relayer)
    revealed = check_receipt(voting.contract, receipt)

    # Assert
    assert (committed.phase, committed.recorded, committed.ok) == (
        Phase.COMMIT,
        True,
        True,
    )
    assert "reveal window opens" in committed.notes[0]
    assert pending.ok
    assert "not revealed yet" in pending.notes[0]
    assert revealed.ok
    assert revealed.recorded
    assert revealed.counted
    assert revealed.choice_matches is None  # the receipt does not know the choice


def test_an_unrevealed_ballot_is_reported_not_counted(voting: Voting) -> None:
    info, _wallet, receipt = _voted(voting)
    to_end(voting, info)

    checked = check_receipt(voting.contract, receipt)

    assert checked.recorded
    assert not checked.counted
    assert checked.problems == ("never revealed: the ballot is not counted",)


def test_an_opted_in_receipt_confirms_the_choice(
    voting: Voting, tmp_path: Path
) -> None:
    # Prepare
    info, wallet, receipt = _voted(voting, with_choice=True)
    to_reveal(voting, info)
    resident.reveal_ballot(voting.contract, wallet, relayer=voting.relayer)
    receipt.save(tmp_path / "receipt.json")

    # Execute
    loaded = Receipt.load(tmp_path / "receipt.json")
    checked = check_receipt(voting.contract, loaded)
    lying = check_receipt(voting.contract, dataclasses.replace(loaded, choice=0))

    # Assert
    assert loaded == receipt
    assert (tmp_path / "receipt.json").stat().st_mode & stat.S_IRWXO == 0
    assert checked.ok
    assert checked.choice_matches
    assert not lying.ok
    assert "do not hash to its commitment" in lying.problems[0]


def test_receipts_that_do_not_match_the_chain_are_refused(voting: Voting) -> None:
    # Prepare
    _info, _wallet, receipt = _voted(voting)
    other_scope = BallotScope(receipt.scope.chain_id, voting.roles.address, 1)

    # Execute
    wrong = {
        "commitment": check_receipt(
            voting.contract, dataclasses.replace(receipt, commitment=b"\x01" * 32)
        ),
        "transaction": check_receipt(
            voting.contract,
            dataclasses.replace(receipt, transaction_hash=b"\x02" * 32),
        ),
        "block": check_receipt(
            voting.contract,
            dataclasses.replace(receipt, block_number=receipt.block_number - 1),
        ),
        "contract": check_receipt(
            voting.contract, dataclasses.replace(receipt, scope=other_scope)
        ),
    }

    # Assert
    for name, checked in wrong.items():
        assert not checked.ok, name
        assert not checked.recorded, name
    assert "different commitment" in " ".join(wrong["commitment"].problems)
    assert "no ballot of transaction" in wrong["transaction"].problems[0]
    assert "is for contract" in wrong["contract"].problems[0]


def test_plain_receipts_are_readable_and_hold_no_choice(
    voting: Voting, tmp_path: Path
) -> None:
    _info, _wallet, receipt = _voted(voting)
    path = tmp_path / "r.json"

    receipt.save(path)

    assert "salt" not in path.read_text()
    assert "choice" not in path.read_text()
    assert Receipt.load(path) == receipt


def test_malformed_receipt_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"format": "fedgov-ballot-receipt-v1", "chain_id": 1}')

    with pytest.raises(VotingFileError, match="malformed receipt"):
        Receipt.load(path)


def test_documents_read_as_their_files_do(voting: Voting, tmp_path: Path) -> None:
    # Prepare: a receipt, a credential request and the registrar's answer
    info = open_consultation(voting)
    _wallet, request = resident.request_credential(info, voting.roll_keys["alice"])
    issued = voting.registrar.issue(info, "alice", request)
    wallet = certify(voting, info, "carol")
    to_commit(voting, info)
    _, receipt = resident.cast_ballot(
        voting.contract,
        wallet,
        info,
        1,
        relayer=voting.relayer,
        receipt_with_choice=True,
    )

    # Execute
    receipt.save(tmp_path / "receipt")
    request.save(tmp_path / "request")
    issued.save(tmp_path / "response")
    on_disk = {
        name: json.loads((tmp_path / name).read_text())
        for name in ("receipt", "request", "response")
    }

    # Assert: one format, whether it comes as a file or as its JSON
    assert on_disk["receipt"] == receipt.to_document()
    assert on_disk["request"] == request.to_document()
    assert on_disk["response"] == issued.to_document()
    assert Receipt.from_document(on_disk["receipt"]) == receipt
    assert CredentialRequest.from_document(on_disk["request"]) == request


def test_bad_documents_are_refused_naming_their_source() -> None:
    wrong_kind = {"format": "fedgov-credential-request-v2"}

    with pytest.raises(VotingFileError, match=r"^pasted: not a fedgov-ballot-rec"):
        Receipt.from_document(wrong_kind, source="pasted")
    with pytest.raises(VotingFileError, match=r"^receipt: not a fedgov-ballot-rec"):
        Receipt.from_document(["not", "an", "object"])
    with pytest.raises(VotingFileError, match=r"^receipt: malformed receipt"):
        Receipt.from_document({"format": "fedgov-ballot-receipt-v1", "chain_id": 1})
    with pytest.raises(VotingFileError, match=r"^request: malformed credential req"):
        CredentialRequest.from_document(wrong_kind)
