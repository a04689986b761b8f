"""Conversions between the ledger's types and the service's protobuf messages,
shared by the server and the client so that both read one mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger._proto import audit_log_pb2 as pb
from ledger.merkle import ConsistencyProof, InclusionProof
from ledger.tree_head import SignedTreeHead, SigningDomain, TreeHead

if TYPE_CHECKING:
    from ledger.integrity import HeadEntry

__all__ = [
    "consistency_from_wire",
    "consistency_to_wire",
    "head_from_wire",
    "head_to_wire",
    "inclusion_from_wire",
    "inclusion_to_wire",
]


def head_to_wire(entry: HeadEntry) -> pb.SignedTreeHead:
    signed, domain = entry
    head = signed.head
    return pb.SignedTreeHead(
        head=pb.TreeHead(
            log_id=head.log_id,
            tree_size=head.tree_size,
            root_hash=head.root_hash,
            timestamp_ms=head.timestamp,
        ),
        signer=signed.signer,
        signature=signed.signature,
        domain=pb.SigningDomain(
            chain_id=domain.chain_id, verifying_contract=domain.verifying_contract
        ),
    )


def head_from_wire(message: pb.SignedTreeHead) -> HeadEntry:
    """Raises ``ConfigurationError`` (a ``ValueError``) on malformed fields."""
    head = message.head
    signed = SignedTreeHead(
        head=TreeHead(
            log_id=head.log_id,
            tree_size=head.tree_size,
            root_hash=head.root_hash,
            timestamp=head.timestamp_ms,
        ),
        signer=message.signer,
        signature=message.signature,
    )
    domain = SigningDomain(
        chain_id=message.domain.chain_id,
        verifying_contract=message.domain.verifying_contract,
    )
    return signed, domain


def inclusion_to_wire(proof: InclusionProof) -> pb.InclusionProof:
    return pb.InclusionProof(
        leaf_index=proof.leaf_index,
        tree_size=proof.tree_size,
        leaf_hash=proof.leaf_hash,
        hashes=proof.hashes,
    )


def inclusion_from_wire(message: pb.InclusionProof) -> InclusionProof:
    return InclusionProof(
        message.leaf_index, message.tree_size, message.leaf_hash, tuple(message.hashes)
    )


def consistency_to_wire(proof: ConsistencyProof) -> pb.ConsistencyProof:
    return pb.ConsistencyProof(
        size1=proof.size1, size2=proof.size2, hashes=proof.hashes
    )


def consistency_from_wire(message: pb.ConsistencyProof) -> ConsistencyProof:
    return ConsistencyProof(message.size1, message.size2, tuple(message.hashes))
