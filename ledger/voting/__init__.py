"""Verifiable community consultations on the ledger (see docs/voting.md).

A registrar records each resident on an eligibility roll once, at the request
their roll key signed: their ballot key (ring credentials) or a blinded
message it then signs (blind RSA credentials, for the browser portal).
Residents commit and later reveal their ballots through a relayer, each
ballot signed by a ring of recorded keys (LSAG, with a key image as its
nullifier) or carrying an RSA credential; anyone recounts the result from the
Consultation contract's events.
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
    BallotKeyRequest,
    CredentialRequest,
    RollKey,
    Wallet,
    accept_credential,
    cast_ballot,
    recorded_ballot_key,
    request_ballot_key,
    request_credential,
    reveal_ballot,
)
from ledger.voting.ring import (
    BallotKeyPair,
    RingSignature,
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
    "BallotKeyPair",
    "BallotKeyRequest",
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
    "RingSignature",
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
    "recorded_ballot_key",
    "rehearse_consultation",
    "request_ballot_key",
    "request_credential",
    "retally",
    "reveal_ballot",
    "save_credential_key",
    "verify_tally",
]
