"""The auditor's privacy-spending check: every epsilon recomputed from the log.

A department's ``budget_spend`` records (training rounds and analytics
queries alike: they share one budget per dataset) each name the mechanism
charged, the accountant that calibrated it (``accountant``; a record without
one is RDP's, as every record was before fedgov named them) and the totals
the department reported. A record naming an accountant fedgov does not know
fails. Over one department's logs, in order, this check recomputes

- a job's epsilon (``epsilon-job``) from the mechanisms of that job's
  spends (a query is a job of one spend), at the record's delta;
- the department's epsilon on the dataset (``epsilon-total``) from *every*
  spend logged on it so far, training and queries together, as the
  department's budget book composes them
  (:func:`privacy.accounting.history_epsilon`: each accountant named
  composes the whole history, the smallest result counts);

so a department that under-reports, or that spent without logging, is
caught by its own records. The ledger composes at its limit's delta, which
no record names; the total is accepted at any delta the department's spends
on that dataset name (in practice there is one: the jobs' and queries'
common delta). It also checks that each record's ``epsilon`` is the job's
increase, that totals never decrease nor exceed the limit, and that a job's
epsilon never exceeds the total. A total may go down at one record only: the
first on its dataset to name a new accountant, which re-accounts the whole
history (``docs/audit-log.md``).

:func:`check_book_changes` follows the department's budget book through its
records: every ``budget_spend`` and ``budget_grant`` names the generation the
book reached (``budget-generation``), which must rise by one from record to
record (a gap is a change of the book with nothing on record; a step back, a
book rolled back), and every spend must be against the limit the latest
``budget_grant`` on its dataset set (a limit changed off the record).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from auditor._index import as_float, same
from auditor.report import Check
from fedgov import protocol as p
from fedgov.errors import FedgovError
from fedgov.job import Accountant
from ledger.record_fields import ACCOUNTANT, BUDGET_GENERATION, PHASE_QUERY
from ledger.records import Action, AuditRecord

if TYPE_CHECKING:
    from auditor._index import DepartmentLogs, Ref
    from auditor._log_checks import Findings

__all__ = [
    "SPEND_KEYS",
    "EpsilonOf",
    "Mechanism",
    "check_book_changes",
    "check_budget",
]

Mechanism = tuple[float, float, int, Accountant]
"""(noise multiplier, sample rate, steps, accountant) of one ``budget_spend``."""
EpsilonOf = Callable[[Sequence[Mechanism], float], float]
"""Epsilon at ``delta`` of running the mechanisms in sequence, each accounted
as it names (:func:`privacy.accounting.history_epsilon`)."""

SPEND_KEYS = (
    p.Metric.NOISE_MULTIPLIER,
    p.Metric.SAMPLE_RATE,
    p.Metric.STEPS,
    p.Metric.EPSILON_JOB,
    p.Metric.EPSILON_TOTAL,
    p.Metric.EPSILON_LIMIT,
)
_TOLERANCE = 1e-9


def _figures(
    record: AuditRecord,
) -> tuple[Mechanism, float, float, float] | str:
    values = [as_float(record.details, key) for key in SPEND_KEYS]
    if any(value is None for value in values):
        return f"a budget_spend record must name {', '.join(SPEND_KEYS)}"
    name = record.details.get(ACCOUNTANT, Accountant.RDP.value)
    if name not in tuple(Accountant):
        return (
            f"names accountant {name!r}, which fedgov does not know (known: "
            f"{', '.join(a.value for a in Accountant)}): its epsilon cannot be "
            "recomputed"
        )
    noise, rate, steps, spent_job, spent_total, limit = (
        float(v or 0.0) for v in values
    )
    mechanism = (noise, rate, int(steps), Accountant(name))
    return mechanism, spent_job, spent_total, limit


def _compose(
    epsilon_of: EpsilonOf, mechanisms: Sequence[Mechanism], delta: float
) -> float | FedgovError:
    try:
        return epsilon_of(mechanisms, delta)
    except FedgovError as e:
        return e


def check_budget(
    department: DepartmentLogs, out: Findings, epsilon_of: EpsilonOf | None
) -> None:
    """Check every ``budget_spend`` of ``department`` against the others."""
    spends = [
        ref for ref in department.refs() if ref.record.action is Action.BUDGET_SPEND
    ]
    deltas: dict[str, list[float]] = {}
    for ref in spends:
        seen = deltas.setdefault(ref.record.dataset, [])
        if ref.record.delta not in seen:
            seen.append(ref.record.delta)
    jobs: dict[tuple[str, str], list[Mechanism]] = {}
    datasets: dict[str, list[Mechanism]] = {}
    job_epsilon: dict[tuple[str, str], float] = {}
    total: dict[str, float] = {}
    for ref in spends:
        record, label, index = ref.record, ref.log.label, ref.index
        figures = _figures(record)
        if isinstance(figures, str):
            out.fail(Check.BUDGET, label, figures, index=index)
            continue
        mechanism, spent_job, spent_total, limit = figures
        query = record.details.get("phase") == PHASE_QUERY
        key = (record.dataset, record.job)
        # A query's id labels one answer: each spend is its own job.
        history = [mechanism] if query else [*jobs.get(key, []), mechanism]
        jobs[key] = history
        on_dataset = datasets.setdefault(record.dataset, [])
        # The first spend under an accountant re-accounts the whole history,
        # which may lower the total (privacy.accounting.history_epsilon).
        reaccounted = bool(on_dataset) and all(m[3] != mechanism[3] for m in on_dataset)
        on_dataset.append(mechanism)
        if epsilon_of is not None:
            _recompute(
                ref,
                epsilon_of,
                history,
                list(on_dataset),
                deltas[record.dataset],
                spent_job,
                spent_total,
                out,
            )
        previous = 0.0 if query else job_epsilon.get(key, 0.0)
        if not same(record.epsilon, max(0.0, spent_job - previous)):
            out.fail(
                Check.BUDGET,
                label,
                f"records epsilon {record.epsilon!r} spent, but the job's epsilon "
                f"went from {previous!r} to {spent_job!r}",
                index=index,
            )
        job_epsilon[key] = spent_job
        before = total.get(record.dataset)
        if before is not None and spent_total < before - _TOLERANCE and not reaccounted:
            out.fail(
                Check.BUDGET,
                label,
                f"epsilon-total of {record.dataset} went down from {before!r} to "
                f"{spent_total!r}",
                index=index,
            )
        if spent_total > limit + _TOLERANCE:
            out.fail(
                Check.BUDGET,
                label,
                f"epsilon-total {spent_total!r} exceeds the department's limit "
                f"{limit!r} on {record.dataset}",
                index=index,
            )
        if spent_job > spent_total + _TOLERANCE:
            out.fail(
                Check.BUDGET,
                label,
                f"the job's epsilon {spent_job!r} exceeds the department's total "
                f"{spent_total!r}",
                index=index,
            )
        total[record.dataset] = (
            spent_total if reaccounted else max(spent_total, before or 0.0)
        )


def _recompute(
    ref: Ref,
    epsilon_of: EpsilonOf,
    history: Sequence[Mechanism],
    on_dataset: Sequence[Mechanism],
    deltas: Sequence[float],
    spent_job: float,
    spent_total: float,
    out: Findings,
) -> None:
    record, label, index = ref.record, ref.log.label, ref.index
    expected = _compose(epsilon_of, history, record.delta)
    if isinstance(expected, FedgovError):
        out.fail(
            Check.BUDGET,
            label,
            f"names a mechanism that cannot be accounted: {expected}",
            index=index,
        )
        return
    what = "query" if record.details.get("phase") == PHASE_QUERY else "job"
    if not same(expected, spent_job):
        out.fail(
            Check.BUDGET,
            label,
            f"reports epsilon-job {spent_job!r} for {what} {record.job!r}, but the "
            f"{len(history)} spend(s) its log records for it compose to "
            f"{expected!r}: a spend is missing from the log, or the figure is wrong",
            index=index,
        )
    totals = [_compose(epsilon_of, on_dataset, delta) for delta in deltas]
    if not any(not isinstance(t, FedgovError) and same(t, spent_total) for t in totals):
        composed = totals[deltas.index(record.delta)]
        out.fail(
            Check.BUDGET,
            label,
            f"reports epsilon-total {spent_total!r} on {record.dataset}, but the "
            f"{len(on_dataset)} spend(s) its log records on it, training and "
            f"queries together, compose to {composed!r}: a spend is missing from "
            "the log (made with auditing off, or before the log began?), or the "
            "figure is wrong",
            index=index,
        )


def check_book_changes(department: DepartmentLogs, out: Findings) -> None:
    """The book's generations and limits, as the department's records tell them."""
    previous: int | None = None
    limits: dict[str, float] = {}
    for ref in department.refs():
        record, label, index = ref.record, ref.log.label, ref.index
        if record.action not in (Action.BUDGET_SPEND, Action.BUDGET_GRANT):
            continue
        if BUDGET_GENERATION not in record.details:
            # Written before books counted their changes.
            continue
        text = record.details[BUDGET_GENERATION]
        if not text.isdigit():
            out.fail(
                Check.BUDGET,
                label,
                f"budget-generation {text!r} is no count",
                index=index,
            )
            continue
        generation = int(text)
        if previous is not None and generation <= previous:
            out.fail(
                Check.BUDGET,
                label,
                f"the budget book went back from generation {previous} to "
                f"{generation}: it was rolled back, and spent from",
                index=index,
            )
        elif previous is not None and generation > previous + 1:
            out.fail(
                Check.BUDGET,
                label,
                f"the budget book went from generation {previous} to {generation}: "
                f"{generation - previous - 1} change(s) of it are not on record",
                index=index,
            )
        previous = generation
        limit = as_float(record.details, p.Metric.EPSILON_LIMIT)
        if record.action is Action.BUDGET_GRANT:
            if limit is None:
                out.fail(
                    Check.BUDGET,
                    label,
                    "a budget_grant names no epsilon-limit",
                    index=index,
                )
            else:
                limits[record.dataset] = limit
            continue
        granted = limits.get(record.dataset)
        if granted is None:
            out.warn(
                Check.BUDGET,
                label,
                f"{department.name} spent on {record.dataset} with no budget_grant "
                "on record (a budget created before grants were recorded)",
                index=index,
            )
            limits[record.dataset] = limit if limit is not None else 0.0
        elif limit is None or not same(limit, granted):
            out.fail(
                Check.BUDGET,
                label,
                f"{department.name} spent against the limit {limit!r} on "
                f"{record.dataset}, but the latest budget_grant on record set "
                f"{granted!r}: the limit changed with nothing on record",
                index=index,
            )
