"""The auditor's epsilon recomputation follows the accountant each spend names.

Unit tests on hand-made ``budget_spend`` records of one department (the
honest federation in ``test_verify`` covers the records the product writes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

from auditor._budget_checks import Mechanism, check_book_changes, check_budget
from auditor._index import DepartmentLogs
from auditor._log_checks import AuditedLog, Findings
from auditor.report import Check
from fedgov.job import Accountant
from fedgov.types import ActorId, DatasetId, JobId
from ledger.record_fields import ACCOUNTANT, BUDGET_GENERATION, number_text
from ledger.records import Action, AuditRecord, Role
from privacy.accounting import GaussianSpend, epsilon_spent, history_epsilon

PLD, RDP = Accountant.PLD, Accountant.RDP
DELTA = 1e-5
ROUND = GaussianSpend(noise_multiplier=2.03, sample_rate=0.02, steps=100)
"""One round of a job like the demo's (which runs five)."""
ACTOR = "0x" + "ab" * 20


def _epsilon_of(mechanisms: Sequence[Mechanism], delta: float) -> float:
    return history_epsilon(
        [(GaussianSpend(n, q, s), a) for n, q, s, a in mechanisms], delta=delta
    )


def _spend(
    job: str,
    *,
    accountant: str | None,
    epsilon_job: float,
    epsilon_total: float,
    previous_job: float = 0.0,
    spend: GaussianSpend = ROUND,
) -> AuditRecord:
    details = {
        "department": "dept-0",
        "phase": "train",
        "noise-multiplier": number_text(spend.noise_multiplier),
        "sample-rate": number_text(spend.sample_rate),
        "steps": number_text(spend.steps),
        "epsilon-job": number_text(epsilon_job),
        "epsilon-total": number_text(epsilon_total),
        "epsilon-limit": number_text(10.0),
    }
    if accountant is not None:
        details[ACCOUNTANT] = accountant
    return AuditRecord(
        actor=ActorId(ACTOR),
        role=Role.DEPARTMENT,
        action=Action.BUDGET_SPEND,
        timestamp_ms=1,
        dataset=DatasetId("randhie"),
        purpose="county-health-study",
        job=JobId(job),
        round=1,
        epsilon=epsilon_job - previous_job,
        delta=DELTA,
        details=details,
    )


def _departments(records: list[AuditRecord]) -> DepartmentLogs:
    exported = cast(Any, SimpleNamespace(actor=ACTOR))
    log = AuditedLog(
        label="dept-0 log",
        log=exported,
        records=tuple(records),
        role=Role.DEPARTMENT,
        department="dept-0",
        anchored_size=len(records),
        anchors=1,
    )
    return DepartmentLogs("dept-0", [log])


def _check(records: list[AuditRecord]) -> Findings:
    out = Findings()
    check_budget(_departments(records), out, _epsilon_of)
    return out


def _cost(count: int, accountant: Accountant) -> float:
    return epsilon_spent([ROUND] * count, delta=DELTA, accountant=accountant)


def test_a_mixed_history_is_recomputed_as_the_ledger_composes_it() -> None:
    # Prepare: the demo's five RDP rounds, written before records named their
    # accountant, then one PLD query re-accounting the whole history: its
    # total goes down, as the ledger's does
    answer = GaussianSpend(noise_multiplier=20.0, sample_rate=1.0, steps=1)
    rounds = [_cost(n, RDP) for n in range(1, 6)]
    mixed = history_epsilon([(ROUND, RDP)] * 5 + [(answer, PLD)], delta=DELTA)
    assert mixed < rounds[-1]
    records = [
        _spend(
            "old",
            accountant=None,
            epsilon_job=total,
            epsilon_total=total,
            previous_job=rounds[n - 1] if n else 0.0,
        )
        for n, total in enumerate(rounds)
    ]
    query = epsilon_spent([answer], delta=DELTA, accountant=PLD)
    records.append(
        _spend(
            "query",
            accountant="pld",
            epsilon_job=query,
            epsilon_total=mixed,
            spend=answer,
        )
    )

    # Act
    out = _check(records)

    # Assert
    assert out.failures == []


def test_a_record_naming_an_unknown_accountant_fails() -> None:
    # Prepare
    one = _cost(1, PLD)
    records = [_spend("j", accountant="zcdp", epsilon_job=one, epsilon_total=one)]

    # Act
    out = _check(records)

    # Assert
    [failure] = out.failures
    assert (failure.check, failure.index) == (Check.BUDGET, 0)
    assert "accountant 'zcdp'" in failure.message
    assert "does not know" in failure.message


def test_pld_figures_without_the_accountant_read_as_rdp_and_fail() -> None:
    # Prepare: a department reporting PLD's smaller figures but not saying so
    one = _cost(1, PLD)
    records = [_spend("j", accountant=None, epsilon_job=one, epsilon_total=one)]

    # Act
    out = _check(records)

    # Assert: recomputed under RDP, the figures are too small
    assert out.failures
    assert "compose to" in out.failures[0].message


def test_a_total_going_down_without_a_new_accountant_fails() -> None:
    # Prepare: two PLD rounds, the second reporting less than the first
    one, two = _cost(1, PLD), _cost(2, PLD)
    records = [
        _spend("j", accountant="pld", epsilon_job=one, epsilon_total=one),
        _spend(
            "j",
            accountant="pld",
            epsilon_job=two,
            epsilon_total=one / 2,
            previous_job=one,
        ),
    ]

    # Act
    out = _check(records)

    # Assert
    assert any("went down" in f.message for f in out.failures)


# -- the budget book's changes ---------------------------------------------------------


def _grant(generation: int, limit: float) -> AuditRecord:
    return AuditRecord(
        actor=ActorId(ACTOR),
        role=Role.DEPARTMENT,
        action=Action.BUDGET_GRANT,
        timestamp_ms=1,
        dataset=DatasetId("randhie"),
        details={
            "department": "dept-0",
            "phase": "budget",
            "epsilon-limit": number_text(limit),
            BUDGET_GENERATION: str(generation),
        },
    )


def _numbered(record: AuditRecord, generation: int) -> AuditRecord:
    details = {**record.details, BUDGET_GENERATION: str(generation)}
    return dataclasses.replace(record, details=details)


def _book_findings(records: list[AuditRecord]) -> Findings:
    out = Findings()
    check_book_changes(_departments(records), out)
    return out


def test_a_book_followed_change_by_change_passes() -> None:
    one = _cost(1, PLD)
    spend = _spend("j", accountant="pld", epsilon_job=one, epsilon_total=one)
    out = _book_findings([_grant(1, 10.0), _numbered(spend, 2)])
    assert (out.failures, out.warnings) == ([], [])


def test_a_limit_raised_off_the_record_fails() -> None:
    # Prepare: the grant on record says 3; the spend is against 10 (raised
    # with nothing on record, as the issue found).
    one = _cost(1, PLD)
    spend = _spend("j", accountant="pld", epsilon_job=one, epsilon_total=one)

    # Act
    out = _book_findings([_grant(1, 3.0), _numbered(spend, 2)])

    # Assert
    [failure] = out.failures
    assert failure.index == 1
    assert "the limit changed with nothing on record" in failure.message


def test_a_rolled_back_book_and_unrecorded_changes_fail() -> None:
    one = _cost(1, PLD)
    spend = _spend("j", accountant="pld", epsilon_job=one, epsilon_total=one)
    back = _book_findings([_grant(1, 10.0), _numbered(spend, 3), _numbered(spend, 2)])
    gap = _book_findings([_grant(1, 10.0), _numbered(spend, 4)])
    assert any("went back from generation 3 to 2" in f.message for f in back.failures)
    assert "2 change(s) of it are not on record" in gap.failures[0].message
