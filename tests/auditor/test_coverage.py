"""The chain is the list of logs: a log withheld from the auditor fails the audit.

Issue 12's first finding: deleting the coordinator's log (and the department
logs that carried failures) from the state folder gave ``audit OK``, while the
AnchorRegistry held their anchors. Each test here deletes, corrupts or narrows
on purpose, and checks the auditor asks the chain which logs exist.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest
from eth_account import Account

from auditor.report import Check
from auditor.verify import verify_audit
from fedgov.errors import ConfigurationError
from ledger.chain import Chain
from ledger.layout import find_logs
from ledger.records import Role
from tests.audit_federation import run_job, small_job
from tests.audit_fixtures import AuditHarness, harness

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from auditor.report import AuditReport


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditHarness]:
    """One honest, fully anchored job on the embedded chain."""
    root = tmp_path_factory.mktemp("coverage")
    for env in harness(Chain.embedded(), root):
        run_job(env, small_job(), root / "run")
        yield env


def _state_copy(env: AuditHarness, tmp_path: Path) -> Path:
    copy = tmp_path / "state"
    shutil.copytree(env.state_dir, copy)
    return copy


def _verify(env: AuditHarness, state: Path, **options: object) -> AuditReport:
    return verify_audit(
        find_logs(state),
        chain=env.chain,
        registry=env.registry.address,
        **options,  # type: ignore[arg-type]
    )


def _log_of(state: Path, folder: str) -> Path:
    (path,) = (p for p in find_logs(state) if p.parent.name == folder)
    return path


def test_the_whole_state_folder_passes_and_says_the_chain_was_asked(
    audited: AuditHarness, tmp_path: Path
) -> None:
    # Act
    report = _verify(audited, _state_copy(audited, tmp_path))

    # Assert
    assert report.ok, report.summary()
    assert report.listed_logs == 4
    assert "the chain lists 4 log(s)" in report.summary()


def test_deleting_the_coordinators_log_fails(
    audited: AuditHarness, tmp_path: Path
) -> None:
    # Prepare: the attack, as typed into the state folder.
    state = _state_copy(audited, tmp_path)
    _log_of(state, "coordinator").unlink()

    # Act
    report = _verify(audited, state)

    # Assert
    assert not report.ok
    (failure,) = [f for f in report.failures if f.check is Check.COVERAGE]
    assert "coordinator" in failure.message
    assert "but it was not given" in failure.message
    assert failure.block is not None


def test_deleting_the_coordinator_and_failing_departments_logs_fails_for_each(
    audited: AuditHarness, tmp_path: Path
) -> None:
    # Prepare: leave only the logs that carry nothing inconvenient.
    state = _state_copy(audited, tmp_path)
    for folder in ("coordinator", "dept-1", "dept-2"):
        _log_of(state, folder).unlink()

    # Act
    report = _verify(audited, state)

    # Assert
    missing = [f.message for f in report.failures if f.check is Check.COVERAGE]
    assert len(missing) == 3
    for name in ("dept-1", "dept-2"):
        assert sum(audited.departments[name] in m for m in missing) == 1
    assert sum(audited.coordinator_address in m for m in missing) == 1
    assert report.summary().startswith("audit FAILED")


def test_an_unreadable_log_is_named_once(audited: AuditHarness, tmp_path: Path) -> None:
    # Prepare
    state = _state_copy(audited, tmp_path)
    log = _log_of(state, "dept-0")
    for companion in log.parent.glob(log.name + "-*"):
        companion.unlink()  # the WAL would otherwise still hold the records
    log.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)

    # Act
    report = _verify(audited, state)

    # Assert
    first = report.first_failure
    assert first is not None
    assert first.check is Check.INTEGRITY
    assert "cannot be read" in first.message
    assert not [f for f in report.failures if f.check is Check.COVERAGE]


def test_only_narrows_the_audit_and_the_report_names_what_it_left_out(
    audited: AuditHarness, tmp_path: Path
) -> None:
    # Prepare
    state = _state_copy(audited, tmp_path)
    _log_of(state, "dept-2").unlink()
    dept0 = _log_of(state, "dept-0").stem.removeprefix("audit-")

    # Act: the departments' own logs, on their own.
    report = _verify(audited, state, only=(dept0, "dept-1"))

    # Assert
    assert report.ok, report.summary()
    assert report.only == (dept0, "dept-1")
    assert [log.department for log in report.logs] == ["dept-0", "dept-1"]
    coordinator, dept2 = report.not_audited
    assert coordinator.startswith("log 0x")
    assert "coordinator" in coordinator
    assert "department dept-2" in dept2
    assert "2 log(s) the chain lists were NOT audited" in report.summary()
    assert report.to_json()["not_audited"] == [coordinator, dept2]
    with pytest.raises(ConfigurationError, match="--only: 'dept-9' names no log"):
        _verify(audited, state, only=("dept-9",))


def test_a_roster_address_the_chain_never_registered_fails(
    embedded_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare: a second job whose roster speaks for dept-1 with a key of the
    # coordinator's choosing, one the Roles contract never registered.
    env = embedded_env
    run_job(env, small_job(), tmp_path / "run")
    env.configure(small_job(job_id="second"))
    env.audit.record_roster({**env.departments, "dept-1": Account.create().address})
    env.finish()

    # Act
    report = env.verify()

    # Assert
    roster = [f.message for f in report.failures if f.check is Check.IDENTITY]
    assert any("never granted the department role" in m for m in roster), roster


def test_a_registered_actor_without_any_log_is_a_warning(
    audited: AuditHarness, tmp_path: Path
) -> None:
    # Prepare: a fourth department is granted its role and never writes.
    idle = Account.create()
    admin = audited.ledger.admin
    assert admin is not None
    audited.roles.grant(idle.address, Role.DEPARTMENT, sender=admin)
    try:
        # Act
        report = _verify(audited, _state_copy(audited, tmp_path))
    finally:
        audited.roles.revoke(idle.address, Role.DEPARTMENT, sender=admin)

    # Assert
    assert report.ok, report.summary()
    (warning,) = [w for w in report.warnings if w.check is Check.COVERAGE]
    assert idle.address in warning.message
    assert "never committed a record" in warning.message
