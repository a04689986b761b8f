"""What a ballot is made of, computed exactly as the Consultation contract does.

Four values tie a credential and a ballot to one consultation of one contract
on one chain (a :class:`BallotScope`):

- the **credential request**: the resident's roll key's EIP-712 signature over
  ``CredentialRequest(uint256 consultationId,bytes32 blindedMessageHash)``
  in the domain below. The contract records a credential only with such a
  request from the roll key on the resident's roll entry, so a registrar
  cannot record one for a resident who never asked;

- with ring credentials, the **ballot-key request** instead: the roll key's
  EIP-712 signature over ``BallotKeyRequest(uint256 consultationId,bytes32
  ballotKeyHash)``, ``ballotKeyHash`` the keccak-256 of the 33-byte key;
- the **credential message** the registrar blind-signs, or that a ballot's
  ring signature signs (in the domain :func:`ring_domain`):
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
from eth_keys.datatypes import Signature
from eth_keys.exceptions import BadSignature
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

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
    "key_request_signer",
    "request_signer",
    "ring_domain",
    "scope_fields",
    "scope_from",
    "sign_authorization",
    "sign_key_request",
    "sign_request",
]

CREDENTIAL_TAG = b"fedgov-consultation-key-v1:"
COMMITMENT_TAG = keccak(text="fedgov.consultation.commitment.v1")
SALT_BYTES = 32
# secp256k1's group order: signatures with s above half of it are refused (EIP-2).
_CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_DOMAIN_NAME = "fedgov-consultation"
_DOMAIN_VERSION = "1"
_DOMAIN_TYPEHASH = keccak(
    text="EIP712Domain(string name,string version,uint256 chainId,"
    "address verifyingContract)"
)
_REQUEST_TYPEHASH = keccak(
    text="CredentialRequest(uint256 consultationId,bytes32 blindedMessageHash)"
)
_KEY_REQUEST_TYPEHASH = keccak(
    text="BallotKeyRequest(uint256 consultationId,bytes32 ballotKeyHash)"
)
_RING_DOMAIN_TAG = b"fedgov-consultation-ring-v1:"


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


def ring_domain(scope: BallotScope) -> bytes:
    """The domain of a consultation's ring signatures and key images.

    Key images differ from one consultation to the next even for one key, so
    they link nothing across consultations.
    """
    return (
        _RING_DOMAIN_TAG
        + scope.chain_id.to_bytes(32, "big")
        + to_canonical_address(scope.contract)
        + scope.consultation_id.to_bytes(32, "big")
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


def sign_request(
    scope: BallotScope, roll_key: LocalAccount, blinded_message: bytes
) -> bytes:
    """The roll key's 65-byte signature requesting a credential for ``blinded_message``."""
    message = signable(
        domain=_domain(scope),
        primary_type="CredentialRequest",
        fields=[("consultationId", "uint256"), ("blindedMessageHash", "bytes32")],
        message={
            "consultationId": scope.consultation_id,
            "blindedMessageHash": keccak(blinded_message),
        },
    )
    return bytes(roll_key.sign_message(message).signature)


def sign_key_request(
    scope: BallotScope, roll_key: LocalAccount, ballot_key: bytes
) -> bytes:
    """The roll key's 65-byte signature requesting that ``ballot_key`` be recorded."""
    message = signable(
        domain=_domain(scope),
        primary_type="BallotKeyRequest",
        fields=[("consultationId", "uint256"), ("ballotKeyHash", "bytes32")],
        message={
            "consultationId": scope.consultation_id,
            "ballotKeyHash": keccak(ballot_key),
        },
    )
    return bytes(roll_key.sign_message(message).signature)


def request_signer(
    scope: BallotScope, blinded_message_hash: bytes, signature: bytes
) -> str | None:
    """The roll key that signed a credential request, or ``None`` if none did.

    The digest is built by hand and the key recovered with eth-keys, as the
    contract does: an auditor checks one request per recorded credential, and
    ``encode_typed_data`` costs a millisecond each.
    """
    return _request_signer(_REQUEST_TYPEHASH, scope, blinded_message_hash, signature)


def key_request_signer(
    scope: BallotScope, ballot_key_hash: bytes, signature: bytes
) -> str | None:
    """The roll key that signed a ballot-key request, or ``None`` if none did."""
    return _request_signer(_KEY_REQUEST_TYPEHASH, scope, ballot_key_hash, signature)


def _request_signer(
    typehash: bytes, scope: BallotScope, value_hash: bytes, signature: bytes
) -> str | None:
    if len(signature) != 65 or signature[64] not in (27, 28):
        return None
    r, s = (
        int.from_bytes(signature[:32], "big"),
        int.from_bytes(signature[32:64], "big"),
    )
    if not (0 < r < _CURVE_ORDER and 0 < s <= _CURVE_ORDER // 2):
        return None
    domain = keccak(
        _DOMAIN_TYPEHASH
        + keccak(text=_DOMAIN_NAME)
        + keccak(text=_DOMAIN_VERSION)
        + scope.chain_id.to_bytes(32, "big")
        + to_canonical_address(scope.contract).rjust(32, b"\0")
    )
    struct_hash = keccak(
        typehash + scope.consultation_id.to_bytes(32, "big") + value_hash
    )
    digest = keccak(b"\x19\x01" + domain + struct_hash)
    try:
        key = Signature(
            vrs=(signature[64] - 27, r, s)
        ).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError):
        return None
    return str(key.to_checksum_address())


def _domain(scope: BallotScope) -> tuple[str, str, int, str]:
    return (_DOMAIN_NAME, _DOMAIN_VERSION, scope.chain_id, scope.contract)


def _signable(
    scope: BallotScope, voting_key: str, ballot_commitment: bytes
) -> SignableMessage:
    return signable(
        domain=_domain(scope),
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
