"""Audit integration: records from the federated run, anchored, and verified.

- :class:`DepartmentAuditMod` (a Flower ClientApp mod) and
  :class:`CoordinatorAudit` (an ``on_round`` observer) write each actor's
  records into its own log and sign its tree heads;
- :class:`AnchorRelay` anchors those heads on chain, batched;
- :class:`AuditEnvironment` sets all of it up for a job;
- :func:`verify_audit` (and ``fedgov audit verify``) is the auditor.

See ``docs/audit-log.md``.
"""

from __future__ import annotations

from ledger.audit.actor_log import ActorLog
from ledger.audit.checks import AuditOptions, ChainFacts, LogInput, RoleSpan, audit_logs
from ledger.audit.coordinator import CoordinatorAudit, round_records
from ledger.audit.department import DepartmentAuditMod, department_records
from ledger.audit.environment import RELAY_POLICY, AuditDeployment, AuditEnvironment
from ledger.audit.errors import AuditError, AuditFailedError, KeyFileError
from ledger.audit.keys import (
    KEY_PASSWORD_ENV,
    PlaintextKeyWarning,
    key_password,
    load_key,
    load_or_create_key,
)
from ledger.audit.layout import coordinator_dir, department_dir, find_logs, log_path
from ledger.audit.relay import AnchorRelay, RelayStatus
from ledger.audit.report import AuditFinding, AuditReport, Check, LogSummary
from ledger.audit.verify import load_log, load_run_record, verify_audit

__all__ = [
    "KEY_PASSWORD_ENV",
    "RELAY_POLICY",
    "ActorLog",
    "AnchorRelay",
    "AuditDeployment",
    "AuditEnvironment",
    "AuditError",
    "AuditFailedError",
    "AuditFinding",
    "AuditOptions",
    "AuditReport",
    "ChainFacts",
    "Check",
    "CoordinatorAudit",
    "DepartmentAuditMod",
    "KeyFileError",
    "LogInput",
    "LogSummary",
    "PlaintextKeyWarning",
    "RelayStatus",
    "RoleSpan",
    "audit_logs",
    "coordinator_dir",
    "department_dir",
    "department_records",
    "find_logs",
    "key_password",
    "load_key",
    "load_log",
    "load_or_create_key",
    "load_run_record",
    "log_path",
    "round_records",
    "verify_audit",
]
