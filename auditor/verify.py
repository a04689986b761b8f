"""The auditor's entry point: fetch logs and chain facts, run the checks.

:func:`verify_audit` takes the logs (export files, LogStore files, or
:class:`~ledger.export.ExportedLog` objects, e.g. from
:meth:`ledger.client.LogClient.fetch_log`), a chain connection and the
AnchorRegistry's address (the Roles contract is the one the registry reads,
checked against ``roles`` when given), and returns an
:class:`~auditor.report.AuditReport`. What it reads from the chain:

- every anchor of every log (:meth:`AnchorRegistry.history`: one
  single-block query per anchor);
- every grant and revoke of the coordinator and department roles to each
  log's writer (:meth:`Roles.history`);
- the list of every log the registry ever anchored
  (:meth:`AnchorRegistry.anchored_logs`) and of every account the Roles
  contract ever granted a role (:meth:`Roles.accounts`), with their roles:
  each listed log must be among those given (``only`` narrows that, and the
  report says what it left out).
- the analyst role's history of every analyst a department's
  ``access_granted`` records name, and the county's access domain (chain id
  and the Roles contract the registry reads).

Block *times* are not used: dev chains (py-evm, anvil) stamp blocks a
second apart whatever the wall clock says, so roles are judged by block
numbers (an anchor's block), never by comparing timestamps.

A model file (``checkpoint``) is checked against its signed provenance
manifest (:mod:`ledger.provenance`). The checks themselves are
:func:`auditor.checks.audit_logs`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address

from auditor._access_checks import analysts_in
from auditor._log_checks import role_spans
from auditor.checks import (
    AccessFacts,
    AuditOptions,
    ChainFacts,
    ChainListing,
    LogInput,
    ProvenanceInput,
    RoleSpan,
    audit_logs,
)
from fedgov.errors import ConfigurationError
from fedgov.run_record import RunRecord, RunRecordError, run_record_json
from ledger.access import AccessDomain
from ledger.anchor_registry import AnchorRegistry
from ledger.chain_roles import Roles
from ledger.errors import LedgerError
from ledger.export import ExportedLog, read_export
from ledger.layout import LOG_NAME
from ledger.provenance import ProvenanceError, verify_manifest
from ledger.record_fields import file_sha256
from ledger.records import AuditRecord, Role
from ledger.store import LogStore
from ledger.tree_head import log_id_for
from privacy.accounting import GaussianSpend, history_epsilon

if TYPE_CHECKING:
    from collections.abc import Sequence

    from auditor.checks import Mechanism
    from auditor.report import AuditReport
    from ledger.chain import Chain
    from ledger.tree_head import SigningDomain
    from ledger.witness_policy import WitnessPolicy

__all__ = ["LogSource", "load_log", "load_run_record", "verify_audit"]

LogSource = ExportedLog | str | Path
"""A log as the auditor holds it: an export file, a LogStore file, or in memory."""

_SQLITE_MAGIC = b"SQLite format 3\x00"
# Store files are audit-<address>.db, exports <folder>-audit-<address>.jsonl.
_LOG_FILE_ADDRESS = re.compile(rf"{LOG_NAME}-(0x[0-9a-fA-F]{{40}})\.(?:db|jsonl)$")


def load_log(path: str | Path) -> ExportedLog:
    """Read a log file: an export (JSON Lines) or a LogStore (SQLite).

    A LogStore is integrity-checked on opening; either kind raises a
    :class:`~ledger.errors.LedgerError` naming the first bad record it finds.
    """
    file = Path(path)
    try:
        with file.open("rb") as data:
            magic = data.read(len(_SQLITE_MAGIC))
    except OSError as e:
        raise ConfigurationError("log", f"cannot read {file}: {e.strerror}") from e
    if magic != _SQLITE_MAGIC:
        return read_export(file)
    with LogStore(file) as store:
        return ExportedLog(
            actor=store.actor,
            log_name=store.log_name,
            log_id=store.log_id,
            records=tuple(store.encoded_records(0)),
            heads=tuple(store.signed_head_entries()),
            checkpoints=tuple(store.checkpoints()),
        )


def load_run_record(
    source: RunRecord | Mapping[str, Any] | str | Path,
) -> dict[str, Any]:
    """A run record as plain JSON values (from the object or its file)."""
    try:
        return run_record_json(source)
    except RunRecordError as e:
        raise ConfigurationError("run_record", str(e)) from e


class _ChainReader:
    """Reads a log's anchors and its writer's role history."""

    def __init__(self, chain: Chain, registry: AnchorRegistry, roles: Roles) -> None:
        self._registry = registry
        self._roles = roles
        self._latest = chain.block_number
        self._spans: dict[str, tuple[RoleSpan, ...]] = {}

    def spans(self, account: str) -> tuple[RoleSpan, ...]:
        """``account``'s coordinator and department roles over time."""
        if account not in self._spans:
            spans: list[RoleSpan] = []
            for role in (Role.COORDINATOR, Role.DEPARTMENT):
                spans.extend(role_spans(role, self._roles.history(account, role)))
            self._spans[account] = tuple(spans)
        return self._spans[account]

    def analyst_spans(self, analyst: str) -> tuple[RoleSpan, ...]:
        return tuple(
            role_spans(Role.ANALYST, self._roles.history(analyst, Role.ANALYST))
        )

    def facts(self, log: ExportedLog) -> ChainFacts:
        anchors = tuple(self._registry.history(log.log_id))
        return ChainFacts(
            anchors=anchors, spans=self.spans(log.actor), latest_block=self._latest
        )

    def listing(self) -> ChainListing:
        """Every log the registry lists and every account the Roles contract does."""
        logs = tuple(self._registry.anchored_logs())
        accounts = dict.fromkeys([*self._roles.accounts(), *(e.signer for e in logs)])
        return ChainListing(
            logs=logs, actors={account: self.spans(account) for account in accounts}
        )


def _epsilon_of(mechanisms: Sequence[Mechanism], delta: float) -> float:
    return history_epsilon(
        [
            (GaussianSpend(noise, rate, steps), accountant)
            for noise, rate, steps, accountant in mechanisms
        ],
        delta=delta,
    )


def _input(source: LogSource, reader: _ChainReader) -> LogInput:
    if isinstance(source, ExportedLog):
        label = f"log 0x{source.log_id.hex()[:12]}… of {source.actor}"
        log = source
    else:
        label = str(source)
        try:
            log = load_log(source)
        except LedgerError as e:
            named = _LOG_FILE_ADDRESS.search(Path(source).name)
            expected = log_id_for(named.group(1), LOG_NAME) if named else None
            return LogInput(label, None, e, expected_log_id=expected)
    return LogInput(label, log, chain=reader.facts(log))


def verify_audit(
    logs: Sequence[LogSource],
    *,
    chain: Chain,
    registry: str,
    roles: str | None = None,
    run_record: RunRecord | Mapping[str, Any] | str | Path | None = None,
    checkpoint: str | Path | None = None,
    allow_unanchored: bool = False,
    recompute_epsilon: bool = True,
    witness_policy: WitnessPolicy | None = None,
    run_records: Sequence[str | Path] = (),
    only: Sequence[str] = (),
    require_access: bool = False,
) -> AuditReport:
    """Audit ``logs`` against the anchors of ``registry`` on ``chain``.

    Every log the registry lists must be among ``logs``, unless ``only``
    (actor addresses, log ids, ``coordinator`` or department names) narrows
    the audit to the logs it selects; the report then names what it left
    out. ``checkpoint`` (default: the run record's, when that file exists) is
    hashed and compared with the ``model_export`` record. With a
    ``witness_policy``, each log's checkpoints must carry its quorum of
    cosignatures (:mod:`ledger.witness_policy`); the checkpoint's provenance
    manifest is checked too (missing: a failure when ``checkpoint`` is given,
    a warning when it comes from the run record). ``run_records`` are more
    run record files (a county's runs folder), each checked with the
    checkpoint it names. ``require_access`` fails spends and reads that no
    signed request covers even at a department without an access policy.
    Unreadable logs are findings; an unreachable chain raises.
    """
    if not logs:
        raise ConfigurationError("logs", "give at least one log to audit")
    anchor_registry = AnchorRegistry.at(chain, registry)
    roles_address = anchor_registry.roles_address
    if roles is not None and to_checksum_address(roles) != roles_address:
        raise ConfigurationError(
            "roles",
            f"the registry {anchor_registry.address} reads roles from {roles_address}, "
            f"not {roles}",
        )
    reader = _ChainReader(chain, anchor_registry, Roles.at(chain, roles_address))
    record = load_run_record(run_record) if run_record is not None else None
    digest = None
    provenance = None
    checkpoint_path = Path(checkpoint) if checkpoint is not None else None
    required = checkpoint_path is not None
    if checkpoint_path is None and record is not None and record.get("checkpoint"):
        candidate = Path(str(record["checkpoint"]))
        checkpoint_path = candidate if candidate.is_file() else None
    if checkpoint_path is not None:
        try:
            digest = file_sha256(checkpoint_path)
        except OSError as e:
            raise ConfigurationError(
                "checkpoint", f"cannot read {checkpoint_path}: {e.strerror}"
            ) from e
        provenance = _provenance(
            checkpoint_path, anchor_registry.domain, required=required
        )
    more = []
    for path in run_records:
        extra = load_run_record(path)
        named = Path(str(extra.get("checkpoint") or ""))
        more.append((extra, file_sha256(named) if named.is_file() else None))
    inputs = [_input(source, reader) for source in logs]
    access = AccessFacts(
        domain=AccessDomain(chain.chain_id, roles_address),
        analyst_spans={
            analyst: reader.analyst_spans(analyst)
            for analyst in analysts_in(_grant_records(inputs))
        },
        require=require_access,
    )
    return audit_logs(
        inputs,
        options=AuditOptions(
            domain=anchor_registry.domain,
            allow_unanchored=allow_unanchored,
            witness_policy=witness_policy,
            only=tuple(only),
        ),
        epsilon_of=_epsilon_of if recompute_epsilon else None,
        run_record=record,
        checkpoint_sha256=digest,
        run_records=more,
        listing=reader.listing(),
        access=access,
        provenance=provenance,
    )


def _grant_records(inputs: Sequence[LogInput]) -> list[AuditRecord]:
    # Filtered on the raw bytes: only grants are decoded here.
    needle = b'"action":"access_granted"'
    return [
        AuditRecord.decode(data)
        for item in inputs
        if item.log is not None
        for data in item.log.records
        if needle in data
    ]


def _provenance(
    model: Path, domain: SigningDomain, *, required: bool
) -> ProvenanceInput:
    try:
        return ProvenanceInput(
            str(model), verify_manifest(model, domain=domain), required=required
        )
    except ProvenanceError as e:
        return ProvenanceInput(str(model), None, e, required=required)
