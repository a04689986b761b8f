"""The auditor's checks, pure: logs and chain facts in, a report out.

:func:`audit_logs` runs every check over logs already read and chain facts
already fetched; :func:`auditor.verify.verify_audit` does the fetching.
Keeping the two apart lets tests (and other front ends: a log service, an
offline bundle) feed the same checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auditor._access_checks import AccessFacts
from auditor._budget_checks import EpsilonOf, Mechanism
from auditor._coverage_checks import ChainListing, Scope, check_coverage
from auditor._log_checks import (
    AuditedLog,
    AuditOptions,
    ChainFacts,
    Findings,
    LogInput,
    RoleSpan,
    check_log,
)
from auditor._party_checks import check_parties
from auditor._provenance_checks import ProvenanceInput
from auditor.report import AuditReport, Check, LogSummary

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "AccessFacts",
    "AuditOptions",
    "ChainFacts",
    "ChainListing",
    "EpsilonOf",
    "LogInput",
    "Mechanism",
    "ProvenanceInput",
    "RoleSpan",
    "audit_logs",
]


def audit_logs(
    inputs: Sequence[LogInput],
    *,
    options: AuditOptions,
    epsilon_of: EpsilonOf | None = None,
    run_record: Mapping[str, Any] | None = None,
    checkpoint_sha256: bytes | None = None,
    run_records: Sequence[tuple[Mapping[str, Any], bytes | None]] = (),
    listing: ChainListing | None = None,
    access: AccessFacts | None = None,
    provenance: ProvenanceInput | None = None,
) -> AuditReport:
    """Check every log, then every party against the others.

    ``epsilon_of`` recomputes a job's epsilon from its recorded mechanisms
    (without it, only the figures' consistency is checked); ``run_record``
    (the coordinator's JSON) and ``checkpoint_sha256`` are checked against
    the coordinator's records when given, as is each of ``run_records``
    (a run record and its checkpoint's digest). ``listing`` (what the chain
    says exists) makes every log it lists required, unless ``options.only``
    narrows the audit. ``access`` enables the checks of analysts' signed
    requests (:mod:`auditor._access_checks`); ``provenance`` checks a model
    file's manifest (:mod:`auditor._provenance_checks`).
    """
    # Each log is checked on its own first; only then is it known (role,
    # department, rosters) which of them --only keeps.
    checked: list[tuple[LogInput, AuditedLog | None, Findings]] = []
    seen: dict[bytes, str] = {}
    for item in inputs:
        own = Findings()
        if item.log is not None and item.log.log_id in seen:
            own.fail(
                Check.IDENTITY,
                item.label,
                f"is the same log as {seen[item.log.log_id]}, given twice",
            )
            checked.append((item, None, own))
            continue
        log = check_log(item, options, own)
        if log is not None:
            seen[log.log.log_id] = item.label
        checked.append((item, log, own))
    everything = [log for _, log, _ in checked if log is not None]
    scope = Scope(options.only, everything, listing)
    out = Findings()
    audited: list[AuditedLog] = []
    unreadable: dict[bytes, str] = {}
    for item, log, own in checked:
        if log is not None and not scope.covers(scope.of_log(log)):
            continue
        if log is None and item.expected_log_id is not None:
            unreadable[item.expected_log_id] = item.label
        out.failures += own.failures
        out.warnings += own.warnings
        if log is not None:
            audited.append(log)
    coverage = None
    if listing is not None:
        coverage = check_coverage(audited, unreadable, listing, scope, out)
    if epsilon_of is None:
        out.warn(
            Check.BUDGET,
            "",
            "epsilon was not recomputed from the recorded mechanisms",
        )
    parties = check_parties(
        audited,
        out,
        epsilon_of=epsilon_of,
        run_records=[
            *([(run_record, checkpoint_sha256)] if run_record is not None else []),
            *run_records,
        ],
        listing=listing,
        access=access,
        provenance=provenance,
        allow_unanchored=options.allow_unanchored,
    )
    summaries = tuple(
        LogSummary(
            label=log.label,
            actor=log.actor,
            role=log.role.value if log.role is not None else "",
            department=log.department,
            records=len(log.records),
            signed_heads=len(log.log.heads),
            anchors=log.anchors,
            anchored_size=log.anchored_size,
            witnessed_size=log.witnessed_size,
        )
        for log in audited
    )
    return AuditReport(
        logs=summaries,
        failures=tuple(out.failures),
        warnings=tuple(out.warnings),
        jobs=tuple(sorted({run.job for run in parties.runs})),
        rounds=sum(len(run.rounds) for run in parties.runs),
        queries=len(parties.queries),
        listed_logs=coverage.listed if coverage is not None else None,
        only=scope.only,
        not_audited=coverage.not_audited if coverage is not None else (),
        open_departments=parties.open_departments,
    )
