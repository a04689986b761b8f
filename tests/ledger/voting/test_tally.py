"""The public re-tally: it agrees with an honest contract and catches bad events."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pytest

from ledger.voting import resident
from ledger.voting.errors import TallyMismatchError
from ledger.voting.tally import retally, verify_tally
from tests.ledger.voting._helpers import (
    certify,
    open_consultation,
    to_commit,
    to_end,
    to_reveal,
)

if TYPE_CHECKING:
    from ledger.voting.consultation import (
        ChainEvent,
        ConsultationEvents,
        ConsultationInfo,
    )
    from tests.ledger.voting._helpers import Voting


def _finished(v: Voting) -> ConsultationInfo:
    info = open_consultation(v)
    wallets = [certify(v, info, name) for name in ("alice", "bob", "carol")]
    to_commit(v, info)
    cast = [
        resident.cast_ballot(v.contract, w, info, i % 2, relayer=v.relayer)[0]
        for i, w in enumerate(wallets)
    ]
    to_reveal(v, info)
    for wallet in cast[:2]:
        resident.reveal_ballot(v.contract, wallet, relayer=v.relayer)
    to_end(v, info)
    v.contract.finalize(info.consultation_id, sender=v.relayer)
    return info


def _with_args(event: ChainEvent, **changes: object) -> ChainEvent:
    return dataclasses.replace(event, args={**event.args, **changes})


def test_the_retally_matches_an_honest_contract(voting: Voting) -> None:
    info = _finished(voting)

    result = verify_tally(voting.contract, info.consultation_id)

    assert result.tally == result.contract_tally == result.finalized_tally == (1, 1, 0)
    assert (result.issued, result.committed, result.revealed) == (3, 3, 2)
    assert len(result.unrevealed_keys) == 1


_TAMPERS: list[tuple[str, Any]] = [
    (
        "tally: (1, 0, 0) from events",
        lambda e: dataclasses.replace(e, revealed=e.revealed[:1]),
    ),
    (
        "its credential does not verify",
        lambda e: dataclasses.replace(
            e,
            committed=(
                _with_args(e.committed[0], credential=b"\x01" * 256),
                *e.committed[1:],
            ),
        ),
    ),
    (
        "choice and salt do not match the commitment",
        lambda e: dataclasses.replace(
            e, revealed=(_with_args(e.revealed[0], choice=2), *e.revealed[1:])
        ),
    ),
    (
        "revealed twice",
        lambda e: dataclasses.replace(e, revealed=(*e.revealed, e.revealed[0])),
    ),
    (
        "a second ballot for the same voting key",
        lambda e: dataclasses.replace(e, committed=(*e.committed, e.committed[0])),
    ),
    (
        "issued more than one credential",
        lambda e: dataclasses.replace(e, issued=(*e.issued, e.issued[0])),
    ),
    (
        "its request is not signed by the roll key",
        lambda e: dataclasses.replace(
            e,
            issued=(
                _with_args(e.issued[0], requester=e.issued[1].args["requester"]),
                *e.issued[1:],
            ),
        ),
    ),
    (
        "its request is not signed by the roll key",
        lambda e: dataclasses.replace(
            e,
            issued=(
                _with_args(e.issued[0], requestSignature=bytes(65)),
                *e.issued[1:],
            ),
        ),
    ),
    (
        "holds a second credential",
        lambda e: dataclasses.replace(
            e,
            issued=(
                *e.issued,
                _with_args(e.issued[0], rollEntry=b"\x01" * 32),
            ),
        ),
    ),
    (
        "over-issuance: 3 valid ballots for 2 recorded credentials",
        lambda e: dataclasses.replace(e, issued=e.issued[1:]),
    ),
    (
        "finalized tally",
        lambda e: dataclasses.replace(
            e, finalized=(_with_args(e.finalized[0], tally=[2, 0, 0]),)
        ),
    ),
]


def test_the_retally_catches_events_that_disagree(
    voting: Voting, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the contract's events, altered on their way to the auditor
    info = _finished(voting)
    honest = voting.contract.events

    for problem, tamper in _TAMPERS:

        def tampered(
            consultation_id: int, tamper: Any = tamper, **block_range: Any
        ) -> ConsultationEvents:
            events = honest(consultation_id, **block_range)
            # Only the full history the auditor reads, not the creation look-up.
            return events if block_range else tamper(events)

        monkeypatch.setattr(voting.contract, "events", tampered)

        # Execute
        result = retally(voting.contract, info.consultation_id)

        # Assert
        assert not result.matches, problem
        assert any(problem in p for p in result.problems), result.problems
        with pytest.raises(TallyMismatchError, match="re-tally disagrees"):
            verify_tally(voting.contract, info.consultation_id)
