"""Ballot receipts, and checking one against the chain.

A receipt names a committed ballot: chain, contract, consultation, voting key,
commitment, and the transaction and block that recorded it. By default it
holds neither the choice nor the salt, and it is no proof of how anyone voted:
every field is public on chain, so anybody can write such a file for any
ballot. What does prove a vote is the voting key's private key (it can sign),
and the salt before the reveal; the resident's wallet holds both, and should be
deleted once the ballot is revealed (``fedgov vote reveal --forget``).

A resident who wants the check to confirm their choice too opts in to a
receipt with the choice and salt (``--receipt-with-choice``). Before the
reveal such a receipt does prove the vote to whoever sees it — the trade-off
is the resident's; docs/voting.md discusses coercion.

:func:`check_receipt` answers "was my ballot recorded as cast, and counted as
recorded?":

- *recorded*: the transaction succeeded in the stated block, emitted
  ``BallotCommitted`` for this voting key and commitment, and the contract
  still holds that commitment for the key;
- *counted*: the ballot was revealed (every reveal is added to the tally; the
  public re-tally, :mod:`ledger.voting.tally`, checks the sum), and — if the
  receipt carries the choice — for the choice the resident made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address

from ledger.voting._files import check_kind, read_json, write_json
from ledger.voting.ballot import BallotScope, commitment, scope_fields, scope_from
from ledger.voting.consultation import Phase
from ledger.voting.errors import VotingFileError

if TYPE_CHECKING:
    from pathlib import Path

    from ledger.voting.consultation import ConsultationContract

__all__ = ["Receipt", "ReceiptCheck", "check_receipt"]

_FORMAT = "fedgov-ballot-receipt-v1"


@dataclass(frozen=True)
class Receipt:
    """What a resident keeps to check their ballot later."""

    scope: BallotScope
    voting_key: str
    commitment: bytes
    transaction_hash: bytes
    block_number: int
    choice: int | None = None
    """Only in receipts the resident opted in to (with ``salt``)."""
    salt: bytes | None = None

    def __post_init__(self) -> None:
        if (self.choice is None) != (self.salt is None):
            raise VotingFileError("receipt", "give both choice and salt, or neither")

    def to_document(self) -> dict[str, Any]:
        """The receipt as the JSON object its file holds."""
        document: dict[str, Any] = {
            "format": _FORMAT,
            **scope_fields(self.scope),
            "voting_key": self.voting_key,
            "commitment": self.commitment.hex(),
            "transaction_hash": self.transaction_hash.hex(),
            "block_number": self.block_number,
        }
        if self.choice is not None and self.salt is not None:
            document["choice"] = self.choice
            document["salt"] = self.salt.hex()
        return document

    def save(self, path: Path) -> None:
        """Write the receipt as JSON; owner-only when it holds the choice."""
        write_json(path, self.to_document(), private=self.choice is not None)

    @classmethod
    def load(cls, path: Path) -> Receipt:
        return cls.from_document(read_json(path, kind=_FORMAT), source=str(path))

    @classmethod
    def from_document(cls, document: object, *, source: str = "receipt") -> Receipt:
        """A receipt from its file's JSON, decoded; errors name ``source``."""
        fields = check_kind(document, kind=_FORMAT, source=source)
        try:
            salt = fields.get("salt")
            return cls(
                scope=scope_from(fields),
                voting_key=to_checksum_address(fields["voting_key"]),
                commitment=bytes.fromhex(fields["commitment"]),
                transaction_hash=bytes.fromhex(fields["transaction_hash"]),
                block_number=int(fields["block_number"]),
                choice=None if fields.get("choice") is None else int(fields["choice"]),
                salt=None if salt is None else bytes.fromhex(salt),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise VotingFileError(source, f"malformed receipt: {e!r}") from e


@dataclass(frozen=True)
class ReceiptCheck:
    """The outcome of checking one receipt."""

    phase: Phase
    recorded: bool
    """The ballot is on chain exactly as the receipt says."""
    revealed: bool
    choice_matches: bool | None
    """``None`` when the receipt does not carry the choice."""
    problems: tuple[str, ...]
    """Everything that is wrong, in words; empty when the receipt checks out."""
    notes: tuple[str, ...]
    """What is pending but not (yet) wrong, e.g. a reveal still to come."""

    @property
    def counted(self) -> bool:
        """Revealed, and for the receipt's choice when it names one."""
        return self.revealed and self.choice_matches is not False

    @property
    def ok(self) -> bool:
        return not self.problems


def check_receipt(contract: ConsultationContract, receipt: Receipt) -> ReceiptCheck:
    """Check ``receipt`` against the chain ``contract`` lives on."""
    scope = receipt.scope
    actual = contract.scope(scope.consultation_id)
    if scope != actual:
        return ReceiptCheck(
            phase=Phase.ISSUANCE,
            recorded=False,
            revealed=False,
            choice_matches=None,
            problems=(
                f"the receipt is for contract {scope.contract} on chain "
                f"{scope.chain_id}, not {actual.contract} on chain {actual.chain_id}",
            ),
            notes=(),
        )
    info = contract.info(scope.consultation_id)
    phase = contract.phase(info)
    problems: list[str] = []
    notes: list[str] = []

    if receipt.choice is not None and receipt.salt is not None:
        own = commitment(scope, receipt.voting_key, receipt.choice, receipt.salt)
        if own != receipt.commitment:
            problems.append(
                "the receipt's choice and salt do not hash to its commitment"
            )

    problems.extend(_transaction_problems(contract, receipt))
    ballot = contract.ballot(scope.consultation_id, receipt.voting_key)
    if ballot.commitment != receipt.commitment:
        problems.append(
            "the contract holds no ballot for this voting key"
            if ballot.commitment is None
            else "the contract holds a different commitment for this voting key"
        )
    recorded = not problems

    choice_matches: bool | None = None
    if ballot.revealed:
        if receipt.choice is not None:
            choice_matches = ballot.choice == receipt.choice
            if not choice_matches:
                problems.append(
                    f"revealed as option {ballot.choice}, but the receipt says "
                    f"option {receipt.choice}"
                )
    elif phase in (Phase.CLOSED, Phase.FINALIZED):
        problems.append("never revealed: the ballot is not counted")
    elif phase is Phase.REVEAL:
        notes.append(f"not revealed yet: reveal before block time {info.reveal_end}")
    else:
        notes.append(f"the reveal window opens at block time {info.commit_end}")
    return ReceiptCheck(
        phase=phase,
        recorded=recorded,
        revealed=ballot.revealed,
        choice_matches=choice_matches,
        problems=tuple(problems),
        notes=tuple(notes),
    )


def _transaction_problems(
    contract: ConsultationContract, receipt: Receipt
) -> list[str]:
    """What is wrong with the commit the receipt names, if anything.

    A failed transaction emits no event, so the ``BallotCommitted`` event of
    this transaction in this block proves that it succeeded as the receipt says.
    """
    committed = contract.events(
        receipt.scope.consultation_id,
        from_block=receipt.block_number,
        to_block=receipt.block_number,
    ).committed
    for event in committed:
        if event.transaction_hash != receipt.transaction_hash:
            continue
        args = event.args
        if to_checksum_address(args["votingKey"]) != receipt.voting_key:
            return ["the transaction committed a ballot for another voting key"]
        if bytes(args["commitment"]) != receipt.commitment:
            return ["the transaction committed a different commitment"]
        return []
    return [
        f"no ballot of transaction 0x{receipt.transaction_hash.hex()} in block "
        f"{receipt.block_number}"
    ]
