"""The auditor: checks actors' audit logs against their on-chain anchors.

It reads what the actors left behind (their logs, the run record as JSON,
query results as data) and what the chain says (anchors, role history); it
imports neither actor. :func:`verify_audit` (and ``fedgov audit verify``)
is the entry point; :func:`audit_logs` runs the checks on logs already in
hand. See ``docs/audit-log.md``.
"""

from __future__ import annotations

from auditor.checks import (
    AccessFacts,
    AuditOptions,
    ChainFacts,
    LogInput,
    ProvenanceInput,
    RoleSpan,
    audit_logs,
)
from auditor.errors import AuditFailedError
from auditor.report import AuditFinding, AuditReport, Check, LogSummary
from auditor.verify import LogSource, load_log, load_run_record, verify_audit

__all__ = [
    "AccessFacts",
    "AuditFailedError",
    "AuditFinding",
    "AuditOptions",
    "AuditReport",
    "ChainFacts",
    "Check",
    "LogInput",
    "LogSource",
    "LogSummary",
    "ProvenanceInput",
    "RoleSpan",
    "audit_logs",
    "load_log",
    "load_run_record",
    "verify_audit",
]
