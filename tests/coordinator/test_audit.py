"""The coordinator's audit records: rounds, roster, model export, the observer."""

from __future__ import annotations

import hashlib
import json
import warnings
from typing import TYPE_CHECKING

import pytest
from eth_account import Account

from auditor.verify import load_log
from coordinator.audit import (
    CoordinatorAudit,
    model_export_record,
    roster_record,
    round_records,
)
from coordinator.guard import DepartmentOutcome, RoundReport
from fedgov.run_record import RunRecord
from ledger.actor_log import ActorLog
from ledger.errors import AuditError
from ledger.records import ZERO_HASH, Action, AuditRecord, Role
from tests.audit_federation import small_job

if TYPE_CHECKING:
    from pathlib import Path

COORDINATOR = Account.from_key("0x" + "33" * 32)
UPDATE = "ab" * 32
AGGREGATE = "cd" * 32


def _report() -> RoundReport:
    report = RoundReport(server_round=3, started=0.0)
    report.train = [
        DepartmentOutcome(
            "dept-0",
            11,
            "trained",
            "",
            {"num-examples": 120.0, "epsilon-job": 0.25, "epsilon-total": 1.5},
            update_hash=UPDATE,
        ),
        DepartmentOutcome(
            "dept-1", 12, "refused", "over budget " * 400, {"epsilon-total": 8.0}
        ),
        DepartmentOutcome("dept-2", 13, "rejected", "update norm 1e3 exceeds 100", {}),
        DepartmentOutcome("node-14", 14, "failed", "timed out"),
    ]
    report.evaluate = [
        DepartmentOutcome("dept-0", 11, "trained", "", {"eval-accuracy": 0.8}),
        DepartmentOutcome("dept-1", 12, "trained", "", {"eval-accuracy": 0.7}),
    ]
    report.aggregate_hash = AGGREGATE
    return report


def test_a_round_becomes_one_record_per_department_then_the_rounds() -> None:
    # Prepare
    job = small_job(purpose="cost model")

    # Act
    records = round_records(
        _report(), job=job, actor=COORDINATOR.address, timestamp_ms=1
    )

    # Assert
    *entries, summary = records
    assert [r.details["department"] for r in entries] == [
        "dept-0",
        "dept-1",
        "dept-2",
        "node-14",
    ]
    assert all(
        r.action is Action.AGGREGATE and r.role is Role.COORDINATOR for r in records
    )
    assert all(
        (r.job, r.round, r.purpose) == ("audit-job", 3, "cost model") for r in records
    )
    trained, refused, rejected, failed = entries
    assert trained.result_hash == bytes.fromhex(UPDATE)
    assert trained.record_count == 120
    assert (trained.details["epsilon-job"], trained.details["epsilon-total"]) == (
        "0.25",
        "1.5",
    )
    assert (trained.details["evaluate"], refused.details["evaluate"]) == (
        "trained",
        "trained",
    )
    assert rejected.details["evaluate"] == "none"
    assert len(refused.details["reason"]) == 2000
    assert refused.result_hash == ZERO_HASH
    assert failed.details["train"] == "failed"
    assert summary.details["entry"] == "round"
    assert summary.result_hash == bytes.fromhex(AGGREGATE)
    assert json.loads(summary.details["trained"]) == ["dept-0"]
    assert json.loads(summary.details["refused"]) == ["dept-1"]
    assert summary.record_count == 120


def test_the_roster_names_each_departments_address() -> None:
    # Prepare
    job = small_job()
    roster = {"dept-0": "0x" + "01" * 20, "dept-1": "0x" + "02" * 20}

    # Act
    record = roster_record(
        job, actor=COORDINATOR.address, departments=roster, timestamp_ms=1
    )

    # Assert
    assert record.action is Action.JOB_SUBMIT
    assert record.details["department:dept-0"] == "0x" + "01" * 20
    assert (record.details["num-rounds"], record.details["epsilon"]) == ("2", "1.0")


def test_the_model_export_records_the_checkpoints_sha256(tmp_path: Path) -> None:
    # Prepare
    checkpoint = tmp_path / "final_model.pt"
    checkpoint.write_bytes(b"weights")
    record = RunRecord(
        job={},
        engine="simulation",
        started_at=0.0,
        finished_at=1.0,
        rounds=[{"aggregate_hash": AGGREGATE}, {"aggregate_hash": ""}],
        departments=[],
        checkpoint=str(checkpoint),
    )

    # Act
    export = model_export_record(
        record, job=small_job(), actor=COORDINATOR.address, timestamp_ms=1
    )

    # Assert
    assert export.result_hash == hashlib.sha256(b"weights").digest()
    assert export.details["final-aggregate"] == AGGREGATE
    assert export.round == 2


def test_a_run_without_a_checkpoint_file_cannot_record_its_export(
    tmp_path: Path,
) -> None:
    # Prepare
    record = RunRecord({}, "x", 0.0, 0.0, [], [], str(tmp_path / "missing.pt"))

    # Act / Assert
    with pytest.raises(AuditError, match="cannot hash the checkpoint"):
        model_export_record(
            record, job=small_job(), actor=COORDINATOR.address, timestamp_ms=1
        )


def test_the_observer_commits_the_round_then_calls_the_next_callback(
    tmp_path: Path,
) -> None:
    # Prepare
    log = ActorLog(tmp_path, COORDINATOR, domain=None)
    audit = CoordinatorAudit(log, small_job())
    seen: list[list[AuditRecord]] = []

    def next_callback(report: RoundReport) -> None:
        seen.append([AuditRecord.decode(r) for r in load_log(log.path).records])

    # Act
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        audit.observer(next_callback)(_report())

    # Assert
    assert len(seen) == 1
    assert len(seen[0]) == 5


class _Relay:
    """The relay's calls, kept (a unit test's stand-in for the chain)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def watch(self, path: Path) -> None:
        self.calls.append(f"watch {path.name}")

    def notify(self) -> None:
        self.calls.append("notify")

    def flush(self, timeout_s: float = 60.0) -> list[object]:
        self.calls.append("flush")
        return []

    def stop(self, *, flush: bool = True, timeout_s: float = 60.0) -> None:
        self.calls.append(f"stop flush={flush}")


def test_a_hook_for_another_job_shares_the_log_and_relay_and_anchor_keeps_it(
    tmp_path: Path,
) -> None:
    relay = _Relay()
    log = ActorLog(tmp_path, COORDINATOR, None)
    standing = CoordinatorAudit(
        log,
        small_job(),
        relay=relay,  # type: ignore[arg-type]
        roster={"dept-0": "0xabc"},
        state_dir=tmp_path,
    )
    question = small_job(job_id="query-1")

    hook = standing.for_job(question)
    hook.record_roster()
    hook.anchor()

    assert hook.log is standing.log
    assert hook.relay is standing.relay
    assert hook.roster == standing.roster
    assert hook.job is question
    # Written under the question's own job id, anchored, the relay left running.
    assert AuditRecord.decode(load_log(log.path).records[-1]).job == "query-1"
    assert relay.calls[-1] == "flush"
    assert not [c for c in relay.calls if c.startswith("stop")]

    standing.close()

    assert relay.calls[-2:] == ["flush", "stop flush=False"]
