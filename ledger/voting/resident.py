"""A resident's side of a consultation, kept in a wallet between the steps.

0. :meth:`RollKey.generate` — once, before the roll is drawn up: the
   resident's **roll key**, whose address the registrar puts on the roll next
   to the resident's entry (``fedgov vote enroll``). It signs the resident's
   credential requests, and the contract records no credential without one.
1. With ring credentials, :func:`request_ballot_key` — make a fresh voting
   key and a fresh **ballot key** (secp256k1, its secret stays in the
   wallet); the roll key signs a request that the ballot key be recorded
   against the resident's roll entry. No registrar answer is needed: the
   recorded keys are the consultation's anonymity set, and at the commit the
   resident signs for their voting key as *one of* a ring of them
   (:mod:`ledger.voting.ring_ballot`).

   With blind RSA credentials, :func:`request_credential` — make a fresh voting key (a secp256k1 account
   that never holds funds and is used for this one consultation), the
   credential message for it, and blind it under the consultation's key *as
   fixed on chain* (a registrar handing different residents different keys
   could tell them apart later); the roll key signs the blinded message. The
   request goes to the registrar along with proof of identity, by whatever
   channel the county uses.
2. :func:`accept_credential` — unblind the registrar's answer and verify it
   (RFC 9474 ``Finalize``); a bad answer is refused.
3. :func:`cast_ballot` — commit to a choice with a fresh salt, authorized by
   the voting key's signature, relayed by any funded account.
4. :func:`reveal_ballot` — open the ballot in the reveal window.

The wallet is a secret file (mode 0600): it holds the voting private key and,
until the reveal, the only copy of the salt. Lose it before revealing and the
ballot cannot be counted; keep it after revealing and it proves the vote to
whoever gets it — delete it then. The roll key file is secret too (0600):
whoever holds it can ask for the resident's credential.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from fedgov.errors import ConfigurationError
from ledger.voting import blind_rsa
from ledger.voting._files import check_kind, read_json, write_json
from ledger.voting.ballot import (
    BallotScope,
    commitment,
    credential_message,
    fresh_salt,
    key_request_signer,
    request_signer,
    scope_fields,
    scope_from,
    sign_authorization,
    sign_key_request,
    sign_request,
)
from ledger.voting.errors import VotingError, VotingFileError
from ledger.voting.receipt import Receipt
from ledger.voting.ring import BallotKeyPair
from ledger.voting.ring_ballot import (
    choose_ring,
    registered_keys,
    sign_ballot,
    verify_ballot,
)

if TYPE_CHECKING:
    from pathlib import Path

    from eth_account.signers.local import LocalAccount
    from web3.types import TxReceipt

    from ledger.voting.consultation import ConsultationContract, ConsultationInfo

__all__ = [
    "BallotKeyRequest",
    "CredentialRequest",
    "RollKey",
    "Wallet",
    "accept_credential",
    "cast_ballot",
    "recorded_ballot_key",
    "request_ballot_key",
    "request_credential",
    "reveal_ballot",
]

_FORMAT = "fedgov-voting-wallet-v1"
_REQUEST_FORMAT = "fedgov-credential-request-v2"
_KEY_REQUEST_FORMAT = "fedgov-ballot-key-request-v1"
_ROLL_KEY_FORMAT = "fedgov-roll-key-v1"


@dataclass(frozen=True)
class RollKey:
    """The resident's key on the roll: it signs their credential requests."""

    private_key: bytes

    @functools.cached_property
    def account(self) -> LocalAccount:
        account: LocalAccount = Account.from_key(self.private_key)
        return account

    @property
    def address(self) -> str:
        """What the registrar puts on the roll for this resident."""
        return str(self.account.address)

    @classmethod
    def generate(cls) -> RollKey:
        return cls(bytes(Account.create().key))

    def save(self, path: Path) -> None:
        """Write the key, owner-only."""
        write_json(
            path,
            {
                "format": _ROLL_KEY_FORMAT,
                "address": self.address,
                "private_key": self.private_key.hex(),
            },
            private=True,
        )

    @classmethod
    def load(cls, path: Path) -> RollKey:
        document = read_json(path, kind=_ROLL_KEY_FORMAT)
        try:
            key = cls(bytes.fromhex(document["private_key"]))
            address = str(document["address"])
            derived = key.address
        except (ValueError, KeyError, TypeError) as e:
            raise VotingFileError(str(path), f"malformed roll key: {e!r}") from e
        if derived.lower() != address.lower():
            raise VotingFileError(
                str(path), f"the key is {derived}'s, not {address}'s as recorded"
            )
        return key


@dataclass(frozen=True)
class CredentialRequest:
    """What the resident hands the registrar: a blinded value, signed by the roll key.

    It names no voting key: the blinded value is uniformly random whatever the
    key inside, and the signature only says which resident asks.
    """

    scope: BallotScope
    blinded_message: bytes
    roll_key: str
    """The address of the roll key that signed the request."""
    signature: bytes

    @property
    def signer(self) -> str | None:
        """Who signed the request (``None`` for a signature of nobody)."""
        return request_signer(self.scope, keccak(self.blinded_message), self.signature)

    def to_document(self) -> dict[str, Any]:
        """The request as the JSON object its file holds."""
        return {
            "format": _REQUEST_FORMAT,
            **scope_fields(self.scope),
            "blinded_message": self.blinded_message.hex(),
            "roll_key": self.roll_key,
            "signature": self.signature.hex(),
        }

    def save(self, path: Path) -> None:
        write_json(path, self.to_document(), private=False)

    @classmethod
    def load(cls, path: Path) -> CredentialRequest:
        document = read_json(path, kind=_REQUEST_FORMAT)
        return cls.from_document(document, source=str(path))

    @classmethod
    def from_document(
        cls, document: object, *, source: str = "request"
    ) -> CredentialRequest:
        """A request from its file's JSON, decoded; errors name ``source``."""
        fields = check_kind(document, kind=_REQUEST_FORMAT, source=source)
        try:
            return cls(
                scope=scope_from(fields),
                blinded_message=bytes.fromhex(fields["blinded_message"]),
                roll_key=to_checksum_address(fields["roll_key"]),
                signature=bytes.fromhex(fields["signature"]),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise VotingFileError(source, f"malformed credential request: {e!r}") from e


@dataclass(frozen=True)
class BallotKeyRequest:
    """What the resident hands the registrar: a ballot key, signed by the roll key.

    The key is public from then on, next to the resident's roll entry; the
    ballot will not say which of a ring of recorded keys signed it.
    """

    FORMAT: ClassVar[str] = _KEY_REQUEST_FORMAT

    scope: BallotScope
    ballot_key: bytes
    """The compressed secp256k1 ballot key (33 bytes)."""
    roll_key: str
    signature: bytes

    @property
    def signer(self) -> str | None:
        """Who signed the request (``None`` for a signature of nobody)."""
        return key_request_signer(self.scope, keccak(self.ballot_key), self.signature)

    def to_document(self) -> dict[str, Any]:
        return {
            "format": _KEY_REQUEST_FORMAT,
            **scope_fields(self.scope),
            "ballot_key": self.ballot_key.hex(),
            "roll_key": self.roll_key,
            "signature": self.signature.hex(),
        }

    def save(self, path: Path) -> None:
        write_json(path, self.to_document(), private=False)

    @classmethod
    def load(cls, path: Path) -> BallotKeyRequest:
        document = read_json(path, kind=_KEY_REQUEST_FORMAT)
        return cls.from_document(document, source=str(path))

    @classmethod
    def from_document(
        cls, document: object, *, source: str = "request"
    ) -> BallotKeyRequest:
        """A request from its file's JSON, decoded; errors name ``source``."""
        fields = check_kind(document, kind=_KEY_REQUEST_FORMAT, source=source)
        try:
            return cls(
                scope=scope_from(fields),
                ballot_key=bytes.fromhex(fields["ballot_key"]),
                roll_key=to_checksum_address(fields["roll_key"]),
                signature=bytes.fromhex(fields["signature"]),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise VotingFileError(source, f"malformed ballot-key request: {e!r}") from e


@dataclass(frozen=True)
class Wallet:
    """A resident's secrets for one consultation, step by step."""

    scope: BallotScope
    voting_key: bytes
    """The voting account's private key."""
    message_prefix: bytes
    """Blind RSA: the credential message's random prefix (empty for ring credentials)."""
    blinded_message: bytes
    inverse: int | None
    """The blind's inverse; dropped once the credential is accepted."""
    credential: bytes | None = None
    ballot_secret: bytes | None = None
    """Ring credentials: the ballot key's secret scalar."""
    choice: int | None = None
    salt: bytes | None = None
    commitment: bytes | None = None
    revealed: bool = False

    @functools.cached_property
    def account(self) -> LocalAccount:
        # Cached: deriving the public key costs ~4 ms in eth-keys' pure Python.
        account: LocalAccount = Account.from_key(self.voting_key)
        return account

    @property
    def voting_address(self) -> str:
        return str(self.account.address)

    @property
    def prepared_message(self) -> blind_rsa.PreparedMessage:
        """The randomized message the credential signs."""
        return blind_rsa.PreparedMessage(
            self.message_prefix, credential_message(self.scope, self.voting_address)
        )

    def save(self, path: Path) -> None:
        """Write the wallet, owner-only."""
        document: dict[str, object] = {
            "format": _FORMAT,
            **scope_fields(self.scope),
            "voting_key": self.voting_key.hex(),
            "voting_address": self.voting_address,
            "message_prefix": self.message_prefix.hex(),
            "blinded_message": self.blinded_message.hex(),
            "inverse": None if self.inverse is None else hex(self.inverse),
            "credential": None if self.credential is None else self.credential.hex(),
            "ballot_secret": None
            if self.ballot_secret is None
            else self.ballot_secret.hex(),
            "choice": self.choice,
            "salt": None if self.salt is None else self.salt.hex(),
            "commitment": None if self.commitment is None else self.commitment.hex(),
            "revealed": self.revealed,
        }
        write_json(path, document, private=True)

    @classmethod
    def load(cls, path: Path) -> Wallet:
        document = read_json(path, kind=_FORMAT)

        def optional_hex(name: str) -> bytes | None:
            value = document.get(name)
            return None if value is None else bytes.fromhex(value)

        try:
            inverse = document.get("inverse")
            return cls(
                scope=scope_from(document),
                voting_key=bytes.fromhex(document["voting_key"]),
                message_prefix=bytes.fromhex(document["message_prefix"]),
                blinded_message=bytes.fromhex(document["blinded_message"]),
                inverse=None if inverse is None else int(inverse, 16),
                credential=optional_hex("credential"),
                ballot_secret=optional_hex("ballot_secret"),
                choice=None
                if document.get("choice") is None
                else int(document["choice"]),
                salt=optional_hex("salt"),
                commitment=optional_hex("commitment"),
                revealed=bool(document.get("revealed", False)),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise VotingFileError(str(path), f"malformed wallet: {e!r}") from e


def request_credential(
    info: ConsultationInfo, roll_key: RollKey
) -> tuple[Wallet, CredentialRequest]:
    """A wallet with a fresh voting key, and the request for its credential."""
    voting_account = Account.create()
    message = blind_rsa.prepare(credential_message(info.scope, voting_account.address))
    blinding = blind_rsa.blind(info.public_key, message)
    wallet = Wallet(
        scope=info.scope,
        voting_key=bytes(voting_account.key),
        message_prefix=message.prefix,
        blinded_message=blinding.blinded_message,
        inverse=blinding.inverse,
    )
    request = CredentialRequest(
        scope=info.scope,
        blinded_message=blinding.blinded_message,
        roll_key=roll_key.address,
        signature=sign_request(info.scope, roll_key.account, blinding.blinded_message),
    )
    return wallet, request


def request_ballot_key(
    info: ConsultationInfo, roll_key: RollKey
) -> tuple[Wallet, BallotKeyRequest]:
    """A wallet with fresh voting and ballot keys, and the request to record the latter."""
    if not info.ring_credentials:
        raise ConfigurationError(
            "consultation", f"{info.consultation_id} uses blind RSA credentials"
        )
    pair = BallotKeyPair.generate()
    wallet = Wallet(
        scope=info.scope,
        voting_key=bytes(Account.create().key),
        message_prefix=b"",
        blinded_message=b"",
        inverse=None,
        ballot_secret=pair.secret,
    )
    request = BallotKeyRequest(
        scope=info.scope,
        ballot_key=pair.public,
        roll_key=roll_key.address,
        signature=sign_key_request(info.scope, roll_key.account, pair.public),
    )
    return wallet, request


def recorded_ballot_key(
    contract: ConsultationContract, wallet: Wallet, roll_entry: bytes
) -> int:
    """The issuance number of the wallet's ballot key, recorded against ``roll_entry``."""
    if wallet.ballot_secret is None:
        raise VotingError("this wallet holds no ballot key")
    own = BallotKeyPair(wallet.ballot_secret).public
    for event in contract.events(wallet.scope.consultation_id).issued:
        if bytes(event.args["ballotKey"]) == own:
            if bytes(event.args["rollEntry"]) != roll_entry:
                raise VotingError(
                    "your ballot key is recorded against another roll entry"
                )
            return int(event.args["issued"]) - 1
    raise VotingError("your ballot key is not recorded on chain")


def accept_credential(
    wallet: Wallet, info: ConsultationInfo, blind_signature: bytes
) -> Wallet:
    """Unblind and verify the registrar's answer; the wallet with its credential."""
    _same_scope(wallet, info)
    if wallet.inverse is None:
        raise VotingError("this wallet has accepted its credential already")
    credential = blind_rsa.finalize(
        info.public_key, wallet.prepared_message, blind_signature, wallet.inverse
    )
    return dataclasses.replace(wallet, credential=credential, inverse=None)


def cast_ballot(
    contract: ConsultationContract,
    wallet: Wallet,
    info: ConsultationInfo,
    choice: int,
    *,
    relayer: LocalAccount,
    receipt_with_choice: bool = False,
) -> tuple[Wallet, Receipt]:
    """Commit to ``choice``; the updated wallet and the resident's receipt."""
    _same_scope(wallet, info)
    if wallet.ballot_secret is None and wallet.credential is None:
        raise VotingError("this wallet holds no credential yet")
    if wallet.commitment is not None:
        raise VotingError("this wallet has cast its ballot already")
    if not 0 <= choice < len(info.options):
        raise ConfigurationError(
            "choice",
            f"must be in 0..{len(info.options) - 1} ({', '.join(info.options)})",
        )
    salt = fresh_salt()
    ballot = commitment(wallet.scope, wallet.voting_address, choice, salt)
    authorization = sign_authorization(wallet.scope, wallet.account, ballot)
    if wallet.ballot_secret is not None:
        mined = _commit_ring(contract, wallet, info, ballot, authorization, relayer)
    else:
        assert wallet.credential is not None  # checked above
        mined = contract.commit(
            wallet.scope.consultation_id,
            voting_key=wallet.voting_address,
            commitment=ballot,
            message_prefix=wallet.message_prefix,
            credential=wallet.credential,
            modulus=info.modulus,
            authorization=authorization,
            sender=relayer,
        )
    receipt = Receipt(
        scope=wallet.scope,
        voting_key=wallet.voting_address,
        commitment=ballot,
        transaction_hash=bytes(mined["transactionHash"]),
        block_number=int(mined["blockNumber"]),
        choice=choice if receipt_with_choice else None,
        salt=salt if receipt_with_choice else None,
    )
    return dataclasses.replace(
        wallet, choice=choice, salt=salt, commitment=ballot
    ), receipt


def _commit_ring(
    contract: ConsultationContract,
    wallet: Wallet,
    info: ConsultationInfo,
    ballot: bytes,
    authorization: bytes,
    relayer: LocalAccount,
) -> TxReceipt:
    """Sign as one of a ring of recorded keys, refusing a second ballot by this key.

    A relayer runs the same checks: the contract cannot verify the signature,
    and an already used key image would make the ballot uncounted.
    """
    assert wallet.ballot_secret is not None
    pair = BallotKeyPair(wallet.ballot_secret)
    events = contract.events(wallet.scope.consultation_id)
    keys = registered_keys(events.issued)
    members = choose_ring(keys, pair.public, info.ring_for(len(keys)))
    signature = sign_ballot(wallet.scope, keys, members, pair, wallet.voting_address)
    for event in events.committed:
        if bytes(event.args["keyImage"]) == signature.key_image and (
            verify_ballot(wallet.scope, keys, event) is None
        ):
            raise VotingError(
                f"this ballot key has already cast a ballot (voting key "
                f"{event.args['votingKey']}, block {event.block_number})"
            )
    return contract.commit_ring(
        wallet.scope.consultation_id,
        voting_key=wallet.voting_address,
        commitment=ballot,
        ring=members,
        signature=signature,
        authorization=authorization,
        sender=relayer,
    )


def reveal_ballot(
    contract: ConsultationContract, wallet: Wallet, *, relayer: LocalAccount
) -> tuple[Wallet, TxReceipt]:
    """Open the committed ballot; the wallet marked revealed, and the mined reveal."""
    if wallet.choice is None or wallet.salt is None:
        raise VotingError("this wallet has cast no ballot")
    if wallet.revealed:
        raise VotingError("this wallet's ballot is revealed already")
    mined = contract.reveal(
        wallet.scope.consultation_id,
        voting_key=wallet.voting_address,
        choice=wallet.choice,
        salt=wallet.salt,
        sender=relayer,
    )
    return dataclasses.replace(wallet, revealed=True), mined


def _same_scope(wallet: Wallet, info: ConsultationInfo) -> None:
    if wallet.scope != info.scope:
        raise ConfigurationError(
            "wallet",
            f"is for consultation {wallet.scope.consultation_id} of "
            f"{wallet.scope.contract}, not {info.consultation_id} of "
            f"{info.scope.contract}",
        )
