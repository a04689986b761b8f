"""SecAgg+ training rounds in the audit: the stage that trains is logged.

Runs the coordinator's real secure training over the in-process grid of
``tests/coordinator/test_secagg.py`` (SecAgg+'s four stages through Flower's
own mods): once with real departments (DP-SGD, budgets), then with
departments whose updates are fixed (fast) to see a withheld update logged
and a missing record caught.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import pytest
from flwr.app import Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from auditor.report import Check
from auditor.verify import load_log
from coordinator.secagg import run_secure_training
from department_nodes import audit as department_mod
from department_nodes._audit_rounds import department_round_records
from department_nodes.audit import Handled, record_handled
from department_nodes.client_app import make_client_app
from department_nodes.secagg import handle_secure_round
from fedgov import protocol as p
from fedgov.job import DEFAULT_ACCOUNTANT
from ledger.records import ZERO_HASH, Action, AuditRecord
from privacy.accounting import GaussianSpend, epsilon_spent
from tests.audit_fixtures import DEPARTMENTS, AuditHarness
from tests.coordinator.test_secagg import (
    JOB,
    FixedDepartment,
    InProcessGrid,
    _departments,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from flwr.clientapp.typing import Mod

    from fedgov.job import TrainJob
    from fedgov.run_record import RunRecord

pytestmark = pytest.mark.usefixtures("flower_task")


def _records(env: AuditHarness, index: int) -> list[AuditRecord]:
    """The records of log ``index`` (0: the coordinator's, then each department's)."""
    return [AuditRecord.decode(d) for d in load_log(env.log_paths()[index]).records]


def _train(env: AuditHarness, job: TrainJob, grid: InProcessGrid) -> RunRecord:
    context = Context(
        run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={}
    )
    record = run_secure_training(
        grid, context, job, engine="in-process", on_round=env.observer()
    )
    env.finish(record)
    return record


def test_a_secure_round_is_audited_at_both_ends(
    embedded_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare: real departments, the audit mod in their ClientApp.
    job = embedded_env.configure(replace(JOB, run_dir=str(tmp_path / "run")))
    app = make_client_app(job=job)
    grid = InProcessGrid({1: app, 2: app, 3: app})

    # Act
    record = _train(embedded_env, job, grid)
    report = embedded_env.verify(run_record=record)

    # Assert: matched without any update hash at the coordinator.
    assert report.ok, report.summary()
    assert (report.rounds, report.warnings) == (1, ())
    entries = {
        r.details["department"]: r
        for r in _records(embedded_env, 0)
        if r.details.get("entry") == "department"
    }
    digests = set()
    for index, name in enumerate(DEPARTMENTS, start=1):
        grant, spend, read, update = _records(embedded_env, index)
        assert (grant.action, spend.action, read.action, update.action) == (
            Action.BUDGET_GRANT,
            Action.BUDGET_SPEND,
            Action.DATA_READ,
            Action.TRAIN_ROUND,
        )
        assert (update.details["aggregation"], update.details["sent"]) == (
            "secagg+",
            "masked",
        )
        assert update.record_count == read.record_count == entries[name].record_count
        assert entries[name].result_hash == ZERO_HASH
        assert entries[name].details["aggregation"] == "secagg+"
        digests.add(update.result_hash)
    assert ZERO_HASH not in digests
    assert len(digests) == len(DEPARTMENTS)


@dataclass
class PrivateFixedDepartment(FixedDepartment):
    """A fixed update, with the DP figures of a department charging each round."""

    spends: list[GaussianSpend] = field(default_factory=list)
    state: RecordDict | None = None
    """The node's Context.state, where it says what it did (as a real node)."""

    def train(self, msg: Message) -> Message:
        spend = GaussianSpend(1.1, 0.05, 20)
        before = (
            epsilon_spent(self.spends, delta=self.job.delta) if self.spends else 0.0
        )
        self.spends.append(spend)
        reply = super().train(msg)
        epsilon = epsilon_spent(self.spends, delta=self.job.delta)
        if self.state is not None:
            record_handled(
                self.state,
                Handled(
                    phase="train",
                    rows=self.num_examples,
                    epsilon=epsilon - before,
                    accountant=DEFAULT_ACCOUNTANT.value,
                    noise_multiplier=spend.noise_multiplier,
                    sample_rate=spend.sample_rate,
                    steps=spend.steps,
                ),
            )
        figures: dict[str, int | float] = {
            "epsilon-job": epsilon,
            "epsilon-total": epsilon,
            "noise-multiplier": spend.noise_multiplier,
            "sample-rate": spend.sample_rate,
            "steps": spend.steps,
        }
        reply.content[p.Record.METRICS] = MetricRecord(
            {**reply.content.metric_records[p.Record.METRICS], **figures}
        )
        return reply


def _fixed(job: TrainJob, *, scale: float = 0.05) -> list[PrivateFixedDepartment]:
    return [
        PrivateFixedDepartment(**vars(d))
        for d in _departments(job, [3000, 2000, 1000], scale=scale)
    ]


def _audited(department: FixedDepartment, mod: Mod) -> ClientApp:
    app = ClientApp(mods=[mod])

    def node(context: Context) -> FixedDepartment:
        if isinstance(department, PrivateFixedDepartment):
            department.state = context.state
        return department

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        return handle_secure_round(msg, context, node=node)

    return app


def test_an_update_a_department_withholds_is_logged_as_withheld(
    embedded_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare: dept-0's update is too large to send.
    job = embedded_env.configure(replace(JOB, run_dir=str(tmp_path / "run")))
    departments = _fixed(job)
    first = next(iter(departments[0].difference))
    departments[0].difference[first].flat[0] = 1e6
    mod = embedded_env.client_mod()
    grid = InProcessGrid({i + 1: _audited(d, mod) for i, d in enumerate(departments)})

    # Act
    record = _train(embedded_env, job, grid)
    report = embedded_env.verify(run_record=record)

    # Assert: it read and spent, and says it did not send.
    assert report.ok, report.summary()
    assert record.rounds[0]["train"][0]["status"] == p.Outcome.REJECTED
    spend, read, update = _records(embedded_env, 1)
    assert update.details["sent"] == "withheld"
    assert read.record_count == update.record_count == 3000
    assert spend.action is Action.BUDGET_SPEND


def _without_secure_updates(
    department: str,
) -> Callable[..., list[AuditRecord]]:
    """A dishonest department's records: its secure updates go unlogged."""

    def records(*args: object, **kwargs: object) -> list[AuditRecord]:
        out = department_round_records(*args, **kwargs)  # type: ignore[arg-type]
        if kwargs["department"] != department:
            return out
        return [r for r in out if r.action is not Action.TRAIN_ROUND]

    return records


def test_a_secure_round_missing_from_a_departments_log_is_an_omission(
    embedded_env: AuditHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    job = embedded_env.configure(replace(JOB, run_dir=str(tmp_path / "run")))
    mod = embedded_env.client_mod()
    grid = InProcessGrid({i + 1: _audited(d, mod) for i, d in enumerate(_fixed(job))})
    monkeypatch.setattr(
        department_mod, "department_round_records", _without_secure_updates("dept-1")
    )

    # Act
    record = _train(embedded_env, job, grid)
    report = embedded_env.verify(run_record=record)

    # Assert
    failure = report.first_failure
    assert failure is not None
    assert failure.check is Check.COMPLETENESS
    assert failure.log == str(embedded_env.log_paths()[0])
    assert failure.message == (
        "omission: dept-1 trained in secure round 1 of job 'secagg-unit', but its "
        "log holds no train_round record for it"
    )
