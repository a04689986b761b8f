"""fedgov's audit ledger: append-only logs, Merkle proofs and signed tree heads."""

from __future__ import annotations

from ledger.errors import (
    LedgerError,
    LogIntegrityError,
    LogRangeError,
    LogServiceError,
    ProofError,
    RecordError,
)
from ledger.merkle import (
    ConsistencyProof,
    InclusionProof,
    MerkleTree,
    verify_consistency,
    verify_inclusion,
)
from ledger.records import Action, AuditRecord, Role
from ledger.tree_head import SignedTreeHead, SigningDomain, TreeHead

__all__ = [
    "Action",
    "AuditRecord",
    "ConsistencyProof",
    "InclusionProof",
    "LedgerError",
    "LogIntegrityError",
    "LogRangeError",
    "LogServiceError",
    "MerkleTree",
    "ProofError",
    "RecordError",
    "Role",
    "SignedTreeHead",
    "SigningDomain",
    "TreeHead",
    "verify_consistency",
    "verify_inclusion",
]
