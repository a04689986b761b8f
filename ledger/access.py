"""Signed access statements: analysts' requests, approval requests, agreements.

Each statement of :mod:`fedgov.access` is signed by its author's secp256k1
key as EIP-712 typed data (:mod:`ledger._eip712`, the layout of every fedgov
signature) in the domain ``fedgov-access`` / ``1`` / chain id / the county's
Roles contract, so a signature made for one county cannot be replayed in
another, and the contract that says who is an analyst is the one the
signature names::

    AccessRequest(address analyst,string purpose,string kind,bytes32 subject,
        string dataset,string[] columns,string epsilon,string delta,
        bytes32 nonce,uint64 issuedAt,uint64 expiresAt)
    ApprovalRequest(address analyst,string department,string purpose,
        string dataset,string[] columns,string maxEpsilon,bytes32 nonce,
        uint64 issuedAt,uint64 expiresAt)
    DataUseAgreement(string department,address officer,address analyst,
        string purpose,string dataset,string[] columns,string maxEpsilon,
        bytes32 application,uint64 issuedAt,uint64 expiresAt)

Figures are decimal text (``"0.5"``), as in audit records. A statement's
**id** is its EIP-712 digest (``0x`` + 64 hex digits): what audit records
name, and what an agreement's ``application`` is.

The JSON form (``{"type", "domain", "statement", "signature"}``) carries the
domain it was signed for, so a verifier can say "signed for another county"
rather than "bad signature"; verification always uses the verifier's own
domain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

from eth_account import Account
from eth_account.messages import _hash_eip191_message
from eth_utils.address import is_address, to_checksum_address

from fedgov.access import (
    AccessFormatError,
    AccessRequest,
    Agreement,
    ApprovalRequest,
    decimal_text,
)
from fedgov.errors import ConfigurationError
from ledger._eip712 import signable
from ledger.errors import AccessSignatureError

if TYPE_CHECKING:
    from eth_account.messages import SignableMessage
    from eth_account.signers.local import LocalAccount

__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "AccessDomain",
    "SignedAgreement",
    "SignedApprovalRequest",
    "SignedRequest",
]

DOMAIN_NAME = "fedgov-access"
DOMAIN_VERSION = "1"

_T = TypeVar("_T", AccessRequest, ApprovalRequest, Agreement)


@dataclass(frozen=True)
class AccessDomain:
    """The deployment an access statement is signed for: chain and Roles contract."""

    chain_id: int
    roles: str

    def __post_init__(self) -> None:
        if self.chain_id <= 0:
            raise ConfigurationError(
                "chain_id", f"must be positive, got {self.chain_id}"
            )
        if not is_address(self.roles):
            raise ConfigurationError("roles", f"must be an address, got {self.roles!r}")
        object.__setattr__(self, "roles", to_checksum_address(self.roles))

    def as_tuple(self) -> tuple[str, str, int, str]:
        return (DOMAIN_NAME, DOMAIN_VERSION, self.chain_id, self.roles)

    def to_json(self) -> dict[str, Any]:
        return {"chain_id": self.chain_id, "roles": self.roles}


def _request_message(r: AccessRequest) -> dict[str, Any]:
    return {
        "analyst": to_checksum_address(r.analyst),
        "purpose": r.purpose,
        "kind": r.kind.value,
        "subject": r.subject,
        "dataset": r.dataset,
        "columns": list(r.columns),
        "epsilon": decimal_text(r.epsilon),
        "delta": decimal_text(r.delta),
        "nonce": r.nonce,
        "issuedAt": r.issued_at,
        "expiresAt": r.expires_at,
    }


def _application_message(r: ApprovalRequest) -> dict[str, Any]:
    return {
        "analyst": to_checksum_address(r.analyst),
        "department": r.department,
        "purpose": r.purpose,
        "dataset": r.dataset,
        "columns": list(r.columns),
        "maxEpsilon": decimal_text(r.max_epsilon),
        "nonce": r.nonce,
        "issuedAt": r.issued_at,
        "expiresAt": r.expires_at,
    }


def _agreement_message(a: Agreement) -> dict[str, Any]:
    return {
        "department": a.department,
        "officer": to_checksum_address(a.officer),
        "analyst": to_checksum_address(a.analyst),
        "purpose": a.purpose,
        "dataset": a.dataset,
        "columns": list(a.columns),
        "maxEpsilon": decimal_text(a.max_epsilon),
        "application": a.application,
        "issuedAt": a.issued_at,
        "expiresAt": a.expires_at,
    }


@dataclass(frozen=True)
class _Signed(Generic[_T]):
    """A statement and its author's 65-byte signature."""

    statement: _T
    signature: bytes

    TYPE: ClassVar[str]
    FIELDS: ClassVar[list[tuple[str, str]]]
    WHAT: ClassVar[str]

    def __post_init__(self) -> None:
        if not isinstance(self.signature, bytes) or len(self.signature) != 65:
            raise AccessSignatureError(
                self.WHAT, "the signature must be 65 bytes (r, s, v)"
            )

    @staticmethod
    def _message(statement: Any) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def _content(cls, data: object) -> _T:
        raise NotImplementedError

    @property
    def author(self) -> str:
        """The address the statement says signed it."""
        raise NotImplementedError

    @classmethod
    def _signable(cls, statement: _T, domain: AccessDomain) -> SignableMessage:
        return signable(
            domain=domain.as_tuple(),
            primary_type=cls.TYPE,
            fields=cls.FIELDS,
            message=cls._message(statement),
        )

    @classmethod
    def sign(cls, statement: _T, account: LocalAccount, domain: AccessDomain) -> Self:
        """``statement`` signed by ``account``, which must be its author."""
        signed = cls(statement, b"\x00" * 65)
        if to_checksum_address(signed.author) != account.address:
            raise ConfigurationError(
                "account",
                f"{account.address} cannot sign a {cls.WHAT} whose author is "
                f"{signed.author}",
            )
        signature = account.sign_message(cls._signable(statement, domain)).signature
        return cls(statement, bytes(signature))

    def digest(self, domain: AccessDomain) -> bytes:
        """The statement's EIP-712 digest in ``domain``: its id."""
        return bytes(_hash_eip191_message(self._signable(self.statement, domain)))

    def id(self, domain: AccessDomain) -> str:
        """``0x`` + the hex digest: how records and agreements name it."""
        return "0x" + self.digest(domain).hex()

    def verify(self, domain: AccessDomain) -> str:
        """Check the signature in ``domain``; return the (checksummed) author.

        Raises :class:`~ledger.errors.AccessSignatureError` when it was made
        by anyone but the author the statement names (or for another domain).
        """
        try:
            signer = Account.recover_message(
                self._signable(self.statement, domain), signature=self.signature
            )
        except (ValueError, TypeError) as e:
            raise AccessSignatureError(self.WHAT, f"malformed signature: {e}") from e
        author = to_checksum_address(self.author)
        if signer != author:
            raise AccessSignatureError(
                self.WHAT,
                f"signed by {signer}, not by {author} as it says (altered, or signed "
                f"for another deployment than chain {domain.chain_id}, Roles "
                f"{domain.roles})",
            )
        return author

    def to_json(self, domain: AccessDomain) -> dict[str, Any]:
        """The signed statement as JSON values, naming the domain it is for."""
        return {
            "type": self.TYPE,
            "domain": domain.to_json(),
            "statement": self.statement.to_json(),
            "signature": "0x" + self.signature.hex(),
        }

    def to_text(self, domain: AccessDomain) -> str:
        """Compact JSON with sorted keys (what travels in a run_config)."""
        return json.dumps(self.to_json(domain), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: object) -> tuple[Self, AccessDomain]:
        """The signed statement and the domain its JSON says it is for.

        Its signature is not checked here: call :meth:`verify` with the domain
        the verifier trusts.
        """
        if not isinstance(data, dict) or set(data) != {
            "type",
            "domain",
            "statement",
            "signature",
        }:
            raise AccessSignatureError(
                cls.WHAT, "must be a JSON object of type, domain, statement, signature"
            )
        if data["type"] != cls.TYPE:
            raise AccessSignatureError(
                cls.WHAT, f"is of type {data['type']!r}, expected {cls.TYPE!r}"
            )
        try:
            domain_data = data["domain"]
            domain = AccessDomain(
                int(domain_data["chain_id"]), str(domain_data["roles"])
            )
            signature = bytes.fromhex(str(data["signature"]).removeprefix("0x"))
            statement = cls._content(data["statement"])
        except (AccessFormatError, ConfigurationError) as e:
            raise AccessSignatureError(cls.WHAT, str(e)) from e
        except (KeyError, TypeError, ValueError) as e:
            raise AccessSignatureError(cls.WHAT, f"malformed: {e!r}") from e
        return cls(statement, signature), domain

    @classmethod
    def from_text(cls, text: str) -> tuple[Self, AccessDomain]:
        """:meth:`from_json` of a JSON text."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise AccessSignatureError(cls.WHAT, f"not JSON: {e}") from e
        return cls.from_json(data)


class SignedRequest(_Signed[AccessRequest]):
    """An analyst's signed request for one job or query."""

    TYPE = "AccessRequest"
    WHAT = "signed access request"
    FIELDS: ClassVar[list[tuple[str, str]]] = [
        ("analyst", "address"),
        ("purpose", "string"),
        ("kind", "string"),
        ("subject", "bytes32"),
        ("dataset", "string"),
        ("columns", "string[]"),
        ("epsilon", "string"),
        ("delta", "string"),
        ("nonce", "bytes32"),
        ("issuedAt", "uint64"),
        ("expiresAt", "uint64"),
    ]

    @staticmethod
    def _message(statement: Any) -> dict[str, Any]:
        return _request_message(statement)

    @classmethod
    def _content(cls, data: object) -> AccessRequest:
        return AccessRequest.from_json(data)

    @property
    def author(self) -> str:
        return self.statement.analyst


class SignedApprovalRequest(_Signed[ApprovalRequest]):
    """An analyst's signed application for a data-use agreement."""

    TYPE = "ApprovalRequest"
    WHAT = "signed approval request"
    FIELDS: ClassVar[list[tuple[str, str]]] = [
        ("analyst", "address"),
        ("department", "string"),
        ("purpose", "string"),
        ("dataset", "string"),
        ("columns", "string[]"),
        ("maxEpsilon", "string"),
        ("nonce", "bytes32"),
        ("issuedAt", "uint64"),
        ("expiresAt", "uint64"),
    ]

    @staticmethod
    def _message(statement: Any) -> dict[str, Any]:
        return _application_message(statement)

    @classmethod
    def _content(cls, data: object) -> ApprovalRequest:
        return ApprovalRequest.from_json(data)

    @property
    def author(self) -> str:
        return self.statement.analyst


class SignedAgreement(_Signed[Agreement]):
    """A data-use agreement signed by one of the department's data officers."""

    TYPE = "DataUseAgreement"
    WHAT = "signed data-use agreement"
    FIELDS: ClassVar[list[tuple[str, str]]] = [
        ("department", "string"),
        ("officer", "address"),
        ("analyst", "address"),
        ("purpose", "string"),
        ("dataset", "string"),
        ("columns", "string[]"),
        ("maxEpsilon", "string"),
        ("application", "bytes32"),
        ("issuedAt", "uint64"),
        ("expiresAt", "uint64"),
    ]

    @staticmethod
    def _message(statement: Any) -> dict[str, Any]:
        return _agreement_message(statement)

    @classmethod
    def _content(cls, data: object) -> Agreement:
        return Agreement.from_json(data)

    @property
    def author(self) -> str:
        return self.statement.officer
