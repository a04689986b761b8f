"""fedgov's audit ledger: append-only logs, Merkle proofs and signed tree heads."""

from __future__ import annotations

from ledger.anchor import Anchorer, AnchorPolicy, TreeHeadSource
from ledger.anchor_registry import AnchoredHead, AnchorRegistry
from ledger.chain import AnvilProcess, Chain, account_from_key_file
from ledger.chain_roles import RoleChange, Roles, role_id
from ledger.errors import (
    AnchorError,
    ChainError,
    ChainUnavailableError,
    ContractArtifactError,
    ContractRevertError,
    LedgerError,
    LogIntegrityError,
    LogRangeError,
    LogServiceError,
    LogStorageError,
    ProofError,
    RecordError,
)
from ledger.export import LogVerification, verify_export
from ledger.merkle import (
    ConsistencyProof,
    InclusionProof,
    MerkleTree,
    verify_consistency,
    verify_inclusion,
)
from ledger.records import Action, AuditRecord, Role
from ledger.store import LogStore
from ledger.tree_head import SignedTreeHead, SigningDomain, TreeHead

__all__ = [
    "Action",
    "AnchorError",
    "AnchorPolicy",
    "AnchorRegistry",
    "AnchoredHead",
    "Anchorer",
    "AnvilProcess",
    "AuditRecord",
    "Chain",
    "ChainError",
    "ChainUnavailableError",
    "ConsistencyProof",
    "ContractArtifactError",
    "ContractRevertError",
    "InclusionProof",
    "LedgerError",
    "LogIntegrityError",
    "LogRangeError",
    "LogServiceError",
    "LogStorageError",
    "LogStore",
    "LogVerification",
    "MerkleTree",
    "ProofError",
    "RecordError",
    "Role",
    "RoleChange",
    "Roles",
    "SignedTreeHead",
    "SigningDomain",
    "TreeHead",
    "TreeHeadSource",
    "account_from_key_file",
    "role_id",
    "verify_consistency",
    "verify_export",
    "verify_inclusion",
]
