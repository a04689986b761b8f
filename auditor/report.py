"""What an audit found: findings, per-log summaries, and the verdict.

:meth:`AuditReport.to_json` is the stable, versioned report
``fedgov audit verify --json`` prints (docs/audit-log.md, "The report"):
a change that removes or renames a key raises :data:`REPORT_VERSION`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Final

from auditor.errors import AuditFailedError

__all__ = [
    "REPORT_FORMAT",
    "REPORT_VERSION",
    "AuditFinding",
    "AuditReport",
    "Check",
    "LogSummary",
]

REPORT_FORMAT: Final = "fedgov-audit-report"
REPORT_VERSION: Final = 1


class Check(StrEnum):
    """The family of checks a finding comes from, in the order they run."""

    INTEGRITY = "integrity"
    """A log's records against its own signed heads, and its structure."""
    FORK = "fork"
    """Two validly signed heads of one log disagree about the same size."""
    ANCHOR = "anchor"
    """A log against the heads anchored on chain."""
    ROLE = "role"
    """The writer's on-chain role when it wrote and anchored."""
    WITNESS = "witness"
    """A log's checkpoints against the witness policy (when one is given)."""
    COVERAGE = "coverage"
    """The logs given against the logs the chain lists."""
    IDENTITY = "identity"
    """Which log speaks for which department."""
    COMPLETENESS = "completeness"
    """The coordinator's records against the departments'."""
    BUDGET = "budget"
    """Privacy spending, recomputed from the recorded mechanisms."""
    ACCESS = "access"
    """Who asked for each spend and read, under which policy and agreement;
    nothing read after a dataset's destruction."""
    RUN_RECORD = "run-record"
    """The coordinator's run record against the audit records."""
    PROVENANCE = "provenance"
    """A model file against its signed provenance manifest and the coordinator's log."""


@dataclass(frozen=True)
class AuditFinding:
    """One problem: which check, which log, which record or anchor, and why."""

    check: Check
    log: str
    """The log's label (``""`` when the finding concerns no single log)."""
    message: str
    index: int | None = None
    """The first record known to be concerned, in that log."""
    block: int | None = None
    """The block of the anchor concerned."""

    def __str__(self) -> str:
        where = self.log or "audit"
        if self.index is not None:
            where += f", record {self.index}"
        if self.block is not None:
            where += f", anchor in block {self.block}"
        return f"[{self.check.value}] {where}: {self.message}"


@dataclass(frozen=True)
class LogSummary:
    """One audited log as the auditor saw it."""

    label: str
    actor: str
    role: str
    department: str
    records: int
    signed_heads: int
    anchors: int
    anchored_size: int
    witnessed_size: int | None = None
    """Records covered by a checkpoint the policy's quorum cosigned (no policy: None)."""
    new_records: int | None = None
    """Records verified in this run (an incremental one); ``None``: all of them."""
    verified_from: int | None = None
    """The size verified before, where an incremental run started."""
    consistency_proof: tuple[str, ...] = ()
    """RFC 9162 proof (hex, bottom-up) from ``verified_from`` to ``anchored_size``."""


@dataclass(frozen=True)
class AuditReport:
    """The verdict: ``ok`` when no check failed. Warnings do not fail it."""

    logs: tuple[LogSummary, ...]
    failures: tuple[AuditFinding, ...]
    warnings: tuple[AuditFinding, ...]
    jobs: tuple[str, ...]
    rounds: int
    """Coordinator rounds whose departments' records were cross-checked."""
    queries: int = 0
    """Coordinator queries whose departments' records were cross-checked."""
    listed_logs: int | None = None
    """Logs the AnchorRegistry lists (``None``: the chain was not asked)."""
    only: tuple[str, ...] = ()
    """The ``--only`` selectors that narrowed the audit (empty: every log)."""
    not_audited: tuple[str, ...] = ()
    """Logs the chain lists that the narrowing left out, described."""
    open_departments: tuple[str, ...] = ()
    """Departments that served spends or reads without an access policy
    (development mode: nobody's signed request was checked)."""
    mode: str = "full"
    """``full``, or ``incremental`` (``--since``: only what is new)."""
    checks: tuple[str, ...] = tuple(c.value for c in Check)
    """The families of checks this run made (an incremental run makes fewer)."""

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def first_failure(self) -> AuditFinding | None:
        return self.failures[0] if self.failures else None

    @property
    def records(self) -> int:
        return sum(log.records for log in self.logs)

    def raise_if_failed(self) -> None:
        """Raise :class:`AuditFailedError` naming the first failure, if any."""
        if self.failures:
            raise AuditFailedError(self.failures[0], len(self.failures))

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON values: the documented, versioned schema."""

        def finding(f: AuditFinding) -> dict[str, Any]:
            return {**asdict(f), "check": f.check.value, "text": str(f)}

        def log(summary: LogSummary) -> dict[str, Any]:
            return {
                **asdict(summary),
                "consistency_proof": list(summary.consistency_proof),
            }

        return {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "mode": self.mode,
            "checks": list(self.checks),
            "ok": self.ok,
            "records": self.records,
            "new_records": sum(
                s.records if s.new_records is None else s.new_records for s in self.logs
            ),
            "rounds": self.rounds,
            "jobs": list(self.jobs),
            "queries": self.queries,
            "listed_logs": self.listed_logs,
            "only": list(self.only),
            "not_audited": list(self.not_audited),
            "open_departments": list(self.open_departments),
            "logs": [log(summary) for summary in self.logs],
            "failures": [finding(f) for f in self.failures],
            "warnings": [finding(f) for f in self.warnings],
        }

    def summary(self) -> str:
        """A human-readable account: logs, verdict, then every finding."""
        lines = []
        for log in self.logs:
            who = f"{log.role} {log.department}".strip() or "unknown role"
            lines.append(
                f"  {who:<28} {log.actor}  {log.records:>6} records, "
                f"{log.signed_heads} signed heads, {log.anchors} anchors "
                f"(anchored up to {log.anchored_size}"
                + (
                    f", witnessed up to {log.witnessed_size}"
                    if log.witnessed_size is not None
                    else ""
                )
                + f")  [{log.label}]"
            )
        verdict = "OK" if self.ok else f"FAILED ({len(self.failures)} failure(s))"
        if self.mode == "incremental":
            new = sum(s.new_records or 0 for s in self.logs)
            head = (
                f"audit {verdict} (incremental): {len(self.logs)} logs, {new} new "
                f"records of {self.records} verified against the heads checked "
                f"last time ({', '.join(self.checks)}; a full run cross-checks "
                "the parties)"
            )
        else:
            head = (
                f"audit {verdict}: {len(self.logs)} logs, {self.records} records, "
                f"{self.rounds} rounds of {len(self.jobs)} job(s) and {self.queries} "
                f"quer{'y' if self.queries == 1 else 'ies'} cross-checked"
            )
        body = [head, *lines]
        if self.only:
            body.append(
                f"  narrowed with --only {' '.join(self.only)}: "
                f"{len(self.not_audited)} log(s) the chain lists were NOT audited"
                + "".join(f"\n    {entry}" for entry in self.not_audited)
            )
        elif self.listed_logs is not None:
            body.append(
                f"  the chain lists {self.listed_logs} log(s); every one was asked for"
            )
        if self.open_departments:
            body.append(
                "note: without an access policy (no signed requests checked): "
                + ", ".join(self.open_departments)
            )
        body += [f"FAIL {f}" for f in self.failures]
        body += [f"warn {f}" for f in self.warnings]
        return "\n".join(body)
