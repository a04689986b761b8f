"""What a ballot is made of, computed exactly as the Consultation contract does.

Three values tie a ballot to one consultation of one contract on one chain
(a :class:`BallotScope`):

- the **credential message** the registrar blind-signs:
  ``"fedgov-consultation-key-v1:" || chain id (32 bytes) || contract (20)
  || consultation id (32) || voting key (20)`` — a credential is valid for one
  voting key in one consultation, nowhere else;
- the **commitment** committed during the commit window:
  ``keccak256(abi.encode(COMMITMENT_TAG, chain id, contract, consultation id,
  voting key, choice, salt))`` — binding the voting key stops anyone from
  copying another's commitment and later replaying its reveal;
- the **authorization**: the voting key's EIP-712 signature over
  ``Ballot(uint256 consultationId,address votingKey,bytes32 commitment)`` in
  the domain ``("fedgov-consultation", "1", chain id, contract)``. Whoever
  relays the commit pays its gas; the voting key holds no funds, and a relayer
  cannot swap the commitment.

Tests check each function against the contract's own view of it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak

from fedgov.errors import ConfigurationError
from ledger._eip712 import signable

if TYPE_CHECKING:
    from eth_account.messages import SignableMessage
    from eth_account.signers.local import LocalAccount

__all__ = [
    "COMMITMENT_TAG",
    "CREDENTIAL_TAG",
    "SALT_BYTES",
    "BallotScope",
    "authorization_signer",
    "commitment",
    "credential_message",
    "fresh_salt",
    "scope_fields",
    "scope_from",
    "sign_authorization",
]

CREDENTIAL_TAG = b"fedgov-consultation-key-v1:"
COMMITMENT_TAG = keccak(text="fedgov.consultation.commitment.v1")
SALT_BYTES = 32
_DOMAIN_NAME = "fedgov-consultation"
_DOMAIN_VERSION = "1"


@dataclass(frozen=True)
class BallotScope:
    """One consultation of one Consultation contract on one chain."""

    chain_id: int
    contract: str
    consultation_id: int

    def __post_init__(self) -> None:
        if self.chain_id < 1:
            raise ConfigurationError(
                "chain_id", f"must be positive, got {self.chain_id}"
            )
        if self.consultation_id < 1:
            raise ConfigurationError(
                "consultation_id", f"must be positive, got {self.consultation_id}"
            )
        object.__setattr__(self, "contract", to_checksum_address(self.contract))


def scope_fields(scope: BallotScope) -> dict[str, object]:
    """``scope`` as the fields every voting file carries."""
    return {
        "chain_id": scope.chain_id,
        "contract": scope.contract,
        "consultation_id": scope.consultation_id,
    }


def scope_from(document: dict[str, Any]) -> BallotScope:
    """The scope in a voting file's fields (raises KeyError/ValueError if malformed)."""
    return BallotScope(
        int(document["chain_id"]),
        str(document["contract"]),
        int(document["consultation_id"]),
    )


def credential_message(scope: BallotScope, voting_key: str) -> bytes:
    """The message a credential signs for ``voting_key`` (before randomization)."""
    return (
        CREDENTIAL_TAG
        + scope.chain_id.to_bytes(32, "big")
        + to_canonical_address(scope.contract)
        + scope.consultation_id.to_bytes(32, "big")
        + to_canonical_address(voting_key)
    )


def commitment(scope: BallotScope, voting_key: str, choice: int, salt: bytes) -> bytes:
    """The commitment to ``choice`` under ``salt`` for ``voting_key``."""
    if not 0 <= choice < 2**256:
        raise ConfigurationError("choice", f"must be a uint256, got {choice}")
    if len(salt) != SALT_BYTES:
        raise ConfigurationError("salt", f"must be {SALT_BYTES} bytes, got {len(salt)}")
    # abi.encode of static types is their 32-byte words end to end; built by
    # hand because an auditor recomputes one per revealed ballot.
    return keccak(
        COMMITMENT_TAG
        + scope.chain_id.to_bytes(32, "big")
        + to_canonical_address(scope.contract).rjust(32, b"\0")
        + scope.consultation_id.to_bytes(32, "big")
        + to_canonical_address(voting_key).rjust(32, b"\0")
        + choice.to_bytes(32, "big")
        + salt
    )


def fresh_salt() -> bytes:
    """A random salt: it hides the choice until the reveal, so it must not repeat."""
    return secrets.token_bytes(SALT_BYTES)


def sign_authorization(
    scope: BallotScope, voting_key: LocalAccount, ballot_commitment: bytes
) -> bytes:
    """The voting key's 65-byte signature authorizing ``ballot_commitment``."""
    message = _signable(scope, voting_key.address, ballot_commitment)
    return bytes(voting_key.sign_message(message).signature)


def authorization_signer(
    scope: BallotScope, voting_key: str, ballot_commitment: bytes, signature: bytes
) -> str:
    """The address that produced ``signature`` over the ballot (checksummed)."""
    message = _signable(scope, voting_key, ballot_commitment)
    return str(Account.recover_message(message, signature=signature))


def _signable(
    scope: BallotScope, voting_key: str, ballot_commitment: bytes
) -> SignableMessage:
    return signable(
        domain=(_DOMAIN_NAME, _DOMAIN_VERSION, scope.chain_id, scope.contract),
        primary_type="Ballot",
        fields=[
            ("consultationId", "uint256"),
            ("votingKey", "address"),
            ("commitment", "bytes32"),
        ],
        message={
            "consultationId": scope.consultation_id,
            "votingKey": to_checksum_address(voting_key),
            "commitment": ballot_commitment,
        },
    )
