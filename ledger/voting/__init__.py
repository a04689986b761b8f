"""Verifiable community consultations on the ledger (see docs/voting.md).

A registrar certifies each resident on an eligibility roll once, with an RSA
blind signature over a fresh voting key; residents commit and later reveal
their ballots from those keys through a relayer; anyone recounts the result
from the Consultation contract's events.
"""

from __future__ import annotations

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
