"""Audit integration: records from the federated run, anchored, and verified.

- :class:`DepartmentAuditMod` (a Flower ClientApp mod) and
  :class:`CoordinatorAudit` (an ``on_round`` observer) write each actor's
  records into its own log and sign its tree heads;
- :class:`AnchorRelay` anchors those heads on chain, batched;
- :class:`AuditEnvironment` sets all of it up for a job;
- :func:`verify_audit` (and ``fedgov audit verify``) is the auditor.

See ``docs/audit-log.md``.

Public names are imported on first use (:mod:`fedgov._lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedgov._lazy import lazy_exports

if TYPE_CHECKING:
    from ledger.audit.actor_log import (
        ActorLog,
    )
    from ledger.audit.checks import (
        AuditOptions,
        ChainFacts,
        LogInput,
        RoleSpan,
        audit_logs,
    )
    from ledger.audit.coordinator import (
        CoordinatorAudit,
        query_result_sha256,
        round_records,
    )
    from ledger.audit.department import (
        DepartmentAuditMod,
        department_records,
    )
    from ledger.audit.environment import (
        RELAY_POLICY,
        AuditDeployment,
        AuditEnvironment,
    )
    from ledger.audit.errors import (
        AuditError,
        AuditFailedError,
        KeyFileError,
    )
    from ledger.audit.keys import (
        KEY_PASSWORD_ENV,
        PlaintextKeyWarning,
        key_password,
        load_key,
        load_or_create_key,
    )
    from ledger.audit.layout import (
        coordinator_dir,
        department_dir,
        find_logs,
        log_path,
    )
    from ledger.audit.relay import (
        AnchorRelay,
        RelayStatus,
    )
    from ledger.audit.report import (
        AuditFinding,
        AuditReport,
        Check,
        LogSummary,
    )
    from ledger.audit.verify import (
        load_log,
        load_run_record,
        verify_audit,
    )

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
    "query_result_sha256",
    "round_records",
    "verify_audit",
]

_EXPORTS: dict[str, str] = {
    "KEY_PASSWORD_ENV": "ledger.audit.keys",
    "RELAY_POLICY": "ledger.audit.environment",
    "ActorLog": "ledger.audit.actor_log",
    "AnchorRelay": "ledger.audit.relay",
    "AuditDeployment": "ledger.audit.environment",
    "AuditEnvironment": "ledger.audit.environment",
    "AuditError": "ledger.audit.errors",
    "AuditFailedError": "ledger.audit.errors",
    "AuditFinding": "ledger.audit.report",
    "AuditOptions": "ledger.audit.checks",
    "AuditReport": "ledger.audit.report",
    "ChainFacts": "ledger.audit.checks",
    "Check": "ledger.audit.report",
    "CoordinatorAudit": "ledger.audit.coordinator",
    "DepartmentAuditMod": "ledger.audit.department",
    "KeyFileError": "ledger.audit.errors",
    "LogInput": "ledger.audit.checks",
    "LogSummary": "ledger.audit.report",
    "PlaintextKeyWarning": "ledger.audit.keys",
    "RelayStatus": "ledger.audit.relay",
    "RoleSpan": "ledger.audit.checks",
    "audit_logs": "ledger.audit.checks",
    "coordinator_dir": "ledger.audit.layout",
    "department_dir": "ledger.audit.layout",
    "department_records": "ledger.audit.department",
    "find_logs": "ledger.audit.layout",
    "key_password": "ledger.audit.keys",
    "load_key": "ledger.audit.keys",
    "load_log": "ledger.audit.verify",
    "load_or_create_key": "ledger.audit.keys",
    "load_run_record": "ledger.audit.verify",
    "log_path": "ledger.audit.layout",
    "query_result_sha256": "ledger.audit.coordinator",
    "round_records": "ledger.audit.coordinator",
    "verify_audit": "ledger.audit.verify",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
