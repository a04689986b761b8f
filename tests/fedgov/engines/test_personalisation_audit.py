"""A personalised job on the in-process engine, audited: the auditor recomputes
the fine-tuning's spend and fails a log that understates it.

Three departments, one round, one epoch of fine-tuning (about a minute with
the embedded chain, so slow).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest

from auditor._budget_checks import check_budget
from auditor._index import DepartmentLogs
from auditor._log_checks import AuditedLog, Findings
from auditor.report import Check
from auditor.verify import load_log
from fedgov import protocol as p
from fedgov.engines.inprocess import InProcessEngine
from ledger.record_fields import STAGE, STAGE_PERSONALISE, number_text
from ledger.records import Action, AuditRecord, Role
from privacy.accounting import GaussianSpend, history_epsilon
from tests.audit_federation import small_job

if TYPE_CHECKING:
    from tests.audit_fixtures import AuditHarness


def _epsilon_of(mechanisms: list[tuple[float, float, int, str]], delta: float) -> float:
    return history_epsilon(
        [(GaussianSpend(n, q, s), a) for n, q, s, a in mechanisms], delta=delta
    )


def _budget_findings(name: str, records: list[AuditRecord]) -> Findings:
    log = AuditedLog(
        label=f"{name} log",
        log=cast(Any, SimpleNamespace(actor=records[0].actor)),
        records=tuple(records),
        role=Role.DEPARTMENT,
        department=name,
        anchored_size=len(records),
        anchors=1,
    )
    out = Findings()
    check_budget(DepartmentLogs(name, [log]), out, _epsilon_of)  # type: ignore[arg-type]
    return out


@pytest.mark.slow
def test_the_fine_tuning_spend_is_audited_and_recomputed(
    embedded_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare
    env = embedded_env
    job = small_job(
        num_rounds=1,
        model="logreg",
        run_dir=str(tmp_path / "run"),
        state_dir=str(env.state_dir),
        epsilon=1.0,
        personalise=True,
        personalise_share=0.5,
        personalise_epochs=1,
    )

    # Act
    record = InProcessEngine(ledger=env.ledger, roles=env.roles).run(job)
    report = env.verify(run_record=record)

    # Assert: every department personalised within the job's epsilon, and
    # the auditor accepts the logs, fine-tuning included
    outcomes = record.extra["personalisation"]
    assert {o["status"] for o in outcomes} == {p.Status.OK}
    assert all(o["metrics"][p.Metric.EPSILON_JOB] <= 1.0 + 1e-9 for o in outcomes)
    assert report.ok, report.summary()
    name = env.names[0]
    path = next(x for x in env.log_paths() if x.parent.name == name)
    records = [AuditRecord.decode(d) for d in load_log(path).records]
    last = [r for r in records if r.round == job.num_rounds + 1]
    # (no access policy here: no access_granted record before the spend)
    assert [r.action for r in last] == [
        Action.BUDGET_SPEND,
        Action.DATA_READ,
        Action.TRAIN_ROUND,
        Action.DATA_READ,
        Action.EVALUATE,
    ]
    trained = last[2]
    assert trained.details[STAGE] == STAGE_PERSONALISE
    assert trained.details["sent"] == "kept"
    assert _budget_findings(name, records).failures == []

    # ... and a log claiming the fine-tuning used more noise than it did
    # (a smaller spend) fails the recomputation
    spend = last[0]
    claimed = float(spend.details[p.Metric.NOISE_MULTIPLIER]) * 2
    forged = dataclasses.replace(
        spend,
        details={
            **spend.details,
            p.Metric.NOISE_MULTIPLIER: number_text(claimed),
        },
    )
    tampered = [forged if r is spend else r for r in records]
    failures = _budget_findings(name, tampered).failures
    assert any(f.check is Check.BUDGET for f in failures), failures
