"""Key rotation and lost keys: records follow the key that held the role."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from auditor.report import Check
from auditor.verify import load_log
from ledger.errors import AnchorError
from ledger.layout import KEY_FILE, department_dir
from ledger.records import Action, AuditRecord, Role
from tests.audit_federation import run_job, small_job
from tests.audit_fixtures import AuditHarness

if TYPE_CHECKING:
    from pathlib import Path


def _records(path: Path) -> list[AuditRecord]:
    return [AuditRecord.decode(data) for data in load_log(path).records]


def test_a_rotated_key_hands_over_and_both_logs_verify(
    embedded_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare
    env = embedded_env
    first = run_job(env, small_job(job_id="before", num_rounds=1), tmp_path / "before")
    old = env.departments["dept-1"]

    # Act
    new = env.rotate_key("dept-1", reason="yearly rotation")
    run_job(
        env, small_job(job_id="after", num_rounds=1), tmp_path / "after", after=first
    )
    report = env.verify()

    # Assert
    assert report.ok, report.summary()
    assert env.departments["dept-1"] == new != old
    assert env.roles.has_role(new, Role.DEPARTMENT)
    assert not env.roles.has_role(old, Role.DEPARTMENT)
    folder = department_dir(env.state_dir, "dept-1")
    assert json.loads((folder / KEY_FILE).read_text())["address"] == new
    assert (folder / f"{KEY_FILE}.{old}.retired").exists()
    old_log, new_log = (
        next(p for p in env.log_paths() if p.name == f"audit-{address}.db")
        for address in (old, new)
    )
    handover, takeover = _records(old_log)[-1], _records(new_log)[0]
    assert (handover.action, handover.details["new-actor"]) == (
        Action.KEY_ROTATION,
        new,
    )
    assert (takeover.action, takeover.details["previous-actor"]) == (
        Action.KEY_ROTATION,
        old,
    )
    dept1 = [log for log in report.logs if log.department == "dept-1"]
    assert [log.anchored_size == log.records for log in dept1] == [True, True]


def test_a_lost_key_leaves_a_reported_gap_and_the_new_key_carries_on(
    embedded_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare: dept-2's last records are never anchored before its key is lost.
    env = embedded_env
    first = run_job(env, small_job(job_id="before", num_rounds=1), tmp_path / "before")
    lost = env.departments["dept-2"]
    second = run_job(
        env,
        small_job(job_id="lost", num_rounds=1),
        tmp_path / "lost",
        after=first,
        finish=False,
    )

    # Act
    env.replace_lost_key("dept-2")
    with pytest.raises(AnchorError, match="holds neither"):
        env.finish(second.record, timeout_s=0.2)
    report = env.verify()

    # Assert
    gap = [f for f in report.failures if lost in f.log]
    assert [(f.check, f.index) for f in gap] == [(Check.ANCHOR, 5), (Check.ROLE, 5)]
    assert "records [5, 10) are not anchored" in gap[0].message
    assert all(f.check is not Check.IDENTITY for f in report.failures)


def test_the_coordinator_can_rotate_too(
    embedded_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare
    env = embedded_env
    first = run_job(env, small_job(job_id="before", num_rounds=1), tmp_path / "before")

    # Act
    env.rotate_key()
    run_job(
        env, small_job(job_id="after", num_rounds=1), tmp_path / "after", after=first
    )
    report = env.verify()

    # Assert
    assert report.ok, report.summary()
    assert [log.role for log in report.logs].count("coordinator") == 2
