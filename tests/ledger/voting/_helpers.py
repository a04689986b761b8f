"""Shared steps of the voting tests: open a consultation, certify, move the clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger.voting import resident
from ledger.voting._clock import advance_to, latest_timestamp
from ledger.voting.registrar import Registrar
from ledger.voting.resident import RollKey
from ledger.voting.roll import Roll

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from eth_account.signers.local import LocalAccount

    from ledger.chain import Chain
    from ledger.chain_roles import Roles
    from ledger.voting.consultation import ConsultationContract, ConsultationInfo
    from ledger.voting.resident import Wallet

RESIDENTS = ("alice", "bob", "carol", "dave", "erin")
OPTIONS = ("yes", "no", "maybe")
ISSUANCE_S = 10_000
COMMIT_S = 10_000
REVEAL_S = 10_000


@dataclass(frozen=True)
class Voting:
    """A deployed Consultation contract and the people around it."""

    chain: Chain
    roles: Roles
    admin: LocalAccount
    registrar_account: LocalAccount
    relayer: LocalAccount
    """Sends residents' ballots; funded, holds no role."""
    other: LocalAccount
    """Funded, holds no role."""
    contract: ConsultationContract
    roll: Roll
    roll_keys: dict[str, RollKey]
    """Each resident's roll key, by name."""
    registrar: Registrar


def roll_of(names: Iterable[str]) -> tuple[Roll, dict[str, RollKey]]:
    """A roll of ``names``, each with a fresh roll key."""
    keys = {name: RollKey.generate() for name in names}
    return Roll.build((name, key.address) for name, key in keys.items()), keys


def open_consultation(
    v: Voting, *, options: Sequence[str] = OPTIONS
) -> ConsultationInfo:
    """A consultation whose issuance window is open now."""
    now = latest_timestamp(v.chain)
    return v.registrar.open(
        question="Plant trees on Main Street?",
        options=options,
        commit_start=now + ISSUANCE_S,
        commit_end=now + ISSUANCE_S + COMMIT_S,
        reveal_end=now + ISSUANCE_S + COMMIT_S + REVEAL_S,
    )


def ring_registrar(v: Voting) -> Registrar:
    """The same registrar without an RSA key: it can only record ballot keys."""
    return Registrar(v.contract, account=v.registrar_account, roll=v.roll)


def open_ring_consultation(
    v: Voting, *, ring_size: int = 3, options: Sequence[str] = OPTIONS
) -> ConsultationInfo:
    """A ring-credential consultation whose issuance window is open now."""
    now = latest_timestamp(v.chain)
    return ring_registrar(v).open(
        question="Plant trees on Main Street?",
        options=options,
        ring_size=ring_size,
        commit_start=now + ISSUANCE_S,
        commit_end=now + ISSUANCE_S + COMMIT_S,
        reveal_end=now + ISSUANCE_S + COMMIT_S + REVEAL_S,
    )


def enrol(v: Voting, info: ConsultationInfo, name: str) -> Wallet:
    """A resident's wallet whose ballot key is recorded on chain."""
    wallet, request = resident.request_ballot_key(info, v.roll_keys[name])
    ring_registrar(v).record(info, name, request)
    return wallet


def certify(v: Voting, info: ConsultationInfo, name: str) -> Wallet:
    """A resident's wallet holding a verified credential."""
    wallet, request = resident.request_credential(info, v.roll_keys[name])
    issued = v.registrar.issue(info, name, request)
    return resident.accept_credential(wallet, info, issued.blind_signature)


def to_commit(v: Voting, info: ConsultationInfo) -> None:
    advance_to(v.chain, info.commit_start)


def to_reveal(v: Voting, info: ConsultationInfo) -> None:
    advance_to(v.chain, info.commit_end)


def to_end(v: Voting, info: ConsultationInfo) -> None:
    advance_to(v.chain, info.reveal_end)
