"""Client of the Consultation contract: create, certify, commit, reveal, finalize.

A consultation's credentials are of one of two kinds, fixed at creation:
**ring** credentials (``ring_size > 0``: recorded ballot keys, ballots signed
by a ring of them, :mod:`ledger.voting.ring`) or, for the browser portal,
**blind RSA** credentials (a modulus).

One :class:`ConsultationContract` wraps one deployed contract; consultations in
it are numbered from 1. Writes go through :meth:`ledger.chain.Chain.transact`,
so a rejected call raises :class:`~ledger.errors.ContractRevertError` whose
``reason`` is the contract's (``"Consultation: commit window is not open"``...).

Reading events: a consultation's events carry its id as their first indexed
topic and lie after its creation block, so :meth:`ConsultationContract.events`
reads them all in one pass over that range, by that topic.
"""

from __future__ import annotations

import functools
import urllib.parse
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from Crypto.PublicKey import RSA
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from fedgov.errors import ConfigurationError
from ledger.contract import DeployedContract
from ledger.errors import ChainError
from ledger.voting._events import ChainEvent, EventDecoder, consultation_logs
from ledger.voting.ballot import BallotScope
from ledger.voting.errors import VotingError
from ledger.voting.ring import SCALAR_BYTES

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from Crypto.PublicKey.RSA import RsaKey
    from eth_account.signers.local import LocalAccount
    from web3.contract import Contract
    from web3.types import TxReceipt

    from ledger.chain import Chain
    from ledger.chain_roles import Roles
    from ledger.voting.ring import RingSignature
    from ledger.voting.roll import RollProof

__all__ = [
    "CONTRACT_NAME",
    "GAS",
    "MAX_OPTIONS",
    "MAX_OPTION_BYTES",
    "MAX_RING",
    "MAX_URI_BYTES",
    "MODULUS_BITS",
    "PUBLIC_EXPONENT",
    "BallotRecord",
    "ChainEvent",
    "ConsultationContract",
    "ConsultationEvents",
    "ConsultationInfo",
    "ConsultationState",
    "Phase",
    "question_data_uri",
]

CONTRACT_NAME = "Consultation"
MODULUS_BITS = 2048
PUBLIC_EXPONENT = 65537
MAX_OPTIONS = 16
MAX_OPTION_BYTES = 64
MAX_URI_BYTES = 256
MAX_RING = 64
_EVENT_NAMES = (
    "ConsultationCreated",
    "CredentialIssued",
    "BallotKeyRegistered",
    "BallotCommitted",
    "RingBallotCommitted",
    "BallotRevealed",
    "ConsultationFinalized",
)

GAS = {
    "deploy": 5_000_000,
    "create": 800_000,
    "record_issuance": 300_000,
    "register_ballot_key": 300_000,
    "commit": 400_000,
    "commit_ring": 800_000,
    "reveal": 200_000,
    "finalize": 200_000,
}
"""Gas limit per operation: about twice what each uses (see docs/voting.md)."""


class Phase(Enum):
    """Where a consultation stands at a given block time."""

    ISSUANCE = "issuance"
    COMMIT = "commit"
    REVEAL = "reveal"
    CLOSED = "closed"
    """The reveal window is over; anyone may finalize."""
    FINALIZED = "finalized"


@dataclass(frozen=True)
class ConsultationInfo:
    """What a consultation was created with (fixed for its whole life)."""

    scope: BallotScope
    registrar: str
    question_hash: bytes
    question_uri: str
    options: tuple[str, ...]
    eligibility_root: bytes
    roll_size: int
    modulus: bytes
    """The blind RSA credential key's modulus; empty for ring credentials."""
    ring_size: int
    """Ballot keys per ring signature; 0 for blind RSA credentials."""
    commit_start: int
    commit_end: int
    reveal_end: int
    created_block: int

    @property
    def consultation_id(self) -> int:
        return self.scope.consultation_id

    @property
    def ring_credentials(self) -> bool:
        """Whether ballots carry ring signatures (else blind RSA credentials)."""
        return self.ring_size > 0

    def ring_for(self, registered: int) -> int:
        """How many keys each ring holds once ``registered`` keys are recorded."""
        return min(self.ring_size, registered)

    @functools.cached_property
    def public_key(self) -> RsaKey:
        """The registrar's credential key, as fixed on chain at creation."""
        if self.ring_credentials:
            raise VotingError(
                f"consultation {self.consultation_id} uses ring credentials: no RSA key"
            )
        return RSA.construct((int.from_bytes(self.modulus, "big"), PUBLIC_EXPONENT))

    @property
    def question(self) -> str | None:
        """The question's text when the URI carries it and it matches the hash."""
        prefix = "data:text/plain;charset=utf-8,"
        if not self.question_uri.startswith(prefix):
            return None
        text = urllib.parse.unquote(self.question_uri[len(prefix) :])
        return text if keccak(text=text) == self.question_hash else None

    def phase_at(self, timestamp: int, *, finalized: bool) -> Phase:
        """The phase at block time ``timestamp``."""
        if finalized:
            return Phase.FINALIZED
        if timestamp < self.commit_start:
            return Phase.ISSUANCE
        if timestamp < self.commit_end:
            return Phase.COMMIT
        if timestamp < self.reveal_end:
            return Phase.REVEAL
        return Phase.CLOSED


@dataclass(frozen=True)
class ConsultationState:
    """A consultation's counters now."""

    issued: int
    committed: int
    revealed: int
    finalized: bool
    tally: tuple[int, ...]

    @property
    def unrevealed(self) -> int:
        """Ballots committed but (so far) never revealed."""
        return self.committed - self.revealed

    @property
    def off_record(self) -> int:
        """Ballots beyond the recorded credentials: credentials signed off the record.

        Issuance closes when the commit window opens, so any excess can only
        come from the registrar's key signing credentials it never recorded.
        """
        return max(0, self.committed - self.issued)


@dataclass(frozen=True)
class BallotRecord:
    """What the contract holds for one voting key."""

    commitment: bytes | None
    """``None`` when the key committed no ballot."""
    revealed: bool
    choice: int | None


@dataclass(frozen=True)
class ConsultationEvents:
    """A consultation's events, by kind, each in chain order."""

    created: tuple[ChainEvent, ...]
    issued: tuple[ChainEvent, ...]
    """``CredentialIssued`` (blind RSA) or ``BallotKeyRegistered`` (ring)."""
    committed: tuple[ChainEvent, ...]
    """``BallotCommitted`` (blind RSA) or ``RingBallotCommitted`` (ring)."""
    revealed: tuple[ChainEvent, ...]
    finalized: tuple[ChainEvent, ...]


def question_data_uri(question: str) -> str:
    """A ``data:`` URI carrying ``question`` itself (when it fits on chain)."""
    return "data:text/plain;charset=utf-8," + urllib.parse.quote(question)


class ConsultationContract(DeployedContract):
    """Client of one deployed Consultation contract."""

    ARTIFACT = CONTRACT_NAME

    def __init__(self, chain: Chain, contract: Contract) -> None:
        super().__init__(chain, contract)
        self._decoder = EventDecoder(contract.abi)

    @classmethod
    def deploy(
        cls, chain: Chain, roles: Roles, *, sender: LocalAccount
    ) -> ConsultationContract:
        """Deploy a Consultation contract reading roles from ``roles``."""
        return cls._deploy(chain, roles.address, sender=sender, gas=GAS["deploy"])

    @property
    def roles_address(self) -> str:
        return self._call_address(self._contract.functions.roles())

    def scope(self, consultation_id: int) -> BallotScope:
        return BallotScope(self._chain.chain_id, self.address, consultation_id)

    @property
    def consultation_count(self) -> int:
        return int(self._chain.call(self._contract.functions.consultation_count()))

    # -- registrar -------------------------------------------------------------

    def create(
        self,
        *,
        question: str,
        options: Sequence[str],
        eligibility_root: bytes,
        roll_size: int,
        commit_start: int,
        commit_end: int,
        reveal_end: int,
        sender: LocalAccount,
        ring_size: int = 0,
        public_key: RsaKey | None = None,
        question_uri: str | None = None,
    ) -> ConsultationInfo:
        """Open a consultation; ``sender`` must hold the REGISTRAR role.

        Give exactly one of ``ring_size`` (ring credentials, 1..``MAX_RING``)
        and ``public_key`` (blind RSA credentials).

        The question goes on chain as its keccak256 hash and a URI; without
        ``question_uri`` the URI is a ``data:`` URI of the question itself.
        """
        uri = question_data_uri(question) if question_uri is None else question_uri
        if len(uri.encode("utf-8")) > MAX_URI_BYTES:
            raise ConfigurationError(
                "question_uri",
                f"must be at most {MAX_URI_BYTES} bytes; publish a long question "
                "elsewhere and give its URI",
            )
        for i, option in enumerate(options):
            if len(option.encode("utf-8")) > MAX_OPTION_BYTES:
                raise ConfigurationError(
                    f"options[{i}]", f"must be at most {MAX_OPTION_BYTES} bytes"
                )
        if len(options) > MAX_OPTIONS:
            raise ConfigurationError("options", f"at most {MAX_OPTIONS} options")
        modulus = b""
        if public_key is None:
            if not 1 <= ring_size <= MAX_RING:
                raise ConfigurationError(
                    "ring_size", f"must be in 1..{MAX_RING}, got {ring_size}"
                )
        elif ring_size:
            raise ConfigurationError(
                "ring_size", "ring credentials take no RSA key: give one or the other"
            )
        elif (
            public_key.size_in_bits() != MODULUS_BITS or public_key.e != PUBLIC_EXPONENT
        ):
            raise ConfigurationError(
                "public_key",
                f"must be RSA-{MODULUS_BITS} with e = {PUBLIC_EXPONENT}, got "
                f"RSA-{public_key.size_in_bits()} with e = {public_key.e}",
            )
        else:
            modulus = public_key.n.to_bytes(MODULUS_BITS // 8, "big")
        function = self._contract.functions.create(
            keccak(text=question),
            uri,
            list(options),
            eligibility_root,
            roll_size,
            modulus,
            ring_size,
            commit_start,
            commit_end,
            reveal_end,
        )
        receipt = self._chain.transact(function, sender=sender, gas=GAS["create"])
        (event,) = self._chain.receipt_events(
            self._contract.events.ConsultationCreated(), receipt
        )
        return self._info(event["args"], int(event["blockNumber"]))

    def record_issuance(
        self,
        consultation_id: int,
        proof: RollProof,
        *,
        blinded_message: bytes,
        request_signature: bytes,
        sender: LocalAccount,
    ) -> TxReceipt:
        """Record a credential issued to the roll entry ``proof`` shows.

        ``request_signature`` is the entry's roll key's signature requesting a
        credential for ``blinded_message`` (:func:`ledger.voting.ballot.sign_request`).
        """
        function = self._contract.functions.record_issuance(
            consultation_id,
            proof.index,
            proof.entry,
            proof.roll_key,
            list(proof.path),
            keccak(blinded_message),
            request_signature,
        )
        return self._chain.transact(function, sender=sender, gas=GAS["record_issuance"])

    def register_ballot_key(
        self,
        consultation_id: int,
        proof: RollProof,
        *,
        ballot_key: bytes,
        request_signature: bytes,
        sender: LocalAccount,
    ) -> TxReceipt:
        """Record ``ballot_key`` (33 bytes) for the roll entry ``proof`` shows.

        ``request_signature`` is the entry's roll key's signature requesting
        it (:func:`ledger.voting.ballot.sign_key_request`).
        """
        function = self._contract.functions.register_ballot_key(
            consultation_id,
            proof.index,
            proof.entry,
            proof.roll_key,
            list(proof.path),
            ballot_key,
            request_signature,
        )
        return self._chain.transact(
            function, sender=sender, gas=GAS["register_ballot_key"]
        )

    def finalize(self, consultation_id: int, *, sender: LocalAccount) -> TxReceipt:
        """Close the consultation for good (anyone may, once the reveal is over)."""
        function = self._contract.functions.finalize(consultation_id)
        return self._chain.transact(function, sender=sender, gas=GAS["finalize"])

    # -- ballots (sent by any funded relayer) ----------------------------------

    def commit(
        self,
        consultation_id: int,
        *,
        voting_key: str,
        commitment: bytes,
        message_prefix: bytes,
        credential: bytes,
        modulus: bytes,
        authorization: bytes,
        sender: LocalAccount,
    ) -> TxReceipt:
        """Commit a ballot; ``sender`` relays it and pays the gas."""
        function = self._contract.functions.commit(
            consultation_id,
            to_checksum_address(voting_key),
            commitment,
            message_prefix,
            credential,
            modulus,
            authorization,
        )
        return self._chain.transact(function, sender=sender, gas=GAS["commit"])

    def commit_ring(
        self,
        consultation_id: int,
        *,
        voting_key: str,
        commitment: bytes,
        ring: Sequence[int],
        signature: RingSignature,
        authorization: bytes,
        sender: LocalAccount,
    ) -> TxReceipt:
        """Commit a ballot signed by ``ring`` (issuance numbers, ascending)."""
        function = self._contract.functions.commit_ring(
            consultation_id,
            to_checksum_address(voting_key),
            commitment,
            signature.key_image,
            list(ring),
            signature.challenge.to_bytes(SCALAR_BYTES, "big"),
            [s.to_bytes(SCALAR_BYTES, "big") for s in signature.responses],
            authorization,
        )
        return self._chain.transact(function, sender=sender, gas=GAS["commit_ring"])

    def reveal(
        self,
        consultation_id: int,
        *,
        voting_key: str,
        choice: int,
        salt: bytes,
        sender: LocalAccount,
    ) -> TxReceipt:
        """Open a committed ballot; ``sender`` relays it and pays the gas."""
        function = self._contract.functions.reveal(
            consultation_id, to_checksum_address(voting_key), choice, salt
        )
        return self._chain.transact(function, sender=sender, gas=GAS["reveal"])

    # -- reads -------------------------------------------------------------------

    def info(self, consultation_id: int) -> ConsultationInfo:
        """How consultation ``consultation_id`` was created."""
        created_block = self._stored(consultation_id)["created_block"]
        created = self.events(
            consultation_id, from_block=created_block, to_block=created_block
        ).created
        if len(created) != 1:
            raise ChainError(
                f"Consultation.info({consultation_id})",
                f"block {created_block} holds {len(created)} creation events, not 1 "
                "(does the node keep logs that old?)",
            )
        return self._info(created[0].args, created[0].block_number)

    def state(self, consultation_id: int) -> ConsultationState:
        """The consultation's counters and running tally."""
        stored = self._stored(consultation_id)
        return ConsultationState(
            issued=stored["issued"],
            committed=stored["committed"],
            revealed=stored["revealed"],
            finalized=stored["finalized"],
            tally=self.tally(consultation_id),
        )

    def tally(self, consultation_id: int) -> tuple[int, ...]:
        """Revealed ballots per option, in option order."""
        counts = self._chain.call(self._contract.functions.tally(consultation_id))
        return tuple(int(c) for c in counts)

    def ballot(self, consultation_id: int, voting_key: str) -> BallotRecord:
        """What the contract holds for ``voting_key``."""
        commitment, revealed, choice = self._chain.call(
            self._contract.functions.ballot(
                consultation_id, to_checksum_address(voting_key)
            )
        )
        committed = bytes(commitment) != bytes(32)
        return BallotRecord(
            commitment=bytes(commitment) if committed else None,
            revealed=bool(revealed),
            choice=int(choice) if revealed else None,
        )

    def modulus_hash(self, consultation_id: int) -> bytes:
        """keccak256 of the credential key's modulus, as the contract holds it."""
        return bytes(self._stored(consultation_id)["modulus_hash"])

    def credential_issued(self, consultation_id: int, roll_entry: bytes) -> bool:
        """Whether a credential was recorded against ``roll_entry``."""
        return bool(
            self._chain.call(
                self._contract.functions.credential_issued(consultation_id, roll_entry)
            )
        )

    def phase(self, info: ConsultationInfo) -> Phase:
        """The phase at the latest block."""
        finalized = self._stored(info.consultation_id)["finalized"]
        now = self._chain.block_timestamp(self._chain.block_number)
        return info.phase_at(now, finalized=finalized)

    def events(
        self,
        consultation_id: int,
        *,
        from_block: int | None = None,
        to_block: int | None = None,
    ) -> ConsultationEvents:
        """The consultation's events in a block range, by kind, in chain order.

        The range defaults to its creation block through the latest block; it
        is read in one pass (:func:`ledger.voting._events.consultation_logs`).
        """
        if from_block is None:
            from_block = int(self._stored(consultation_id)["created_block"])
        if to_block is None:
            to_block = self._chain.block_number
        grouped: dict[str, list[ChainEvent]] = {name: [] for name in _EVENT_NAMES}
        for log in consultation_logs(
            self._chain,
            self.address,
            consultation_id,
            from_block=from_block,
            to_block=to_block,
        ):
            event = self._decoder.decode(log)
            if event is not None:
                grouped[event.name].append(event)
        return ConsultationEvents(
            created=tuple(grouped["ConsultationCreated"]),
            issued=tuple(grouped["CredentialIssued"] + grouped["BallotKeyRegistered"]),
            committed=tuple(
                grouped["BallotCommitted"] + grouped["RingBallotCommitted"]
            ),
            revealed=tuple(grouped["BallotRevealed"]),
            finalized=tuple(grouped["ConsultationFinalized"]),
        )

    def _stored(self, consultation_id: int) -> dict[str, Any]:
        values = self._chain.call(
            self._contract.functions.consultation(consultation_id)
        )
        names = (
            "registrar",
            "question_hash",
            "eligibility_root",
            "roll_size",
            "modulus_hash",
            "ring_size",
            "option_count",
            "commit_start",
            "commit_end",
            "reveal_end",
            "issued",
            "committed",
            "revealed",
            "finalized",
            "created_block",
        )
        return dict(zip(names, values, strict=True))

    def _info(self, args: Mapping[str, Any], created_block: int) -> ConsultationInfo:
        return ConsultationInfo(
            scope=self.scope(int(args["consultationId"])),
            registrar=to_checksum_address(args["registrar"]),
            question_hash=bytes(args["questionHash"]),
            question_uri=str(args["questionUri"]),
            options=tuple(str(o) for o in args["options"]),
            eligibility_root=bytes(args["eligibilityRoot"]),
            roll_size=int(args["rollSize"]),
            modulus=bytes(args["modulus"]),
            ring_size=int(args["ringSize"]),
            commit_start=int(args["commitStart"]),
            commit_end=int(args["commitEnd"]),
            reveal_end=int(args["revealEnd"]),
            created_block=created_block,
        )
