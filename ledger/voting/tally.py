"""The public re-tally: the result recomputed from chain events alone.

An auditor needs no secret and trusts no code of the contract's: from the
consultation's events (:meth:`ConsultationContract.events`) :func:`retally`
re-derives everything and compares it with the contract's own counters:

- the credential key is the one fixed at creation (its hash is on chain);
- every issuance names a distinct roll entry and a distinct roll key, carries
  that roll key's signed request (re-verified here), and there are no more
  than the roll holds;
- with **ring credentials**: every committed ballot names a distinct voting
  key and carries a ring signature (:mod:`ledger.voting.ring`) that verifies
  over that key's credential message, by a ring of recorded ballot keys; of
  the ballots sharing a key image (one ballot key), only the first valid one
  counts. The contract cannot verify ring signatures, so it holds, counts and
  tallies every ballot it was sent; the ones found invalid or repeated here
  are named, left out of this tally, and make it differ from the contract's.
  Every counted ballot is then one recorded key's, and every recorded key one
  resident's, at their roll key's request: a registrar has no way to add one;
- with blind RSA credentials: every committed ballot names a distinct voting
  key and carries a credential that verifies, with pycryptodome's RSASSA-PSS
  verifier (not the contract's), over that key's credential message;
  there are no more valid ballots than recorded credentials. The contract
  cannot refuse the excess (a credential does not say which issuance it came
  from, and a cap would lock out residents holding recorded credentials), so
  it is found here: **over-issuance**, the registrar's key having signed
  credentials off the record;
- every reveal opens a committed ballot exactly once, its choice and salt
  hash to that ballot's commitment, and its choice is an option;
- the tally of those reveals equals the contract's tally (and, once
  finalized, the tally in ``ConsultationFinalized``); the committed ballots
  never revealed are listed.

What it takes on trust: that the chain executed the transactions it holds (any
full node re-executes them), hence the window checks on block timestamps, the
roll inclusion proofs and the ballots' authorization signatures, which are in
the transactions' calldata and not in the events.

What it cannot see, with blind RSA credentials only: off-the-record
credentials used no more often than residents holding recorded credentials
abstain (the counts then balance). docs/voting.md discusses this limit of
blind-signature credentials, and why ring credentials do not have it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils.crypto import keccak

from ledger.voting import blind_rsa, ring
from ledger.voting.ballot import (
    commitment,
    credential_message,
    key_request_signer,
    request_signer,
)
from ledger.voting.errors import TallyMismatchError, VotingError
from ledger.voting.ring_ballot import registered_keys, verify_ballot

if TYPE_CHECKING:
    from ledger.voting.ballot import BallotScope
    from ledger.voting.consultation import (
        ChainEvent,
        ConsultationContract,
        ConsultationEvents,
        ConsultationInfo,
    )

__all__ = ["Retally", "retally", "verify_tally"]


@dataclass(frozen=True)
class Retally:
    """The result as recomputed from events, next to the contract's."""

    consultation_id: int
    options: tuple[str, ...]
    tally: tuple[int, ...]
    """Valid reveals per option, from events."""
    contract_tally: tuple[int, ...]
    finalized_tally: tuple[int, ...] | None
    """The tally in ``ConsultationFinalized``; ``None`` before finalization."""
    issued: int
    committed: int
    revealed: int
    unrevealed_keys: tuple[str, ...]
    """Voting keys that committed and never revealed (so far)."""
    problems: tuple[str, ...]
    """Every disagreement or invalid event found; empty when all checks out."""

    @property
    def matches(self) -> bool:
        return not self.problems


def retally(contract: ConsultationContract, consultation_id: int) -> Retally:
    """Recompute consultation ``consultation_id``'s result from its events."""
    info = contract.info(consultation_id)
    state = contract.state(consultation_id)
    events = contract.events(consultation_id)
    scope = info.scope
    problems: list[str] = []

    entries = [bytes(e.args["rollEntry"]) for e in events.issued]
    if len(set(entries)) != len(entries):
        problems.append("a roll entry was issued more than one credential")
    if len(entries) > info.roll_size:
        problems.append(f"{len(entries)} credentials for a roll of {info.roll_size}")
    _check_requests(problems, scope, events.issued, ring=info.ring_credentials)

    if info.ring_credentials:
        commitments = _ring_ballots(problems, info, events)
    else:
        commitments = _rsa_ballots(problems, info, events, len(entries))

    tally = [0] * len(info.options)
    revealed: set[str] = set()
    for event in events.revealed:
        args = event.args
        key = args["votingKey"]
        choice = int(args["choice"])
        where = f"reveal of {key} (block {event.block_number})"
        if key not in commitments:
            problems.append(f"{where}: its ballot is not counted")
        elif key in revealed:
            problems.append(f"{where}: revealed twice")
        elif commitment(scope, key, choice, bytes(args["salt"])) != commitments[key]:
            problems.append(f"{where}: choice and salt do not match the commitment")
        elif choice >= len(info.options):
            problems.append(f"{where}: option {choice} does not exist")
        else:
            revealed.add(key)
            tally[choice] += 1

    finalized_tally: tuple[int, ...] | None = None
    if events.finalized:
        finalized_tally = tuple(int(c) for c in events.finalized[-1].args["tally"])
    _compare(problems, "tally", tuple(tally), state.tally)
    if finalized_tally is not None:
        _compare(problems, "finalized tally", tuple(tally), finalized_tally)
    _compare(problems, "issued count", len(entries), state.issued)
    _compare(problems, "committed count", len(commitments), state.committed)
    _compare(problems, "revealed count", len(revealed), state.revealed)
    if keccak(info.modulus) != contract.modulus_hash(consultation_id):
        problems.append("the creation event's key is not the key the contract holds")
    return Retally(
        consultation_id=consultation_id,
        options=info.options,
        tally=tuple(tally),
        contract_tally=state.tally,
        finalized_tally=finalized_tally,
        issued=len(entries),
        committed=len(commitments),
        revealed=len(revealed),
        unrevealed_keys=tuple(k for k in commitments if k not in revealed),
        problems=tuple(problems),
    )


def _ring_ballots(
    problems: list[str], info: ConsultationInfo, events: ConsultationEvents
) -> dict[str, bytes]:
    """The counted ballots' commitments by voting key: valid, first per key image."""
    try:
        keys = registered_keys(events.issued)
    except VotingError as e:
        problems.append(str(e))
        return {}
    if len(set(keys)) != len(keys):
        problems.append("a ballot key was recorded for two roll entries")
    for number, key in enumerate(keys):
        if not ring.is_point(key):
            problems.append(
                f"ballot key {number} (roll entry 0x"
                f"{bytes(events.issued[number].args['rollEntry']).hex()}) is not a "
                "point of secp256k1: no ring holding it verifies"
            )
    size = info.ring_for(len(keys))
    commitments: dict[str, bytes] = {}
    images: dict[bytes, str] = {}
    for event in events.committed:
        args = event.args
        key = args["votingKey"]  # checksummed by the decoder
        where = f"ballot of {key} (block {event.block_number})"
        if key in commitments:
            problems.append(f"{where}: a second ballot for the same voting key")
            continue
        reason = verify_ballot(info.scope, keys, event)
        if reason is None and len(args["ring"]) != size:
            reason = f"its ring holds {len(args['ring'])} keys, not {size}"
        if reason is not None:
            problems.append(f"{where}: not counted: {reason}")
            continue
        image = bytes(args["keyImage"])
        if image in images:
            problems.append(
                f"{where}: not counted: a second ballot by one ballot key (its key "
                f"image is the ballot of {images[image]}'s)"
            )
            continue
        images[image] = key
        commitments[key] = bytes(args["commitment"])
    return commitments


def _rsa_ballots(
    problems: list[str],
    info: ConsultationInfo,
    events: ConsultationEvents,
    issued: int,
) -> dict[str, bytes]:
    """The counted ballots' commitments by voting key: credential valid, key fresh."""
    scope = info.scope
    verifier = blind_rsa.Verifier(info.public_key)
    commitments: dict[str, bytes] = {}
    for event in events.committed:
        args = event.args
        key = args["votingKey"]  # checksummed by the decoder
        where = f"ballot of {key} (block {event.block_number})"
        if key in commitments:
            problems.append(f"{where}: a second ballot for the same voting key")
            continue
        message = blind_rsa.PreparedMessage(
            bytes(args["messagePrefix"]), credential_message(scope, key)
        )
        if not verifier.verify(message, bytes(args["credential"])):
            problems.append(f"{where}: its credential does not verify")
            continue
        commitments[key] = bytes(args["commitment"])
    if len(commitments) > issued:
        problems.append(
            f"over-issuance: {len(commitments)} valid ballots for {issued} "
            f"recorded credentials; the registrar's key signed at least "
            f"{len(commitments) - issued} credential(s) off the record"
        )

    return commitments


def verify_tally(contract: ConsultationContract, consultation_id: int) -> Retally:
    """:func:`retally`, raising :class:`TallyMismatchError` unless all checks out."""
    result = retally(contract, consultation_id)
    if not result.matches:
        raise TallyMismatchError(consultation_id, result.problems)
    return result


def _check_requests(
    problems: list[str],
    scope: BallotScope,
    issued: tuple[ChainEvent, ...],
    *,
    ring: bool,
) -> None:
    """Every recorded credential was asked for, once, by the roll key it names."""
    requesters: set[str] = set()
    requests: set[bytes] = set()
    for event in issued:
        args = event.args
        where = f"credential of roll entry 0x{bytes(args['rollEntry']).hex()}"
        requester = args["requester"]  # checksummed by the decoder
        if ring:
            blinded = keccak(bytes(args["ballotKey"]))
            signer = key_request_signer(scope, blinded, bytes(args["requestSignature"]))
        else:
            blinded = bytes(args["blindedMessageHash"])
            signer = request_signer(scope, blinded, bytes(args["requestSignature"]))
        if signer != requester:
            problems.append(
                f"{where} (block {event.block_number}): its request is not signed "
                f"by the roll key {requester}"
            )
        if requester in requesters:
            problems.append(f"{where}: roll key {requester} holds a second credential")
        if blinded in requests:
            problems.append(f"{where}: the same request was recorded twice")
        requesters.add(requester)
        requests.add(blinded)


def _compare(problems: list[str], what: str, ours: object, contracts: object) -> None:
    if ours != contracts:
        problems.append(f"{what}: {ours} from events, {contracts} in the contract")
