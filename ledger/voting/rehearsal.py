"""A consultation rehearsed in one process: registrar, residents, an abuser, an auditor.

:func:`rehearse_consultation` plays every part on one development chain (the
embedded py-evm chain or anvil; it moves the chain's clock between windows):

1. the admin deploys Roles and Consultation and makes one account registrar;
2. each resident makes a roll key; the registrar builds the roll (the
   residents plus Mallory, an eligible resident who tries to cheat) and opens
   the consultation, with ring credentials (or, ``ring_size=0``, blind RSA
   credentials under a fresh key);
3. each resident who takes part asks for a credential with a request signed
   by their roll key, and the registrar records it: the resident's ballot key
   (or, blind RSA, a blinded message that the registrar then signs and the
   resident unblinds and verifies);
4. in the commit window each commits a seeded random choice through a relayer
   and keeps a receipt; some residents may abstain, some never reveal;
5. in the reveal window they reveal; the consultation is finalized;
6. every receipt is checked, and the auditor re-tallies from events alone.

Along the way every abuse of the rules is attempted (:data:`ABUSES`: windows,
double votes, ineligible and forged credentials, credentials recorded for
residents who never asked, malformed proofs, bad reveals, unknown options...)
and must be rejected by the contract with the expected reason — or, for the
ring-credential ballots the contract cannot judge (a signature by a key never
recorded, a second ballot by one key), be named by the public re-tally and
left uncounted. The :class:`RehearsalReport` says whether everything held.

(A *rehearsal*, not a simulation: every transaction is real, on a real EVM;
only the people are played by this module.)
"""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from Crypto.PublicKey import RSA
from eth_account import Account
from hexbytes import HexBytes

from fedgov.errors import ConfigurationError
from ledger.chain_roles import Roles
from ledger.errors import ContractRevertError
from ledger.records import Role
from ledger.voting import blind_rsa, resident
from ledger.voting._clock import advance_to, latest_timestamp
from ledger.voting.ballot import (
    commitment,
    fresh_salt,
    sign_authorization,
    sign_key_request,
    sign_request,
)
from ledger.voting.consultation import ConsultationContract
from ledger.voting.receipt import check_receipt
from ledger.voting.registrar import Registrar, generate_credential_key
from ledger.voting.resident import RollKey
from ledger.voting.ring import BallotKeyPair, RingSignature
from ledger.voting.ring_ballot import choose_ring, registered_keys, sign_ballot
from ledger.voting.roll import Roll, RollProof
from ledger.voting.tally import retally

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from eth_account.signers.local import LocalAccount
    from web3.types import TxReceipt

    from ledger.chain import Chain
    from ledger.voting.consultation import ConsultationInfo
    from ledger.voting.receipt import Receipt
    from ledger.voting.resident import Wallet
    from ledger.voting.tally import Retally

__all__ = [
    "ABUSES",
    "DEFAULT_OPTIONS",
    "DEFAULT_QUESTION",
    "DEFAULT_RING_SIZE",
    "Abuse",
    "GasUse",
    "RehearsalReport",
    "Rejection",
    "rehearse_consultation",
]

DEFAULT_QUESTION = "Should the old mill become a community centre?"
DEFAULT_OPTIONS = ("yes", "no", "no opinion")
ISSUANCE_S = 3_600
COMMIT_S = 86_400
REVEAL_S = 86_400
MALLORY = "mallory"
DEFAULT_RING_SIZE = 16
"""Keys a ring: each ballot's anonymity set, ~1,500 gas a member (docs/voting.md)."""
RING = "ring"
BLIND_RSA = "blind RSA"


@dataclass(frozen=True)
class Rejection:
    """One abuse attempt and what came of it."""

    abuse: str
    expected: str
    reason: str | None
    """The contract's revert reason, or the re-tally's problem naming the
    ballot; ``None`` if nothing refused or named it."""
    ballot: str | None = None
    """The voting key of a ballot sent on chain for the re-tally to catch."""

    @property
    def rejected_as_expected(self) -> bool:
        return self.reason is not None and self.expected in self.reason


@dataclass(frozen=True)
class GasUse:
    """Mean gas per transaction of each kind."""

    issuance: float
    commit: float
    reveal: float

    @property
    def per_ballot(self) -> float:
        """Credential record + commit + reveal: what one counted ballot costs."""
        return self.issuance + self.commit + self.reveal


@dataclass(frozen=True)
class RehearsalReport:
    """What happened in a rehearsed consultation, and whether it all held."""

    endpoint: str
    contract: str
    consultation_id: int
    question: str
    options: tuple[str, ...]
    residents: int
    credentials: int
    ballots: int
    reveals: int
    expected_tally: tuple[int, ...]
    """Ground truth: the honest residents' revealed choices, counted directly."""
    tally: tuple[int, ...]
    """The contract's final tally."""
    retally: Retally
    receipts_ok: int
    receipt_problems: tuple[str, ...]
    """Receipts that did not check out as they should (with whose)."""
    rejections: tuple[Rejection, ...]
    gas: GasUse
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per phase."""

    @property
    def caught(self) -> tuple[str, ...]:
        """Voting keys of the abusive ballots sent on chain for the re-tally to catch."""
        return tuple(r.ballot for r in self.rejections if r.ballot is not None)

    @property
    def unexplained(self) -> tuple[str, ...]:
        """Re-tally problems that no caught ballot explains (must be none).

        Caught ballots are on chain, so the contract's ballot count includes them.
        """
        return tuple(
            p
            for p in self.retally.problems
            if not any(key in p for key in self.caught)
            and not (self.caught and p.startswith("committed count: "))
        )

    @property
    def ok(self) -> bool:
        return (
            self.tally == self.expected_tally
            and not self.unexplained
            and self.retally.tally == self.expected_tally
            and not self.receipt_problems
            and all(r.rejected_as_expected for r in self.rejections)
        )

    def summary(self) -> str:
        """The outcome in a few lines: counts, tally, re-tally, receipts, abuse, gas."""
        rejected = sum(r.rejected_as_expected for r in self.rejections)
        if self.unexplained or self.retally.tally != self.expected_tally:
            verdict = "DOES NOT MATCH"
        elif self.caught:
            verdict = f"matches, {len(self.caught)} abusive ballots named, not counted"
        else:
            verdict = "matches"
        lines = [
            f"{self.residents} residents, {self.credentials} credentials, "
            f"{self.ballots} ballots, {self.reveals} reveals; "
            f"tally {self.tally}, ground truth {self.expected_tally}; "
            f"re-tally {verdict}; "
            f"{self.receipts_ok} receipts check out; "
            f"{rejected} of {len(self.rejections)} abuses rejected as expected",
            f"gas: credential record {self.gas.issuance:,.0f}, commit "
            f"{self.gas.commit:,.0f}, reveal {self.gas.reveal:,.0f}, per ballot "
            f"{self.gas.per_ballot:,.0f}",
        ]
        lines += [f"receipt problem: {problem}" for problem in self.receipt_problems]
        lines.append("OK" if self.ok else "FAILED")
        return "\n".join(lines)


@dataclass
class _Run:
    """The state the phases and abuse attempts share."""

    chain: Chain
    contract: ConsultationContract
    registrar: Registrar
    registrar_account: LocalAccount
    relayer: LocalAccount
    outsider: LocalAccount
    info: ConsultationInfo
    roll_keys: dict[str, RollKey]
    mallory: Wallet | None = None
    honest: list[tuple[str, Wallet]] = field(default_factory=list)
    gas: dict[str, list[int]] = field(
        default_factory=lambda: {"issuance": [], "commit": [], "reveal": []}
    )

    def attempt(self, abuse: Abuse) -> Rejection:
        try:
            sent = abuse.attempt(self)
        except ContractRevertError as e:
            return Rejection(abuse.name, abuse.expected, e.reason)
        ballot = str(sent) if abuse.retally else None
        return Rejection(abuse.name, abuse.expected, None, ballot=ballot)


@dataclass(frozen=True)
class Abuse:
    """An attempt to break a rule, made in ``phase``; the contract must refuse it."""

    name: str
    phase: str
    expected: str
    """A substring of the revert reason that refusing it must give (or of the
    re-tally's problem naming the ballot, with ``retally``)."""
    attempt: Callable[[_Run], object]
    credentials: str | None = None
    """``RING`` or ``BLIND_RSA``: attempted with that kind only."""
    retally: bool = False
    """Sent on chain, where the contract cannot judge it: ``attempt`` returns
    the ballot's voting key, and the re-tally must name it and not count it."""


def rehearse_consultation(
    chain: Chain,
    *,
    residents: int = 50,
    seed: int = 0,
    question: str = DEFAULT_QUESTION,
    options: Sequence[str] = DEFAULT_OPTIONS,
    abstain: int = 0,
    no_reveal: int = 0,
    abuses: bool = True,
    ring_size: int = DEFAULT_RING_SIZE,
    progress: Callable[[str], None] | None = None,
) -> RehearsalReport:
    """Rehearse a consultation of ``residents`` played residents on ``chain``.

    Ring credentials of ``ring_size`` keys a ring; ``ring_size=0``: blind RSA.

    ``abstain`` residents never ask for a credential and ``no_reveal`` commit
    but never reveal (both drawn with ``seed``, like the choices). The chain
    must be a development chain whose clock can be moved, with at least four
    funded accounts: admin, registrar, relayer, outsider.
    """
    if residents < 1:
        raise ConfigurationError("residents", f"must be at least 1, got {residents}")
    if not 0 <= abstain <= residents or not 0 <= no_reveal <= residents - abstain:
        raise ConfigurationError(
            "abstain/no_reveal",
            f"need 0 <= abstain <= residents and 0 <= no_reveal <= residents - "
            f"abstain, got {abstain} and {no_reveal} of {residents}",
        )
    if len(chain.accounts) < 4:
        raise ConfigurationError("chain", "needs at least 4 funded accounts")
    say = progress or (lambda _line: None)
    rng = random.Random(seed)
    names = [f"resident-{i:04d}" for i in range(residents)]
    voters = rng.sample(names, residents - abstain)
    silent = set(rng.sample(voters, no_reveal))
    choices = {name: rng.randrange(len(options)) for name in voters}
    seconds: dict[str, float] = {}

    clock = time.perf_counter()
    run = _set_up(chain, names, question, options, ring_size, say)
    seconds["setup"] = time.perf_counter() - clock
    rejections = _attempt_all(run, "issuance", abuses, say)

    clock = time.perf_counter()
    say(f"issuance: {len(voters)} residents request credentials")
    for name in voters:
        run.honest.append((name, _certify(run, name)))
    if abuses:
        run.mallory = _certify(run, MALLORY)
    seconds["issuance"] = time.perf_counter() - clock
    rejections += _attempt_all(run, "credentialed", abuses, say)

    clock = time.perf_counter()
    advance_to(chain, run.info.commit_start)
    say(f"commit window open: {len(run.honest)} ballots")
    receipts: dict[str, Receipt] = {}
    for i, (name, wallet) in enumerate(run.honest):
        wallet, receipt = resident.cast_ballot(
            run.contract, wallet, run.info, choices[name], relayer=run.relayer
        )
        run.honest[i] = (name, wallet)
        receipts[name] = receipt
        run.gas["commit"].append(_gas_of(run, receipt.transaction_hash))
    seconds["commit"] = time.perf_counter() - clock
    rejections += _attempt_all(run, "commit", abuses, say)
    if abuses:
        _mallory_commits_unknown_option(run)
        say("  Mallory commits a valid ballot for an option that does not exist")
        rejections += _attempt_all(run, "committed", abuses, say)

    clock = time.perf_counter()
    advance_to(chain, run.info.commit_end)
    say(f"reveal window open: {len(run.honest) - len(silent)} reveals")
    for i, (name, wallet) in enumerate(run.honest):
        if name not in silent:
            wallet, mined = resident.reveal_ballot(
                run.contract, wallet, relayer=run.relayer
            )
            run.honest[i] = (name, wallet)
            run.gas["reveal"].append(int(mined["gasUsed"]))
    seconds["reveal"] = time.perf_counter() - clock
    rejections += _attempt_all(run, "reveal", abuses, say)

    clock = time.perf_counter()
    advance_to(chain, run.info.reveal_end)
    run.contract.finalize(run.info.consultation_id, sender=run.registrar_account)
    state = run.contract.state(run.info.consultation_id)
    say(f"finalized: tally {dict(zip(options, state.tally, strict=True))}")
    receipts_ok, receipt_problems = _check_receipts(run, receipts, silent, say)
    audit = retally(run.contract, run.info.consultation_id)
    rejections = [_named(r, audit.problems) for r in rejections]
    caught = [r for r in rejections if r.ballot is not None]
    for rejection in caught:
        outcome = (
            f"named: {rejection.reason}"
            if rejection.rejected_as_expected
            else "NOT NAMED AS EXPECTED"
        )
        say(f"  abuse '{rejection.abuse}': {outcome}")
    unexplained = [
        p
        for p in audit.problems
        if not any(str(r.ballot) in p for r in caught)
        and not (caught and p.startswith("committed count: "))
    ]
    say(
        "auditor re-tally from events: "
        + (
            "MISMATCH: " + "; ".join(unexplained)
            if unexplained
            else "matches"
            + (f" ({len(caught)} abusive ballots named, not counted)" if caught else "")
        )
    )
    seconds["audit"] = time.perf_counter() - clock

    expected = [0] * len(options)
    for name in voters:
        if name not in silent:
            expected[choices[name]] += 1
    return RehearsalReport(
        endpoint=chain.endpoint,
        contract=run.contract.address,
        consultation_id=run.info.consultation_id,
        question=question,
        options=tuple(options),
        residents=residents,
        credentials=state.issued,
        ballots=state.committed,
        reveals=state.revealed,
        expected_tally=tuple(expected),
        tally=state.tally,
        retally=audit,
        receipts_ok=receipts_ok,
        receipt_problems=receipt_problems,
        rejections=tuple(rejections),
        gas=GasUse(**{kind: _mean(values) for kind, values in run.gas.items()}),
        seconds=seconds,
    )


def _named(rejection: Rejection, problems: Sequence[str]) -> Rejection:
    """A ballot left for the re-tally, with the problem that names it (if any)."""
    if rejection.ballot is None:
        return rejection
    naming = [p for p in problems if rejection.ballot in p and rejection.expected in p]
    return dataclasses.replace(rejection, reason=naming[0] if naming else None)


def _set_up(
    chain: Chain,
    names: list[str],
    question: str,
    options: Sequence[str],
    ring_size: int,
    say: Callable[[str], None],
) -> _Run:
    admin, registrar_account, relayer, outsider = chain.accounts[:4]
    roles = Roles.deploy(chain, admin=admin)
    roles.grant(registrar_account.address, Role.REGISTRAR, sender=admin)
    contract = ConsultationContract.deploy(chain, roles, sender=admin)
    say(f"deployed Roles at {roles.address}, Consultation at {contract.address}")
    roll_keys = {name: RollKey.generate() for name in [*names, MALLORY]}
    roll = Roll.build((name, key.address) for name, key in roll_keys.items())
    registrar = Registrar(
        contract,
        account=registrar_account,
        roll=roll,
        key=None if ring_size else generate_credential_key(),
    )
    now = latest_timestamp(chain)
    info = registrar.open(
        question=question,
        options=options,
        ring_size=ring_size,
        commit_start=now + ISSUANCE_S,
        commit_end=now + ISSUANCE_S + COMMIT_S,
        reveal_end=now + ISSUANCE_S + COMMIT_S + REVEAL_S,
    )
    say(
        f"registrar opened consultation {info.consultation_id}: {question!r} "
        f"({', '.join(options)}), roll of {roll.size}, root 0x{roll.root.hex()[:16]}..., "
        + (
            f"ring credentials, rings of {ring_size}"
            if ring_size
            else "blind RSA credentials"
        )
    )
    return _Run(
        chain=chain,
        contract=contract,
        registrar=registrar,
        registrar_account=registrar_account,
        relayer=relayer,
        outsider=outsider,
        info=info,
        roll_keys=roll_keys,
    )


def _certify(run: _Run, name: str) -> Wallet:
    if run.info.ring_credentials:
        wallet, key_request = resident.request_ballot_key(run.info, run.roll_keys[name])
        recorded = run.registrar.record(run.info, name, key_request)
        run.gas["issuance"].append(_gas_of(run, recorded.transaction_hash))
        return wallet
    wallet, request = resident.request_credential(run.info, run.roll_keys[name])
    issued = run.registrar.issue(run.info, name, request)
    run.gas["issuance"].append(_gas_of(run, issued.transaction_hash))
    return resident.accept_credential(wallet, run.info, issued.blind_signature)


def _check_receipts(
    run: _Run,
    receipts: dict[str, Receipt],
    silent: set[str],
    say: Callable[[str], None],
) -> tuple[int, tuple[str, ...]]:
    ok = 0
    problems: list[str] = []
    for name, receipt in receipts.items():
        checked = check_receipt(run.contract, receipt)
        if name in silent:
            # An unrevealed ballot must be reported as recorded but not counted.
            if not (checked.recorded and not checked.revealed and not checked.ok):
                problems.append(f"{name} (never revealed): {checked}")
        elif checked.ok and checked.recorded and checked.counted:
            ok += 1
        else:
            problems.append(f"{name}: {'; '.join(checked.problems)}")
    say(
        f"receipts: {ok} of {len(receipts) - len(silent)} revealed ballots recorded "
        f"and counted; {len(silent)} reported as never revealed"
    )
    return ok, tuple(problems)


def _attempt_all(
    run: _Run, phase: str, enabled: bool, say: Callable[[str], None]
) -> list[Rejection]:
    if not enabled:
        return []
    kind = RING if run.info.ring_credentials else BLIND_RSA
    results = []
    for abuse in ABUSES:
        if abuse.phase == phase and abuse.credentials in (None, kind):
            rejection = run.attempt(abuse)
            if rejection.ballot is not None:
                outcome = "sent on chain, for the re-tally to name"
            elif rejection.rejected_as_expected:
                outcome = f"rejected: {rejection.reason}"
            else:
                outcome = f"NOT REJECTED AS EXPECTED ({rejection.reason})"
            say(f"  abuse '{abuse.name}': {outcome}")
            results.append(rejection)
    return results


def _gas_of(run: _Run, transaction_hash: bytes) -> int:
    # Just mined, so at the head: py-evm finds it without scanning history.
    mined = run.chain.w3.eth.get_transaction_receipt(HexBytes(transaction_hash))
    return int(mined["gasUsed"])


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


# -- the abuse attempts -----------------------------------------------------------


def _commit_as(
    run: _Run,
    wallet: Wallet,
    *,
    choice: int = 0,
    salt: bytes | None = None,
    voting_account: LocalAccount | None = None,
    credential: bytes | None = None,
    authorize_other: bool = False,
    members: Sequence[int] | None = None,
    signature: RingSignature | None = None,
) -> TxReceipt:
    """A commit built by hand, so that any part of it can be wrong."""
    scope = run.info.scope
    account = voting_account or wallet.account
    ballot = commitment(scope, account.address, choice, salt or fresh_salt())
    signed = (
        commitment(scope, account.address, choice, fresh_salt())
        if authorize_other
        else ballot
    )
    if run.info.ring_credentials:
        keys = registered_keys(run.contract.events(scope.consultation_id).issued)
        pair = BallotKeyPair(wallet.ballot_secret or b"")
        ring = members or choose_ring(keys, pair.public, run.info.ring_for(len(keys)))
        if signature is None:
            signature = sign_ballot(scope, keys, ring, pair, account.address)
        return run.contract.commit_ring(
            scope.consultation_id,
            voting_key=account.address,
            commitment=ballot,
            ring=ring,
            signature=signature,
            authorization=sign_authorization(scope, account, signed),
            sender=run.relayer,
        )
    if wallet.credential is None:
        raise ConfigurationError("wallet", "holds no credential")
    return run.contract.commit(
        scope.consultation_id,
        voting_key=account.address,
        commitment=ballot,
        message_prefix=wallet.message_prefix,
        credential=wallet.credential if credential is None else credential,
        modulus=run.info.modulus,
        authorization=sign_authorization(scope, account, signed),
        sender=run.relayer,
    )


def _mallory(run: _Run) -> Wallet:
    if run.mallory is None:
        raise ConfigurationError("mallory", "has no credential in this phase")
    return run.mallory


def _forged_credential(run: _Run) -> Wallet:
    """A credential for a fresh key, signed with a key that is not the registrar's."""
    forger_key = RSA.generate(2048)
    forger_info = dataclasses.replace(
        run.info, modulus=forger_key.n.to_bytes(256, "big")
    )
    while True:
        wallet, _request = resident.request_credential(
            forger_info, run.roll_keys[MALLORY]
        )
        forged = resident.accept_credential(
            wallet,
            forger_info,
            blind_rsa.blind_sign(forger_key, wallet.blinded_message),
        )
        # Below the registrar's modulus, so that only the signature check can fail.
        if int.from_bytes(forged.credential or b"", "big") < run.info.public_key.n:
            return forged


def _record(run: _Run, proof: RollProof, signer: LocalAccount) -> object:
    """The registrar records an issuance by hand, the request signed by ``signer``."""
    if run.info.ring_credentials:
        key = BallotKeyPair.generate().public
        return run.contract.register_ballot_key(
            run.info.consultation_id,
            proof,
            ballot_key=key,
            request_signature=sign_key_request(run.info.scope, signer, key),
            sender=run.registrar_account,
        )
    blinded = b"\x00"
    return run.contract.record_issuance(
        run.info.consultation_id,
        proof,
        blinded_message=blinded,
        request_signature=sign_request(run.info.scope, signer, blinded),
        sender=run.registrar_account,
    )


def _issue_off_roll(run: _Run) -> object:
    """The registrar records a credential for an entry that is not on the roll."""
    real = run.registrar.roll.proof(MALLORY)
    fake = dataclasses.replace(real, entry=b"\x42" * 32)
    return _record(run, fake, run.roll_keys[MALLORY].account)


def _issue_malformed_proof(run: _Run) -> object:
    real = run.registrar.roll.proof(MALLORY)
    short = dataclasses.replace(real, path=real.path[:-1])
    return _record(run, short, run.roll_keys[MALLORY].account)


def _issue_unasked(run: _Run) -> object:
    """The registrar records a credential for a resident who never asked.

    It holds no resident's roll key, so it signs the request itself.
    """
    absent = next(name for name in run.roll_keys if name != MALLORY)
    return _record(run, run.registrar.roll.proof(absent), run.registrar_account)


def _issue_again(run: _Run) -> object:
    if run.info.ring_credentials:
        _wallet, key_request = resident.request_ballot_key(
            run.info, run.roll_keys[MALLORY]
        )
        return run.registrar.record(run.info, MALLORY, key_request)
    _wallet, request = resident.request_credential(run.info, run.roll_keys[MALLORY])
    return run.registrar.issue(run.info, MALLORY, request)


def _create_as_outsider(run: _Run) -> object:
    now = latest_timestamp(run.chain)
    return run.contract.create(
        question="Who decides?",
        options=("me", "me too"),
        eligibility_root=run.info.eligibility_root,
        roll_size=run.info.roll_size,
        ring_size=DEFAULT_RING_SIZE,
        commit_start=now + 100,
        commit_end=now + 200,
        reveal_end=now + 300,
        sender=run.outsider,
    )


def _reveal_mallory(run: _Run, *, choice: int, salt: bytes | None = None) -> object:
    wallet = _mallory(run)
    if wallet.salt is None:
        raise ConfigurationError("mallory", "has committed no ballot")
    return run.contract.reveal(
        run.info.consultation_id,
        voting_key=wallet.voting_address,
        choice=choice,
        salt=wallet.salt if salt is None else salt,
        sender=run.relayer,
    )


def _mallory_commits_unknown_option(run: _Run) -> None:
    """Mallory's real ballot: a valid commit, to an option that does not exist."""
    wallet = _mallory(run)
    choice, salt = len(run.info.options) + 7, fresh_salt()
    mined = _commit_as(run, wallet, choice=choice, salt=salt)
    run.mallory = dataclasses.replace(
        wallet,
        choice=choice,
        salt=salt,
        commitment=commitment(run.info.scope, wallet.voting_address, choice, salt),
    )
    run.gas["commit"].append(int(mined["gasUsed"]))


def _recorded(run: _Run) -> tuple[tuple[bytes, ...], int]:
    """The recorded ballot keys, and how many a ring holds."""
    keys = registered_keys(run.contract.events(run.info.consultation_id).issued)
    return keys, run.info.ring_for(len(keys))


def _unsigned(members: Sequence[int]) -> RingSignature:
    """A signature of the right shape that signs nothing (for the contract's checks)."""
    return RingSignature(BallotKeyPair.generate().public, 1, (1,) * len(members))


def _bad_ring(run: _Run, members: Sequence[int]) -> TxReceipt:
    return _commit_as(run, _mallory(run), members=members, signature=_unsigned(members))


def _ballot_by_unrecorded_key(run: _Run) -> str:
    """The registrar's ballot: signed with a key it holds, never recorded."""
    keys, size = _recorded(run)
    ring = tuple(range(size))
    forged = BallotKeyPair.generate()
    voting = Account.create()
    fake_keys = [*keys]
    fake_keys[ring[0]] = forged.public
    signature = sign_ballot(run.info.scope, fake_keys, ring, forged, voting.address)
    _commit_as(
        run, _mallory(run), voting_account=voting, members=ring, signature=signature
    )
    return str(voting.address)


def _second_ballot_by_one_key(run: _Run) -> str:
    """Mallory again, with a fresh voting key: the same ballot key, the same image."""
    voting = Account.create()
    _commit_as(run, _mallory(run), voting_account=voting)
    return str(voting.address)


def _reused_signature(run: _Run) -> str:
    """Mallory's ring signature, copied onto a ballot of another voting key."""
    wallet = _mallory(run)
    keys, _size = _recorded(run)
    pair = BallotKeyPair(wallet.ballot_secret or b"")
    ring = choose_ring(keys, pair.public, run.info.ring_for(len(keys)))
    signature = sign_ballot(run.info.scope, keys, ring, pair, wallet.voting_address)
    voting = Account.create()
    _commit_as(run, wallet, voting_account=voting, members=ring, signature=signature)
    return str(voting.address)


def _reveal_again(run: _Run) -> object:
    """Reveal an honest resident's ballot a second time."""
    for _name, wallet in run.honest:
        if wallet.revealed and wallet.choice is not None and wallet.salt is not None:
            return run.contract.reveal(
                run.info.consultation_id,
                voting_key=wallet.voting_address,
                choice=wallet.choice,
                salt=wallet.salt,
                sender=run.relayer,
            )
    raise ConfigurationError("residents", "none has revealed a ballot")


ABUSES: tuple[Abuse, ...] = (
    Abuse(
        "open a consultation without the registrar role",
        "issuance",
        "caller is not a registrar",
        _create_as_outsider,
    ),
    Abuse(
        "finalize before the reveal window closed",
        "issuance",
        "reveal window has not closed",
        lambda run: run.contract.finalize(
            run.info.consultation_id, sender=run.outsider
        ),
    ),
    Abuse(
        "record a credential for someone not on the roll",
        "issuance",
        "resident is not on the roll",
        _issue_off_roll,
    ),
    Abuse(
        "record a credential with a malformed roll proof",
        "issuance",
        "malformed roll proof",
        _issue_malformed_proof,
    ),
    Abuse(
        "record a credential for a resident who never asked",
        "issuance",
        "request is not signed by the resident's roll key",
        _issue_unasked,
    ),
    Abuse(
        "obtain a second credential",
        "credentialed",
        "resident already holds a credential",
        _issue_again,
    ),
    Abuse(
        "commit before the commit window opens",
        "credentialed",
        "commit window is not open",
        lambda run: _commit_as(run, _mallory(run)),
    ),
    Abuse(
        "issue a credential after the commit window opened",
        "commit",
        "issuance closed when the commit window opened",
        _issue_again,
    ),
    Abuse(
        "commit with a forged credential (signed with another RSA key)",
        "commit",
        "credential does not verify under the registrar's key",
        lambda run: _commit_as(run, _forged_credential(run)),
        credentials=BLIND_RSA,
    ),
    Abuse(
        "reuse a credential for another voting key",
        "commit",
        "credential does not verify under the registrar's key",
        lambda run: _commit_as(run, _mallory(run), voting_account=Account.create()),
        credentials=BLIND_RSA,
    ),
    Abuse(
        "commit with a malformed credential (255 bytes)",
        "commit",
        "credential must be 256 bytes",
        lambda run: _commit_as(run, _mallory(run), credential=b"\x01" * 255),
        credentials=BLIND_RSA,
    ),
    Abuse(
        "commit with a credential above the modulus",
        "commit",
        "credential is not below the modulus",
        lambda run: _commit_as(run, _mallory(run), credential=b"\xff" * 256),
        credentials=BLIND_RSA,
    ),
    Abuse(
        "relay a ballot with a swapped commitment",
        "commit",
        "ballot is not signed by its voting key",
        lambda run: _commit_as(run, _mallory(run), authorize_other=True),
    ),
    Abuse(
        "vote twice with the same credential",
        "committed",
        "this voting key has already cast a ballot",
        lambda run: _commit_as(run, _mallory(run)),
        credentials=BLIND_RSA,
    ),
    Abuse(
        "commit a ring of the wrong size",
        "commit",
        "the ring must hold min(ring size, registered keys) keys",
        lambda run: _bad_ring(run, tuple(range(_recorded(run)[1] - 1))),
        credentials=RING,
    ),
    Abuse(
        "commit a ring naming a key never recorded",
        "commit",
        "ring member was never registered",
        lambda run: _bad_ring(
            run,
            (
                *range(_recorded(run)[1] - 1),
                run.contract.state(run.info.consultation_id).issued,
            ),
        ),
        credentials=RING,
    ),
    Abuse(
        "vote twice with the same voting key",
        "committed",
        "this voting key has already cast a ballot",
        lambda run: _commit_as(run, _mallory(run)),
        credentials=RING,
    ),
    Abuse(
        "the registrar casts a ballot signed by a key it holds, never recorded",
        "committed",
        "its ring signature does not verify",
        _ballot_by_unrecorded_key,
        credentials=RING,
        retally=True,
    ),
    Abuse(
        "vote twice with the same ballot key (a fresh voting key)",
        "committed",
        "a second ballot by one ballot key",
        _second_ballot_by_one_key,
        credentials=RING,
        retally=True,
    ),
    Abuse(
        "reuse a ring signature for another voting key",
        "committed",
        "its ring signature does not verify",
        _reused_signature,
        credentials=RING,
        retally=True,
    ),
    Abuse(
        "reveal during the commit window",
        "committed",
        "reveal window is not open",
        lambda run: _reveal_mallory(run, choice=0),
    ),
    Abuse(
        "commit after the commit window closed",
        "reveal",
        "commit window is not open",
        lambda run: _commit_as(run, _mallory(run)),
    ),
    Abuse(
        "reveal a different choice than committed",
        "reveal",
        "reveal does not match the commitment",
        lambda run: _reveal_mallory(run, choice=0),
    ),
    Abuse(
        "reveal with a wrong salt",
        "reveal",
        "reveal does not match the commitment",
        lambda run: _reveal_mallory(
            run, choice=len(run.info.options) + 7, salt=fresh_salt()
        ),
    ),
    Abuse(
        "reveal an option that does not exist",
        "reveal",
        "unknown option",
        lambda run: _reveal_mallory(run, choice=len(run.info.options) + 7),
    ),
    Abuse(
        "reveal a ballot twice",
        "reveal",
        "ballot already revealed",
        _reveal_again,
    ),
    Abuse(
        "reveal a ballot nobody committed",
        "reveal",
        "no ballot committed for this voting key",
        lambda run: run.contract.reveal(
            run.info.consultation_id,
            voting_key=Account.create().address,
            choice=0,
            salt=fresh_salt(),
            sender=run.relayer,
        ),
    ),
)
