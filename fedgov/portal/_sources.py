"""Everything the portal reads from (or asks of) the rest of fedgov, in one place.

The portal is the top layer: it may import anything below it and nothing
imports it. Every such import is in this module, so that a change of the
product's layout is fixed here alone. What it offers:

- the chain and the contracts: :func:`open_chain`, :func:`load_account`,
  :class:`AnchorRegistry`, :class:`ConsultationContract`;
- audit logs, read-only and without rehashing (the writer keeps appending):
  :func:`actor_logs`, :func:`read_log`, :func:`read_rows`,
  :func:`read_record`, :func:`read_signed_heads`, :func:`write_raw_export`;
  and the auditor, :func:`run_audit`;
- budgets: :func:`budget_statuses`;
- run folders: :func:`run_folder`;
- votes: receipts (:func:`parse_receipt`, :func:`check_receipt`), the
  re-tally (:func:`retally`), the registrar's desk (:func:`open_registrar`,
  :func:`parse_request`) and what the relayer checks before paying
  (:func:`ballot_problem`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address

from fedgov.errors import ConfigurationError, FedgovError
from ledger.anchor_registry import AnchoredHead, AnchorRegistry
from ledger.audit.layout import coordinator_dir, find_logs
from ledger.audit.verify import verify_audit
from ledger.chain import Chain, account_from_key_file
from ledger.errors import (
    ChainError,
    ChainUnavailableError,
    ContractRevertError,
    LedgerError,
)
from ledger.export import write_export
from ledger.merkle import MerkleTree
from ledger.records import Action
from ledger.tree_head import SignedTreeHead, SigningDomain, TreeHead, log_id_for
from ledger.voting import blind_rsa
from ledger.voting.ballot import (
    BallotScope,
    authorization_signer,
    commitment,
    credential_message,
)
from ledger.voting.consultation import (
    ConsultationContract,
    ConsultationEvents,
    ConsultationInfo,
    ConsultationState,
    Phase,
)
from ledger.voting.errors import VotingError, VotingFileError
from ledger.voting.receipt import Receipt, ReceiptCheck, check_receipt
from ledger.voting.registrar import IssuedCredential, Registrar, load_credential_key
from ledger.voting.resident import CredentialRequest
from ledger.voting.roll import Roll
from ledger.voting.tally import Retally, retally
from privacy.budget import BudgetStatus, department_ledger

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from eth_account.signers.local import LocalAccount

    from fedgov.portal.settings import KeyFile

__all__ = [
    "RUN_FILES",
    "Action",
    "ActorLog",
    "AnchorRegistry",
    "AnchoredHead",
    "BallotScope",
    "BudgetStatus",
    "Chain",
    "ChainError",
    "ChainUnavailableError",
    "ConsultationContract",
    "ConsultationEvents",
    "ConsultationInfo",
    "ConsultationState",
    "ContractRevertError",
    "CredentialRequest",
    "FedgovError",
    "HeadRow",
    "IssuedCredential",
    "LedgerError",
    "LogMeta",
    "MerkleTree",
    "Phase",
    "Receipt",
    "ReceiptCheck",
    "Registrar",
    "Retally",
    "RunFolder",
    "VotingError",
    "actor_logs",
    "ballot_problem",
    "budget_statuses",
    "check_receipt",
    "latest_signed_size",
    "load_account",
    "load_passphrase",
    "open_chain",
    "open_registrar",
    "parse_receipt",
    "parse_request",
    "read_log",
    "read_record",
    "read_rows",
    "read_signed_heads",
    "response_document",
    "retally",
    "reveal_problem",
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
    role: str
    """``coordinator`` or ``department``."""
    department: str
    """The department's folder name; ``""`` for the coordinator."""


def actor_logs(state_dirs: Sequence[Path]) -> list[ActorLog]:
    """Every actor log under the state folders: coordinators', then departments'."""
    found: list[ActorLog] = []
    for state_dir in state_dirs:
        coordinator = coordinator_dir(state_dir)
        for path in find_logs(state_dir):
            if path.parent == coordinator:
                found.append(ActorLog(path, "coordinator", ""))
            else:
                found.append(ActorLog(path, "department", path.parent.name))
    return found


@dataclass(frozen=True)
class LogMeta:
    """A log file's identity and size now."""

    actor: str
    log_name: str
    log_id: bytes
    size: int


@dataclass(frozen=True)
class HeadRow:
    """A signed tree head as the log file stores it."""

    tree_size: int
    root_hash: bytes
    timestamp_ms: int
    signer: str
    signature: bytes
    chain_id: int
    verifying_contract: str


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    # The store's schema is documented in docs/audit-log.md ("The store"); a
    # read-only connection never disturbs the process that appends, and the
    # portal does not rehash a log per request (the auditor does).
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as db:
            yield db
    except sqlite3.Error as e:
        raise LedgerError(f"{path}: cannot read the log: {e}") from e


def read_log(path: Path) -> LogMeta | None:
    """The log's identity and size; ``None`` while it is still being created."""
    with _read_only(path) as db:
        if not db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone():
            return None
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        (size,) = db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM records").fetchone()
    if "actor" not in meta or "log_name" not in meta:
        return None
    actor = to_checksum_address(str(meta["actor"]))
    log_name = str(meta["log_name"])
    return LogMeta(actor, log_name, log_id_for(actor, log_name), int(size))


def read_rows(path: Path, start: int, end: int) -> list[tuple[int, bytes, bytes]]:
    """``(index, record bytes, stored leaf hash)`` for records ``[start, end)``."""
    with _read_only(path) as db:
        rows = db.execute(
            "SELECT idx, data, leaf_hash FROM records WHERE idx >= ? AND idx < ? "
            "ORDER BY idx",
            (start, end),
        ).fetchall()
    return [(int(i), bytes(data), bytes(leaf)) for i, data, leaf in rows]


def read_record(path: Path, index: int) -> bytes | None:
    """The stored bytes of record ``index``."""
    with _read_only(path) as db:
        row = db.execute("SELECT data FROM records WHERE idx = ?", (index,)).fetchone()
    return None if row is None else bytes(row[0])


def read_signed_heads(path: Path) -> list[HeadRow]:
    """Every signed head the file stores, oldest first."""
    with _read_only(path) as db:
        rows = db.execute(
            "SELECT tree_size, root_hash, timestamp_ms, signer, signature, chain_id, "
            "verifying_contract FROM signed_heads ORDER BY seq"
        ).fetchall()
    return [
        HeadRow(
            int(size),
            bytes(root),
            int(timestamp),
            str(signer),
            bytes(signature),
            int(chain_id),
            str(contract),
        )
        for size, root, timestamp, signer, signature, chain_id, contract in rows
    ]


def latest_signed_size(path: Path) -> int | None:
    """The tree size of the log's newest signed head (``None``: none signed)."""
    with _read_only(path) as db:
        (size,) = db.execute("SELECT MAX(tree_size) FROM signed_heads").fetchone()
    return None if size is None else int(size)


def write_raw_export(path: Path, log: Path) -> None:
    """An export file (docs/audit-log.md) of exactly what ``log`` stores.

    Unlike ``fedgov audit export`` nothing is checked first: an auditor gets
    a tampered log as it is, to see for themselves why it fails.
    """
    meta = read_log(log)
    if meta is None:
        raise LedgerError(f"{log}: the log is still being created")
    rows = read_rows(log, 0, meta.size)
    heads = [
        (
            SignedTreeHead(
                TreeHead(meta.log_id, h.tree_size, h.root_hash, h.timestamp_ms),
                h.signer,
                h.signature,
            ),
            SigningDomain(h.chain_id, h.verifying_contract),
        )
        for h in read_signed_heads(log)
    ]
    write_export(
        path,
        actor=meta.actor,
        log_name=meta.log_name,
        records=[data for _, data, _ in rows],
        heads=heads,
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
    for ledger_file in sorted((state_dir / "departments").glob("*/budget.ledger")):
        ledger = department_ledger(state_dir, ledger_file.parent.name, key=key)
        statuses.extend(ledger.status(dataset) for dataset in ledger.datasets())
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


RUN_FILES = ("run_record.json", "query_result.json", "progress.json")
"""The files of a run folder the portal reads."""


def run_folder(folder: Path) -> RunFolder | None:
    """What ``folder`` holds of a run; ``None`` if none of its files."""
    record, result, progress = (_json_file(folder / name) for name in RUN_FILES)
    if record is None and result is None and progress is None:
        return None
    return RunFolder(folder, record, result, progress)


# -- votes ---------------------------------------------------------------------------------


def _via_file(text: str, what: str, load: Any) -> Any:
    # The command line's own readers parse the files: the portal accepts
    # exactly what `fedgov vote` does, no second parser.
    with tempfile.TemporaryDirectory(prefix="fedgov-portal-") as folder:
        path = Path(folder) / what
        path.write_text(text, encoding="utf-8")
        try:
            return load(path)
        except VotingFileError as e:
            raise VotingFileError(what, e.reason) from None


def parse_receipt(text: str) -> Receipt:
    """A receipt as ``fedgov vote check`` reads it (raises VotingFileError)."""
    receipt: Receipt = _via_file(text, "receipt", Receipt.load)
    return receipt


def parse_request(text: str) -> CredentialRequest:
    """A credential request as ``fedgov vote issue`` reads it."""
    request: CredentialRequest = _via_file(text, "request", CredentialRequest.load)
    return request


def response_document(issued: IssuedCredential) -> dict[str, Any]:
    """The registrar's answer as ``fedgov vote issue --out`` writes it."""
    with tempfile.TemporaryDirectory(prefix="fedgov-portal-") as folder:
        path = Path(folder) / "response"
        issued.save(path)
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def open_registrar(
    contract: ConsultationContract,
    *,
    account: LocalAccount,
    roll: Path,
    credential_key: Path,
    passphrase: str,
) -> Registrar:
    """The registrar of ``roll`` with its credential key."""
    return Registrar(
        contract,
        account=account,
        roll=Roll.load(roll),
        key=load_credential_key(credential_key, passphrase=passphrase),
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
