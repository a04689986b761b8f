"""The auditor's checks of DP analytics queries, coordinator against departments.

The coordinator's ``analytics_query`` records say, per query, what each
department did (one record each, ``details["entry"] == "department"``) and
what was released (``"entry" == "query"``). Each department's own log must
say the same:

- a department that answered has logged, for that query id, the
  ``budget_spend`` (whose epsilon figures are the ones the coordinator
  recorded it reporting), the ``data_read`` and the ``analytics_query`` of
  the same query (same digest of the query's wire form);
- a refusal has its ``access_denied``;
- a department that failed or never answered is a warning.

A department's logged answer that the coordinator never recorded is a
warning (lost, timed out, or withheld), as for training updates. Whether
the spends compose to the totals reported is
:mod:`auditor._budget_checks`'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from auditor._index import Ref, check_reported_spend
from auditor.report import Check
from fedgov import protocol as p
from ledger.record_fields import ENTRY_DEPARTMENT, ENTRY_QUERY, PHASE_QUERY
from ledger.records import Action, Role

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from auditor._index import DepartmentLogs
    from auditor._log_checks import AuditedLog, Findings

__all__ = ["QueryRun", "check_queries"]

_DIGEST = "query-sha256"
_ANSWER_RECORDS = (Action.BUDGET_SPEND, Action.DATA_READ, Action.ANALYTICS_QUERY)


@dataclass
class QueryRun:
    """One query as the coordinator's log tells it."""

    query: str
    log: AuditedLog
    entries: dict[str, Ref] = field(default_factory=dict)
    summary: Ref | None = None


def check_queries(
    logs: Sequence[AuditedLog],
    departments: Mapping[str, DepartmentLogs],
    out: Findings,
) -> list[QueryRun]:
    """Cross-check every query the coordinator recorded; return them."""
    runs: list[QueryRun] = []
    for log in logs:
        if log.role is Role.COORDINATOR:
            runs.extend(_runs_of(log, out))
    for run in runs:
        _check_query(run, departments, out)
    if any(log.role is Role.COORDINATOR for log in logs):
        _unclaimed_answers(runs, departments, out)
    return runs


def _runs_of(log: AuditedLog, out: Findings) -> list[QueryRun]:
    runs: list[QueryRun] = []
    current: dict[str, QueryRun] = {}
    for index, record in enumerate(log.records):
        if record.action is not Action.ANALYTICS_QUERY:
            continue
        ref = Ref(log, index, record)
        entry = record.details.get("entry")
        name = record.details.get("department", "")
        run = current.get(record.job)
        # A query id asked again: a new query.
        if (
            run is None
            or run.summary is not None
            or (entry == ENTRY_DEPARTMENT and name in run.entries)
        ):
            run = QueryRun(record.job, log)
            current[record.job] = run
            runs.append(run)
        if entry == ENTRY_DEPARTMENT:
            run.entries[name] = ref
        elif entry == ENTRY_QUERY:
            run.summary = ref
        else:
            out.fail(
                Check.INTEGRITY,
                log.label,
                f"an analytics_query record of unknown entry {entry!r}",
                index=index,
            )
    return runs


def _check_query(
    run: QueryRun, departments: Mapping[str, DepartmentLogs], out: Findings
) -> None:
    label = run.log.label
    if run.summary is None:
        out.fail(
            Check.COMPLETENESS,
            label,
            f"query {run.query!r} has department entries but no query record "
            "(what was released is not recorded)",
            index=max(ref.index for ref in run.entries.values()),
        )
    for name, ref in run.entries.items():
        status = ref.record.details.get("status", "")
        reason = ref.record.details.get("reason", "no reason")
        what = f"query {run.query!r}"
        if status not in (p.Status.OK, p.Status.REFUSED):
            out.warn(
                Check.COMPLETENESS,
                label,
                f"{name} did not answer {what} ({status}): {reason}",
                index=ref.index,
            )
            continue
        department = departments.get(name)
        if department is None:
            out.fail(
                Check.COMPLETENESS,
                label,
                f"department {name!r} took part in {what} ({status}), but no log of "
                f"{name!r} was given",
                index=ref.index,
            )
            continue
        group = department.group(run.query, 0, PHASE_QUERY, set())
        if status == p.Status.REFUSED:
            if not any(g.record.action is Action.ACCESS_DENIED for g in group):
                out.fail(
                    Check.COMPLETENESS,
                    label,
                    f"omission: {name} refused {what} ({reason!r}), but its log "
                    "holds no access_denied record for it",
                    index=ref.index,
                )
            continue
        _check_answer(run, ref, department, group, out)


def _check_answer(
    run: QueryRun,
    ref: Ref,
    department: DepartmentLogs,
    group: Sequence[Ref],
    out: Findings,
) -> None:
    name, record = department.name, ref.record
    what = f"query {run.query!r}"
    latest = {g.record.action: g for g in group}
    missing = [a.value for a in _ANSWER_RECORDS if a not in latest]
    if missing:
        out.fail(
            Check.COMPLETENESS,
            run.log.label,
            f"omission: {name} answered {what}, but its log holds no "
            f"{' or '.join(missing)} record for it",
            index=ref.index,
        )
    asked = latest.get(Action.ANALYTICS_QUERY)
    if asked is not None and asked.record.details.get(_DIGEST) != record.details.get(
        _DIGEST
    ):
        out.fail(
            Check.COMPLETENESS,
            asked.log.label,
            f"{name} logged answering a query of digest "
            f"{asked.record.details.get(_DIGEST)} under the id {run.query!r}, the "
            f"coordinator asked {record.details.get(_DIGEST)} "
            f"(record {ref.index} of {run.log.label})",
            index=asked.index,
        )
    spend = latest.get(Action.BUDGET_SPEND)
    if spend is None:
        return
    check_reported_spend(
        out,
        department=name,
        what=what,
        spend=spend,
        reported=ref,
        reported_in=run.log.label,
        keys=(
            (p.Metric.EPSILON_JOB, p.Metric.EPSILON_QUERY),
            (p.Metric.EPSILON_TOTAL, p.Metric.EPSILON_TOTAL),
        ),
    )


def _unclaimed_answers(
    runs: Sequence[QueryRun],
    departments: Mapping[str, DepartmentLogs],
    out: Findings,
) -> None:
    """Answers a department logged releasing that the coordinator never recorded."""
    recorded = {(run.query, name) for run in runs for name in run.entries}
    for department in departments.values():
        for ref in department.refs():
            record = ref.record
            if (
                record.action is Action.ANALYTICS_QUERY
                and (record.job, department.name) not in recorded
            ):
                out.warn(
                    Check.COMPLETENESS,
                    ref.log.label,
                    f"{department.name} logged answering query {record.job!r}; the "
                    "coordinator recorded no answer of it from "
                    f"{department.name} (lost, timed out, or withheld)",
                    index=ref.index,
                )
