"""The registrar: opens consultations and certifies each eligible resident once.

The registrar holds the eligibility roll (private) and a chain account with the
REGISTRAR role; with blind RSA credentials, also a fresh RSA-2048 credential
key per consultation (RFC 9474 asks for a key per purpose).

With **ring credentials** (:meth:`Registrar.record`) the registrar only
records the resident's ballot key against their roll entry, with the request
their roll key signed (the contract checks it). It signs nothing and holds no
key that could make a ballot: a ballot is signed by a ring of recorded keys,
each of which some resident asked for. This closes the "abstainers' shadow"
of blind credentials (docs/voting.md).

With blind RSA credentials:

Issuing a credential (:meth:`Registrar.issue`) is, in this order:

1. check the request: it is for this consultation, signed by the roll key on
   the resident's roll entry, and the blinded message has the modulus' length
   and lies below it (RFC 9474 ``BlindSign``'s input checks), so that nothing
   is recorded for a request that cannot be signed;
2. record the issuance on chain against the resident's roll entry, with its
   inclusion proof and the signed request: the contract refuses a resident
   off the roll or already certified, and a request the entry's roll key did
   not sign, so the register of who got a credential is public,
   one-per-resident, and names only residents who asked;
3. blind-sign. The registrar sees the resident's name and a blinded value that
   is uniformly random whatever the voting key inside; it never learns which
   voting key it certified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from Crypto.PublicKey import RSA

from fedgov.errors import ConfigurationError
from ledger.voting import blind_rsa
from ledger.voting._files import read_json, write_json, write_private_bytes
from ledger.voting.ballot import BallotScope, scope_fields, scope_from
from ledger.voting.consultation import MODULUS_BITS, PUBLIC_EXPONENT
from ledger.voting.errors import VotingError, VotingFileError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from Crypto.PublicKey.RSA import RsaKey
    from eth_account.signers.local import LocalAccount

    from ledger.voting.consultation import ConsultationContract, ConsultationInfo
    from ledger.voting.resident import BallotKeyRequest, CredentialRequest
    from ledger.voting.roll import Roll

_RESPONSE_FORMAT = "fedgov-credential-response-v1"

__all__ = [
    "IssuedCredential",
    "Registrar",
    "generate_credential_key",
    "load_credential_key",
    "save_credential_key",
]


@dataclass(frozen=True)
class IssuedCredential:
    """The registrar's answer to one resident's request."""

    scope: BallotScope
    blind_signature: bytes
    roll_entry: bytes
    """The resident's entry commitment: the chain records the issuance against it."""
    roll_salt: bytes
    """Lets the resident recompute their entry from their identifier."""
    transaction_hash: bytes
    block_number: int

    def to_document(self) -> dict[str, Any]:
        """The answer as the JSON object its file holds (it names no voting key)."""
        return {
            "format": _RESPONSE_FORMAT,
            **scope_fields(self.scope),
            "blind_signature": self.blind_signature.hex(),
            "roll_entry": self.roll_entry.hex(),
            "roll_salt": self.roll_salt.hex(),
            "transaction_hash": self.transaction_hash.hex(),
            "block_number": self.block_number,
        }

    def save(self, path: Path) -> None:
        """Write the answer for the resident."""
        write_json(path, self.to_document(), private=False)

    @classmethod
    def load(cls, path: Path) -> IssuedCredential:
        document = read_json(path, kind=_RESPONSE_FORMAT)
        try:
            return cls(
                scope=scope_from(document),
                blind_signature=bytes.fromhex(document["blind_signature"]),
                roll_entry=bytes.fromhex(document["roll_entry"]),
                roll_salt=bytes.fromhex(document["roll_salt"]),
                transaction_hash=bytes.fromhex(document["transaction_hash"]),
                block_number=int(document["block_number"]),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise VotingFileError(
                str(path), f"malformed credential response: {e!r}"
            ) from e


def generate_credential_key() -> RsaKey:
    """A fresh RSA-2048 key (e = 65537) for one consultation's credentials."""
    return RSA.generate(MODULUS_BITS, e=PUBLIC_EXPONENT)


def save_credential_key(key: RsaKey, path: Path, *, passphrase: str) -> None:
    """Write ``key`` as an encrypted PKCS#8 PEM file, owner-only."""
    if not passphrase:
        raise ConfigurationError("passphrase", "must not be empty")
    pem = key.export_key(
        format="PEM",
        passphrase=passphrase,
        pkcs=8,
        protection="scryptAndAES128-CBC",
    )
    write_private_bytes(path, pem)


def load_credential_key(path: Path, *, passphrase: str) -> RsaKey:
    """Read a key written by :func:`save_credential_key`."""
    try:
        return RSA.import_key(path.read_bytes(), passphrase=passphrase)
    except OSError as e:
        raise VotingFileError(str(path), f"cannot read: {e.strerror}") from e
    except (ValueError, IndexError, TypeError) as e:
        # The library's message never contains key material, but keep ours fixed.
        raise VotingFileError(
            str(path), "cannot decrypt: wrong passphrase or not a PEM key file"
        ) from e


class Registrar:
    """Opens consultations and issues credentials from one roll and one key."""

    def __init__(
        self,
        contract: ConsultationContract,
        *,
        account: LocalAccount,
        roll: Roll,
        key: RsaKey | None = None,
    ) -> None:
        # key None: ring credentials, nothing to sign with, on purpose.
        if key is not None and not key.has_private():
            raise ConfigurationError("key", "must be a private key")
        if key is not None and (
            key.size_in_bits() != MODULUS_BITS or key.e != PUBLIC_EXPONENT
        ):
            raise ConfigurationError(
                "key",
                f"must be RSA-{MODULUS_BITS} with e = {PUBLIC_EXPONENT}, got "
                f"RSA-{key.size_in_bits()} with e = {key.e}",
            )
        self._contract = contract
        self._account = account
        self._roll = roll
        self._key = key

    @property
    def public_key(self) -> RsaKey | None:
        """The blind RSA credential key; ``None`` for ring credentials."""
        return None if self._key is None else self._key.public_key()

    @property
    def roll(self) -> Roll:
        return self._roll

    def open(
        self,
        *,
        question: str,
        options: Sequence[str],
        commit_start: int,
        commit_end: int,
        reveal_end: int,
        ring_size: int = 0,
        question_uri: str | None = None,
    ) -> ConsultationInfo:
        """Create a consultation over this roll: ring credentials of ``ring_size``
        keys a ring, or blind RSA credentials under this registrar's key."""
        return self._contract.create(
            question=question,
            options=options,
            eligibility_root=self._roll.root,
            roll_size=self._roll.size,
            ring_size=ring_size,
            public_key=self.public_key,
            commit_start=commit_start,
            commit_end=commit_end,
            reveal_end=reveal_end,
            sender=self._account,
            question_uri=question_uri,
        )

    def record(
        self, info: ConsultationInfo, resident: str, request: BallotKeyRequest
    ) -> IssuedCredential:
        """Record ``resident``'s ballot key (identity checked by the caller), once.

        The answer carries no signature (``blind_signature`` is empty): the
        recorded key is the credential.
        """
        self._check_request(info, resident, request)
        receipt = self._contract.register_ballot_key(
            info.consultation_id,
            self._roll.proof(resident),
            ballot_key=request.ballot_key,
            request_signature=request.signature,
            sender=self._account,
        )
        entry = self._roll.entry(resident)
        return IssuedCredential(
            scope=info.scope,
            blind_signature=b"",
            roll_entry=entry.commitment,
            roll_salt=entry.salt,
            transaction_hash=bytes(receipt["transactionHash"]),
            block_number=int(receipt["blockNumber"]),
        )

    def issue(
        self, info: ConsultationInfo, resident: str, request: CredentialRequest
    ) -> IssuedCredential:
        """Certify ``resident`` (identity checked by the caller) once, blindly."""
        key = self._key
        if key is None or int.from_bytes(info.modulus, "big") != key.n:
            raise ConfigurationError(
                "key", f"is not consultation {info.consultation_id}'s credential key"
            )
        self._check_request(info, resident, request)
        entry = self._roll.entry(resident)
        blind_rsa.check_blinded_message(key, request.blinded_message)
        receipt = self._contract.record_issuance(
            info.consultation_id,
            self._roll.proof(resident),
            blinded_message=request.blinded_message,
            request_signature=request.signature,
            sender=self._account,
        )
        return IssuedCredential(
            scope=info.scope,
            blind_signature=blind_rsa.blind_sign(key, request.blinded_message),
            roll_entry=entry.commitment,
            roll_salt=entry.salt,
            transaction_hash=bytes(receipt["transactionHash"]),
            block_number=int(receipt["blockNumber"]),
        )

    def _check_request(
        self,
        info: ConsultationInfo,
        resident: str,
        request: CredentialRequest | BallotKeyRequest,
    ) -> None:
        """The request is for this consultation and roll, signed by ``resident``'s key."""
        if info.eligibility_root != self._roll.root:
            raise ConfigurationError(
                "roll", f"is not consultation {info.consultation_id}'s roll"
            )
        if request.scope != info.scope:
            raise ConfigurationError(
                "request", f"is not for consultation {info.consultation_id}"
            )
        entry = self._roll.entry(resident)
        signer = request.signer
        if signer != entry.roll_key:
            raise VotingError(
                f"the request is signed by {signer or 'no key'}, not by "
                f"{resident}'s roll key {entry.roll_key}"
            )
