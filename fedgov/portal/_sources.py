"""Everything the portal reads from (or asks of) the rest of fedgov, in one place.

The portal is the top layer: it may import anything below it and nothing
imports it. Every such import is in this module, so that a change of the
product's layout is fixed here alone. What it offers:

- the chain and the contracts: :func:`open_chain`, :func:`load_account`,
  :class:`AnchorRegistry`, :class:`ConsultationContract`;
- audit logs, read-only and without rehashing (the writer keeps appending,
  :mod:`ledger.log_files`): :func:`actor_logs`, :func:`read_log_info`,
  :func:`read_rows`, :func:`read_record`, :func:`read_head_entries`,
  :func:`latest_checkpoint`, :func:`write_raw_export`; and the auditor,
  :func:`run_audit`;
- budgets: :func:`budget_statuses`;
- run folders: :func:`run_folder`;
- votes: receipts (:func:`parse_receipt`, :func:`check_receipt`), the
  re-tally (:func:`retally`), the registrar's desk (:func:`open_registrar`,
  :func:`parse_request`) and what the relayer checks before paying
  (:func:`ballot_problem`, :func:`ring_ballot_problem`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address

from auditor.verify import verify_audit
from fedgov.errors import ConfigurationError, FedgovError
from fedgov.protocol import Metric, Outcome
from fedgov.run_record import PROGRESS_FILE, QUERY_RESULT_FILE, RUN_RECORD_FILE
from ledger.anchor_registry import AnchoredHead, AnchorRegistry
from ledger.chain import Chain, account_from_key_file
from ledger.checkpoint import Checkpoint
from ledger.errors import (
    ChainError,
    ChainUnavailableError,
    ContractRevertError,
    LedgerError,
)
from ledger.export import write_export
from ledger.layout import coordinator_dir, find_logs
from ledger.log_files import (
    LogFileInfo,
    latest_signed_size,
    read_checkpoints,
    read_head_entries,
    read_log_info,
    read_record,
    read_rows,
)
from ledger.merkle import MerkleTree
from ledger.note import Note
from ledger.record_fields import (
    ENTRY_DEPARTMENT,
    ENTRY_QUERY,
    PHASE_QUERY,
    ROSTER_PREFIX,
)
from ledger.records import Action, Role
from ledger.voting import blind_rsa, ring_ballot
from ledger.voting.ballot import (
    BallotScope,
    authorization_signer,
    commitment,
    credential_message,
)
from ledger.voting.consultation import (
    MAX_RING,
    ChainEvent,
    ConsultationContract,
    ConsultationEvents,
    ConsultationInfo,
    ConsultationState,
    Phase,
)
from ledger.voting.errors import VotingError, VotingFileError
from ledger.voting.receipt import Receipt, ReceiptCheck, check_receipt
from ledger.voting.registrar import IssuedCredential, Registrar, load_credential_key
from ledger.voting.resident import BallotKeyRequest, CredentialRequest
from ledger.voting.ring import POINT_BYTES, RingSignature, is_point
from ledger.voting.ring_ballot import registered_keys
from ledger.voting.roll import Roll
from ledger.voting.tally import Retally, retally
from privacy.budget import BudgetStatus, open_budget_book

if TYPE_CHECKING:
    from collections.abc import Sequence

    from eth_account.signers.local import LocalAccount

    from fedgov.portal.settings import KeyFile

__all__ = [
    "ENTRY_DEPARTMENT",
    "ENTRY_QUERY",
    "MAX_RING",
    "PHASE_QUERY",
    "POINT_BYTES",
    "ROSTER_PREFIX",
    "RUN_FILES",
    "Action",
    "ActorLog",
    "AnchorRegistry",
    "AnchoredHead",
    "BallotKeyRequest",
    "BallotScope",
    "BudgetStatus",
    "Chain",
    "ChainError",
    "ChainEvent",
    "ChainUnavailableError",
    "ConsultationContract",
    "ConsultationEvents",
    "ConsultationInfo",
    "ConsultationState",
    "ContractRevertError",
    "Cosigned",
    "CredentialRequest",
    "FedgovError",
    "IssuedCredential",
    "LedgerError",
    "LogFileInfo",
    "MerkleTree",
    "Metric",
    "Outcome",
    "Phase",
    "Receipt",
    "ReceiptCheck",
    "Registrar",
    "Retally",
    "RingSignature",
    "Role",
    "RunFolder",
    "VotingError",
    "actor_logs",
    "ballot_problem",
    "budget_statuses",
    "check_receipt",
    "is_point",
    "latest_checkpoint",
    "latest_signed_size",
    "load_account",
    "load_passphrase",
    "open_chain",
    "open_registrar",
    "parse_receipt",
    "parse_request",
    "read_head_entries",
    "read_log_info",
    "read_record",
    "read_rows",
    "response_document",
    "retally",
    "reveal_problem",
    "ring_ballot_problem",
    "run_audit",
    "run_folder",
    "write_raw_export",
]


# -- the chain ----------------------------------------------------------------------


def open_chain(rpc_url: str, accounts: Sequence[LocalAccount] = ()) -> Chain:
    """The county's chain at ``rpc_url``, signing with ``accounts``."""
    return Chain.connect(rpc_url, accounts=accounts)


def load_account(key: KeyFile) -> LocalAccount:
    """The account in an encrypted keystore, its password from the environment."""
    password = os.environ.get(key.password_env)
    if password is None:
        raise ConfigurationError(
            key.password_env, f"is not set (the password of {key.path})"
        )
    return account_from_key_file(key.path, password)


def load_passphrase(env: str) -> str:
    """The credential key's passphrase, from environment variable ``env``."""
    passphrase = os.environ.get(env)
    if not passphrase:
        raise ConfigurationError(env, "must hold the credential key's passphrase")
    return passphrase


# -- audit logs, read from outside their writers -------------------------------------


@dataclass(frozen=True)
class ActorLog:
    """One actor's log file in a state folder, and whose it is."""

    path: Path
    role: Role
    """:attr:`Role.COORDINATOR` or :attr:`Role.DEPARTMENT`."""
    department: str
    """The department's folder name; ``""`` for the coordinator."""


def actor_logs(state_dirs: Sequence[Path]) -> list[ActorLog]:
    """Every actor log under the state folders: coordinators', then departments'."""
    found: list[ActorLog] = []
    for state_dir in state_dirs:
        coordinator = coordinator_dir(state_dir)
        for path in find_logs(state_dir):
            if path.parent == coordinator:
                found.append(ActorLog(path, Role.COORDINATOR, ""))
            else:
                found.append(ActorLog(path, Role.DEPARTMENT, path.parent.name))
    return found


@dataclass(frozen=True)
class Cosigned:
    """A log's newest checkpoint and who signed it besides the log."""

    tree_size: int
    checkpoints: int
    """How many checkpoints the log file stores."""
    cosigners: tuple[str, ...]
    """The key names on its other signatures: witnesses' names, as claimed.

    Not verified here: the portal holds no witness policy; ``fedgov audit
    verify --witness-policy`` checks the cosignatures and their quorum.
    """


def latest_checkpoint(log: Path) -> Cosigned | None:
    """The newest checkpoint the log stores (``None``: none, or unreadable)."""
    notes = read_checkpoints(log)
    if not notes:
        return None
    try:
        note = Note.parse(notes[-1])
        checkpoint = Checkpoint.parse(note.text)
    except LedgerError:
        return None
    names = {s.name for s in note.signatures if s.name != checkpoint.origin}
    return Cosigned(checkpoint.tree_size, len(notes), tuple(sorted(names)))


def write_raw_export(path: Path, log: Path) -> None:
    """An export file (docs/audit-log.md) of exactly what ``log`` stores.

    Unlike ``fedgov audit export`` nothing is checked first: an auditor gets
    a tampered log as it is, to see for themselves why it fails.
    """
    info = read_log_info(log)
    if info is None:
        raise LedgerError(f"{log}: the log is still being created")
    write_export(
        path,
        actor=info.actor,
        log_name=info.log_name,
        records=[row.data for row in read_rows(log, 0, info.size)],
        heads=read_head_entries(log),
        checkpoints=read_checkpoints(log),
    )


def run_audit(
    logs: Sequence[Path],
    *,
    chain: Chain,
    registry: str,
    roles: str | None,
    allow_unanchored: bool,
) -> dict[str, Any]:
    """``fedgov audit verify`` over ``logs``: its JSON report."""
    report = verify_audit(
        list(logs),
        chain=chain,
        registry=registry,
        roles=roles,
        allow_unanchored=allow_unanchored,
    )
    return report.to_json()


# -- budgets -----------------------------------------------------------------------------


def budget_statuses(state_dir: Path, *, key: str) -> list[BudgetStatus]:
    """Every department's budget, every dataset (``fedgov budget show``)."""
    statuses: list[BudgetStatus] = []
    for book_file in sorted((state_dir / "departments").glob("*/budget.ledger")):
        book = open_budget_book(state_dir, book_file.parent.name, key=key)
        statuses.extend(book.status(dataset) for dataset in book.datasets())
    return statuses


# -- run folders ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunFolder:
    """A job's run folder and what it holds so far."""

    path: Path
    run_record: dict[str, Any] | None
    """``run_record.json`` (written when a training job ends)."""
    query_result: dict[str, Any] | None
    """``query_result.json`` (written when a query is answered)."""
    progress: dict[str, Any] | None
    """``progress.json`` (rewritten by the coordinator after every round)."""


def _json_file(path: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        # Half-written files are renamed into place, so this is damage, not a race.
        return None
    return loaded if isinstance(loaded, dict) else None


RUN_FILES = (RUN_RECORD_FILE, QUERY_RESULT_FILE, PROGRESS_FILE)
"""The files of a run folder the portal reads."""


def run_folder(folder: Path) -> RunFolder | None:
    """What ``folder`` holds of a run; ``None`` if none of its files."""
    record, result, progress = (_json_file(folder / name) for name in RUN_FILES)
    if record is None and result is None and progress is None:
        return None
    return RunFolder(folder, record, result, progress)


# -- votes ---------------------------------------------------------------------------------


def _document(text: str, what: str) -> object:
    try:
        return json.loads(text)
    except ValueError as e:
        raise VotingFileError(what, f"not JSON: {e}") from None


def parse_receipt(text: str) -> Receipt:
    """A receipt as ``fedgov vote check`` reads it (raises VotingFileError)."""
    return Receipt.from_document(_document(text, "receipt"), source="receipt")


def parse_request(document: dict[str, Any]) -> CredentialRequest | BallotKeyRequest:
    """A credential or ballot-key request as ``fedgov vote issue`` reads it."""
    if document.get("format") == BallotKeyRequest.FORMAT:
        return BallotKeyRequest.from_document(document, source="request")
    return CredentialRequest.from_document(document, source="request")


def response_document(issued: IssuedCredential) -> dict[str, Any]:
    """The registrar's answer as ``fedgov vote issue --out`` writes it."""
    return issued.to_document()


def open_registrar(
    contract: ConsultationContract,
    *,
    account: LocalAccount,
    roll: Path,
    credential_key: Path | None,
    passphrase: str,
) -> Registrar:
    """The registrar of ``roll``, with its blind RSA credential key if given."""
    return Registrar(
        contract,
        account=account,
        roll=Roll.load(roll),
        key=None
        if credential_key is None
        else load_credential_key(credential_key, passphrase=passphrase),
    )


def ballot_problem(
    info: ConsultationInfo,
    *,
    voting_key: str,
    ballot_commitment: bytes,
    message_prefix: bytes,
    credential: bytes,
    authorization: bytes,
) -> str | None:
    """Why the contract would refuse this ballot's signature or credential.

    The relayer pays for every transaction it sends, refused or not, so it
    checks first what it can check off chain, as the contract will.
    """
    signer = authorization_signer(
        info.scope, voting_key, ballot_commitment, authorization
    )
    if signer != to_checksum_address(voting_key):
        return "ballot is not signed by its voting key"
    message = blind_rsa.PreparedMessage(
        message_prefix, credential_message(info.scope, voting_key)
    )
    if not blind_rsa.Verifier(info.public_key).verify(message, credential):
        return "the credential does not verify under the consultation's key"
    return None


def ring_ballot_problem(
    contract: ConsultationContract,
    info: ConsultationInfo,
    *,
    voting_key: str,
    ballot_commitment: bytes,
    ring: Sequence[int],
    signature: RingSignature,
    authorization: bytes,
) -> str | None:
    """Why this ring ballot would be refused or left uncounted.

    The contract checks the ring's shape but cannot verify the signature, and
    the re-tally counts one ballot per key image: a relayer that paid for a
    ballot the re-tally will not count would have paid for nothing, so it runs
    the re-tally's checks first (as ``fedgov vote commit`` does).
    """
    signer = authorization_signer(
        info.scope, voting_key, ballot_commitment, authorization
    )
    if signer != to_checksum_address(voting_key):
        return "ballot is not signed by its voting key"
    events = contract.events(info.consultation_id)
    keys = registered_keys(events.issued)
    size = info.ring_for(len(keys))
    if len(ring) != size:
        return f"its ring holds {len(ring)} keys, not {size}"
    reason = ring_ballot.ballot_problem(
        info.scope, keys, to_checksum_address(voting_key), ring, signature
    )
    if reason is not None:
        return reason
    for event in events.committed:
        if bytes(event.args["keyImage"]) == signature.key_image and (
            ring_ballot.verify_ballot(info.scope, keys, event) is None
        ):
            return "this ballot key has already cast a ballot"
    return None


def reveal_problem(
    contract: ConsultationContract,
    info: ConsultationInfo,
    *,
    voting_key: str,
    choice: int,
    salt: bytes,
) -> str | None:
    """Why the contract would refuse this reveal (checked before paying for it)."""
    held = contract.ballot(info.consultation_id, voting_key)
    if held.commitment is None:
        return "the contract holds no ballot for this voting key"
    if held.revealed:
        return "this ballot is revealed already"
    if commitment(info.scope, voting_key, choice, salt) != held.commitment:
        return "reveal does not match the commitment"
    if choice >= len(info.options):
        return "unknown option"
    return None
