"""Verifiable community consultations on the ledger (see docs/voting.md).

A registrar certifies each resident on an eligibility roll once, with an RSA
blind signature over a fresh voting key; residents commit and later reveal
their ballots from those keys through a relayer; anyone recounts the result
from the Consultation contract's events.

Public names are imported on first use (:mod:`fedgov._lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedgov._lazy import lazy_exports

if TYPE_CHECKING:
    from ledger.voting.ballot import (
        BallotScope,
        commitment,
        credential_message,
    )
    from ledger.voting.blind_rsa import (
        FEDGOV_SUITE,
        BlindRsaSuite,
    )
    from ledger.voting.consultation import (
        BallotRecord,
        ChainEvent,
        ConsultationContract,
        ConsultationEvents,
        ConsultationInfo,
        ConsultationState,
        Phase,
    )
    from ledger.voting.errors import (
        CredentialError,
        ReceiptError,
        RollError,
        TallyMismatchError,
        VotingError,
        VotingFileError,
    )
    from ledger.voting.receipt import (
        Receipt,
        ReceiptCheck,
        check_receipt,
    )
    from ledger.voting.registrar import (
        IssuedCredential,
        Registrar,
        generate_credential_key,
        load_credential_key,
        save_credential_key,
    )
    from ledger.voting.rehearsal import (
        RehearsalReport,
        Rejection,
        rehearse_consultation,
    )
    from ledger.voting.resident import (
        CredentialRequest,
        RollKey,
        Wallet,
        accept_credential,
        cast_ballot,
        request_credential,
        reveal_ballot,
    )
    from ledger.voting.roll import (
        Roll,
        RollEntry,
        RollProof,
    )
    from ledger.voting.tally import (
        Retally,
        retally,
        verify_tally,
    )

__all__ = [
    "FEDGOV_SUITE",
    "BallotRecord",
    "BallotScope",
    "BlindRsaSuite",
    "ChainEvent",
    "ConsultationContract",
    "ConsultationEvents",
    "ConsultationInfo",
    "ConsultationState",
    "CredentialError",
    "CredentialRequest",
    "IssuedCredential",
    "Phase",
    "Receipt",
    "ReceiptCheck",
    "ReceiptError",
    "Registrar",
    "RehearsalReport",
    "Rejection",
    "Retally",
    "Roll",
    "RollEntry",
    "RollError",
    "RollKey",
    "RollProof",
    "TallyMismatchError",
    "VotingError",
    "VotingFileError",
    "Wallet",
    "accept_credential",
    "cast_ballot",
    "check_receipt",
    "commitment",
    "credential_message",
    "generate_credential_key",
    "load_credential_key",
    "rehearse_consultation",
    "request_credential",
    "retally",
    "reveal_ballot",
    "save_credential_key",
    "verify_tally",
]

_EXPORTS: dict[str, str] = {
    "FEDGOV_SUITE": "ledger.voting.blind_rsa",
    "BallotRecord": "ledger.voting.consultation",
    "BallotScope": "ledger.voting.ballot",
    "BlindRsaSuite": "ledger.voting.blind_rsa",
    "ChainEvent": "ledger.voting.consultation",
    "ConsultationContract": "ledger.voting.consultation",
    "ConsultationEvents": "ledger.voting.consultation",
    "ConsultationInfo": "ledger.voting.consultation",
    "RehearsalReport": "ledger.voting.rehearsal",
    "ConsultationState": "ledger.voting.consultation",
    "CredentialError": "ledger.voting.errors",
    "CredentialRequest": "ledger.voting.resident",
    "IssuedCredential": "ledger.voting.registrar",
    "Phase": "ledger.voting.consultation",
    "Receipt": "ledger.voting.receipt",
    "ReceiptCheck": "ledger.voting.receipt",
    "ReceiptError": "ledger.voting.errors",
    "Registrar": "ledger.voting.registrar",
    "Rejection": "ledger.voting.rehearsal",
    "Retally": "ledger.voting.tally",
    "Roll": "ledger.voting.roll",
    "RollEntry": "ledger.voting.roll",
    "RollError": "ledger.voting.errors",
    "RollKey": "ledger.voting.resident",
    "RollProof": "ledger.voting.roll",
    "TallyMismatchError": "ledger.voting.errors",
    "VotingError": "ledger.voting.errors",
    "VotingFileError": "ledger.voting.errors",
    "Wallet": "ledger.voting.resident",
    "accept_credential": "ledger.voting.resident",
    "cast_ballot": "ledger.voting.resident",
    "check_receipt": "ledger.voting.receipt",
    "commitment": "ledger.voting.ballot",
    "credential_message": "ledger.voting.ballot",
    "generate_credential_key": "ledger.voting.registrar",
    "load_credential_key": "ledger.voting.registrar",
    "request_credential": "ledger.voting.resident",
    "retally": "ledger.voting.tally",
    "reveal_ballot": "ledger.voting.resident",
    "rehearse_consultation": "ledger.voting.rehearsal",
    "save_credential_key": "ledger.voting.registrar",
    "verify_tally": "ledger.voting.tally",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
