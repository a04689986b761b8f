"""fedgov's audit ledger: append-only logs, Merkle proofs and signed tree heads."""

from __future__ import annotations

from ledger._transport import ClientTLS, InsecureTransportWarning, ServerTLS
from ledger.anchor import Anchorer, AnchorPolicy, HeadRegistry, TreeHeadSource
from ledger.anchor_registry import AnchoredHead, AnchorRegistry
from ledger.chain import AnvilProcess, Chain, account_from_key_file
from ledger.chain_roles import RoleChange, Roles, role_id
from ledger.client import LogClient, LogInfo
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
from ledger.service import HostedLog, LogServer
from ledger.sink import AuditSink, LocalLogSink, NullSink, RemoteLogSink
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
    "AuditSink",
    "Chain",
    "ChainError",
    "ChainUnavailableError",
    "ClientTLS",
    "ConsistencyProof",
    "ContractArtifactError",
    "ContractRevertError",
    "HeadRegistry",
    "HostedLog",
    "InclusionProof",
    "InsecureTransportWarning",
    "LedgerError",
    "LocalLogSink",
    "LogClient",
    "LogInfo",
    "LogIntegrityError",
    "LogRangeError",
    "LogServer",
    "LogServiceError",
    "LogStorageError",
    "LogStore",
    "LogVerification",
    "MerkleTree",
    "NullSink",
    "ProofError",
    "RecordError",
    "RemoteLogSink",
    "Role",
    "RoleChange",
    "Roles",
    "ServerTLS",
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
