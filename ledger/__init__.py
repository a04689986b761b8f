"""fedgov's audit ledger: append-only logs, Merkle proofs and signed tree heads.

Public names are imported on first use (:mod:`fedgov._lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedgov._lazy import lazy_exports

if TYPE_CHECKING:
    from ledger._transport import (
        ClientTLS,
        InsecureTransportWarning,
        ServerTLS,
    )
    from ledger.anchor import (
        Anchorer,
        AnchorPolicy,
        HeadRegistry,
        TreeHeadSource,
    )
    from ledger.anchor_registry import (
        AnchoredHead,
        AnchorRegistry,
    )
    from ledger.chain import (
        AnvilProcess,
        Chain,
        account_from_key_file,
    )
    from ledger.chain_roles import (
        RoleChange,
        Roles,
        role_id,
    )
    from ledger.checkpoint import (
        Checkpoint,
        origin_for,
    )
    from ledger.client import (
        LogClient,
        LogInfo,
    )
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
        MalformedNoteError,
        NoteError,
        ProofError,
        RecordError,
        UnverifiedNoteError,
        WitnessError,
    )
    from ledger.export import (
        LogVerification,
        verify_export,
    )
    from ledger.merkle import (
        ConsistencyProof,
        InclusionProof,
        MerkleTree,
        verify_consistency,
        verify_inclusion,
    )
    from ledger.records import (
        Action,
        AuditRecord,
        Role,
    )
    from ledger.service import (
        HostedLog,
        LogServer,
    )
    from ledger.sink import (
        AuditSink,
        LocalLogSink,
        NullSink,
        RemoteLogSink,
    )
    from ledger.store import (
        LogStore,
    )
    from ledger.tree_head import (
        SignedTreeHead,
        SigningDomain,
        TreeHead,
    )
    from ledger.witness import Witness
    from ledger.witness_client import WitnessClient, publish_checkpoint
    from ledger.witness_http import WitnessServer
    from ledger.witness_policy import WitnessPolicy

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
    "Checkpoint",
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
    "MalformedNoteError",
    "MerkleTree",
    "NoteError",
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
    "UnverifiedNoteError",
    "Witness",
    "WitnessClient",
    "WitnessError",
    "WitnessPolicy",
    "WitnessServer",
    "account_from_key_file",
    "origin_for",
    "publish_checkpoint",
    "role_id",
    "verify_consistency",
    "verify_export",
    "verify_inclusion",
]

_EXPORTS: dict[str, str] = {
    "Action": "ledger.records",
    "AnchorError": "ledger.errors",
    "AnchorPolicy": "ledger.anchor",
    "AnchorRegistry": "ledger.anchor_registry",
    "AnchoredHead": "ledger.anchor_registry",
    "Anchorer": "ledger.anchor",
    "AnvilProcess": "ledger.chain",
    "AuditRecord": "ledger.records",
    "AuditSink": "ledger.sink",
    "Chain": "ledger.chain",
    "ChainError": "ledger.errors",
    "ChainUnavailableError": "ledger.errors",
    "Checkpoint": "ledger.checkpoint",
    "ClientTLS": "ledger._transport",
    "ConsistencyProof": "ledger.merkle",
    "ContractArtifactError": "ledger.errors",
    "ContractRevertError": "ledger.errors",
    "HeadRegistry": "ledger.anchor",
    "HostedLog": "ledger.service",
    "InclusionProof": "ledger.merkle",
    "InsecureTransportWarning": "ledger._transport",
    "LedgerError": "ledger.errors",
    "LocalLogSink": "ledger.sink",
    "LogClient": "ledger.client",
    "LogInfo": "ledger.client",
    "LogIntegrityError": "ledger.errors",
    "LogRangeError": "ledger.errors",
    "LogServer": "ledger.service",
    "LogServiceError": "ledger.errors",
    "LogStorageError": "ledger.errors",
    "LogStore": "ledger.store",
    "LogVerification": "ledger.export",
    "MalformedNoteError": "ledger.errors",
    "MerkleTree": "ledger.merkle",
    "NoteError": "ledger.errors",
    "NullSink": "ledger.sink",
    "ProofError": "ledger.errors",
    "RecordError": "ledger.errors",
    "RemoteLogSink": "ledger.sink",
    "Role": "ledger.records",
    "RoleChange": "ledger.chain_roles",
    "Roles": "ledger.chain_roles",
    "ServerTLS": "ledger._transport",
    "SignedTreeHead": "ledger.tree_head",
    "SigningDomain": "ledger.tree_head",
    "TreeHead": "ledger.tree_head",
    "TreeHeadSource": "ledger.anchor",
    "UnverifiedNoteError": "ledger.errors",
    "Witness": "ledger.witness",
    "WitnessClient": "ledger.witness_client",
    "WitnessError": "ledger.errors",
    "WitnessPolicy": "ledger.witness_policy",
    "WitnessServer": "ledger.witness_http",
    "account_from_key_file": "ledger.chain",
    "origin_for": "ledger.checkpoint",
    "publish_checkpoint": "ledger.witness_client",
    "role_id": "ledger.chain_roles",
    "verify_consistency": "ledger.merkle",
    "verify_export": "ledger.export",
    "verify_inclusion": "ledger.merkle",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
