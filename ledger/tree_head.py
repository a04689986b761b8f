"""Signed tree heads: what an actor's audit log commits to, and how it signs.

A tree head states "my log ``log_id`` holds ``tree_size`` records whose RFC 9162
Merkle root is ``root_hash``, as of ``timestamp``". The actor signs it with its
secp256k1 key as EIP-712 typed data, so that the same signature is checked by
eth-account off-chain and by ``ecrecover`` in the anchor contract on-chain. The
EIP-712 domain binds a signature to one chain and one registry contract: a
head signed for a test deployment cannot be replayed against production.

Typed data (the contract computes the same digest)::

    EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)
    TreeHead(bytes32 logId,uint64 treeSize,bytes32 rootHash,uint64 timestamp)

with ``name = "fedgov-audit-log"`` and ``version = "1"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from fedgov.errors import ConfigurationError
from fedgov.types import check_address
from ledger._eip712 import signable

if TYPE_CHECKING:
    from eth_account.messages import SignableMessage
    from eth_account.signers.local import LocalAccount

__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "MAX_LOG_NAME_BYTES",
    "SignedTreeHead",
    "SigningDomain",
    "TreeHead",
    "log_id_for",
    "recover_signer",
    "sign_tree_head",
]

DOMAIN_NAME = "fedgov-audit-log"
DOMAIN_VERSION = "1"
_U64_MAX = 2**64 - 1
MAX_LOG_NAME_BYTES = 64
"""Longest log name, in UTF-8 bytes: the anchor contract's ``String[64]``."""


def log_id_for(actor: str, name: str = "audit") -> bytes:
    """The 32-byte id of ``actor``'s log called ``name``.

    Deterministic so an auditor can derive it from the actor's address alone.
    """
    checksummed = to_checksum_address(actor)
    return keccak(text=f"fedgov-log:{checksummed}:{name}")


@dataclass(frozen=True)
class SigningDomain:
    """The EIP-712 domain: which chain and which registry contract."""

    chain_id: int
    verifying_contract: str

    def __post_init__(self) -> None:
        if self.chain_id <= 0:
            raise ConfigurationError(
                "chain_id", f"must be positive, got {self.chain_id}"
            )
        address = check_address("registry", self.verifying_contract)
        object.__setattr__(self, "verifying_contract", to_checksum_address(address))


@dataclass(frozen=True)
class TreeHead:
    """An unsigned statement of a log's size and Merkle root."""

    log_id: bytes
    tree_size: int
    root_hash: bytes
    timestamp: int

    def __post_init__(self) -> None:
        if len(self.log_id) != 32:
            raise ConfigurationError(
                "log_id", f"must be 32 bytes, got {len(self.log_id)}"
            )
        if len(self.root_hash) != 32:
            raise ConfigurationError(
                "root_hash", f"must be 32 bytes, got {len(self.root_hash)}"
            )
        if not 0 <= self.tree_size <= _U64_MAX:
            raise ConfigurationError(
                "tree_size", f"must fit uint64, got {self.tree_size}"
            )
        if not 0 <= self.timestamp <= _U64_MAX:
            raise ConfigurationError(
                "timestamp", f"must fit uint64, got {self.timestamp}"
            )


@dataclass(frozen=True)
class SignedTreeHead:
    """A tree head with its signer's 65-byte (r, s, v) signature."""

    head: TreeHead
    signer: str
    signature: bytes

    def __post_init__(self) -> None:
        if len(self.signature) != 65:
            raise ConfigurationError(
                "signature", f"must be 65 bytes (r, s, v), got {len(self.signature)}"
            )
        object.__setattr__(self, "signer", to_checksum_address(self.signer))


def _signable(head: TreeHead, domain: SigningDomain) -> SignableMessage:
    return signable(
        domain=(
            DOMAIN_NAME,
            DOMAIN_VERSION,
            domain.chain_id,
            domain.verifying_contract,
        ),
        primary_type="TreeHead",
        fields=[
            ("logId", "bytes32"),
            ("treeSize", "uint64"),
            ("rootHash", "bytes32"),
            ("timestamp", "uint64"),
        ],
        message={
            "logId": head.log_id,
            "treeSize": head.tree_size,
            "rootHash": head.root_hash,
            "timestamp": head.timestamp,
        },
    )


def sign_tree_head(
    head: TreeHead, account: LocalAccount, domain: SigningDomain
) -> SignedTreeHead:
    """Sign ``head`` with ``account`` for ``domain``."""
    signed = account.sign_message(_signable(head, domain))
    return SignedTreeHead(
        head=head, signer=account.address, signature=bytes(signed.signature)
    )


def recover_signer(signed: SignedTreeHead, domain: SigningDomain) -> str:
    """The checksummed address that produced ``signed.signature`` over its head.

    Compare it with ``signed.signer`` (and with the roles on-chain); a forged or
    altered head recovers to some other address.
    """
    return str(
        Account.recover_message(
            _signable(signed.head, domain), signature=signed.signature
        )
    )
