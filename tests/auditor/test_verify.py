"""The auditor: an honest job passes; every tampering and abuse is named.

One honest job is run once per module on the embedded chain and exported;
each tampering test edits a copy of those exports (or of a store) and checks
that the first failure names the log, the record (or anchor) and the reason.
The honest job and a truncation also run on anvil (``chain`` fixture), and
``test_cli`` tampers on anvil too.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from auditor.errors import AuditFailedError
from auditor.report import Check
from auditor.verify import verify_audit
from coordinator.guard import DepartmentOutcome
from department_nodes.audit import DepartmentAuditMod
from fedgov.errors import ConfigurationError
from ledger.chain import Chain
from ledger.errors import AnchorError
from ledger.keys import PlaintextKeyWarning, load_key
from ledger.layout import KEY_FILE, LOG_NAME, department_dir
from ledger.records import AuditRecord, Role
from ledger.store import LogStore
from tests.audit_federation import (
    JobResult,
    StandInDepartment,
    incoming,
    node_context,
    run_job,
    small_job,
)
from tests.audit_fixtures import DEPARTMENTS, AuditHarness, harness

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from auditor.report import AuditReport
    from coordinator.guard import RoundReport

# Each department's log, per round: train (budget_spend, data_read,
# train_round: one signed head), then evaluate (data_read, evaluate: another).
TRAIN_ROUND_2 = (5, 8)


@dataclass
class Honest:
    env: AuditHarness
    result: JobResult
    exports: dict[str, Path]
    """Export file per actor: "coordinator", "dept-0", ..."""


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Honest]:
    root = tmp_path_factory.mktemp("honest")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextKeyWarning)
        for env in harness(Chain.embedded(), root):
            result = run_job(env, small_job(), root / "run")
            exports = {
                path.name.split("-audit-")[0]: path
                for path in env.export_logs(root / "exports")
            }
            yield Honest(env, result, exports)


def _verify(env: AuditHarness, logs: list[Path], **options: Any) -> AuditReport:
    return verify_audit(
        logs,
        chain=env.chain,
        registry=env.registry.address,
        roles=env.roles.address,
        **options,
    )


def _copy(honest: Honest, tmp_path: Path) -> dict[str, Path]:
    return {
        name: Path(shutil.copy(path, tmp_path)) for name, path in honest.exports.items()
    }


def _edit(path: Path, edit: Callable[[list[dict[str, Any]]], None]) -> None:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    edit(lines)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _record_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "record" in line]


def _truncate_to_8(lines: list[dict[str, Any]]) -> None:
    """Drop records 8 and 9 and the heads that covered them, consistently."""
    for line in _record_lines(lines)[8:]:
        lines.remove(line)
    for line in [x for x in lines if "signed_head" in x]:
        if line["signed_head"]["tree_size"] > 8:
            lines.remove(line)
    lines[0]["size"] = 8


# -- an honest job --------------------------------------------------------------------


def test_an_honest_job_passes_and_a_truncation_fails_on_both_backends(
    audit_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare
    result = run_job(audit_env, small_job(), tmp_path / "run")

    exports = audit_env.export_logs(tmp_path / "exports")
    _edit(exports[0], _truncate_to_8)

    # Act
    report = audit_env.verify(run_record=result.record)
    truncated = _verify(audit_env, exports)

    # Assert
    assert report.ok, report.summary()
    assert report.warnings == ()
    assert (report.jobs, report.rounds, report.records) == (("audit-job",), 2, 40)
    assert sorted(log.department for log in report.logs) == ["", *DEPARTMENTS]
    assert all(log.anchored_size == log.records == 10 for log in report.logs)
    failure = truncated.first_failure
    assert failure is not None
    assert (failure.check, failure.log, failure.index) == (
        Check.ANCHOR,
        str(exports[0]),
        8,
    )


def test_exports_verify_like_the_stores_and_the_report_explains_itself(
    honest: Honest,
) -> None:
    # Act
    report = _verify(
        honest.env, list(honest.exports.values()), run_record=honest.result.record
    )

    # Assert
    assert report.ok, report.summary()
    assert report.summary().startswith(
        "audit OK: 4 logs, 40 records, 2 rounds of 1 job(s)"
    )
    assert json.loads(json.dumps(report.to_json()))["ok"] is True
    report.raise_if_failed()


# -- tampering with a log ---------------------------------------------------------------


def test_a_record_altered_in_a_store_is_named_exactly(
    honest: Honest, tmp_path: Path
) -> None:
    # Prepare
    store = tmp_path / "dept-1.db"
    (source,) = (p for p in honest.env.log_paths() if p.parent.name == "dept-1")
    with LogStore(source) as original:
        original.export(tmp_path / "dept-1.jsonl")
    LogStore.import_export(tmp_path / "dept-1.jsonl", store).close()
    db = sqlite3.connect(store)
    db.execute("DROP TRIGGER records_no_update")
    db.execute(
        "UPDATE records SET data = CAST(replace(CAST(data AS TEXT), '1000', '9999') AS BLOB) "
        "WHERE idx = 6"
    )
    db.commit()
    db.close()

    # Act
    others = [honest.exports[name] for name in ("coordinator", "dept-0", "dept-2")]
    report = _verify(honest.env, [*others, store])

    # Assert
    failure = report.first_failure
    assert failure is not None
    assert (failure.check, failure.log, failure.index) == (
        Check.INTEGRITY,
        str(store),
        6,
    )
    assert "do not match its stored leaf hash" in failure.message


def test_a_record_altered_in_an_export_is_pinned_to_its_signed_batch(
    honest: Honest, tmp_path: Path
) -> None:
    # Prepare
    files = _copy(honest, tmp_path)
    _edit(
        files["dept-1"],
        lambda lines: _record_lines(lines)[6]["record"].update(record_count=1),
    )

    # Act
    report = _verify(honest.env, list(files.values()))

    # Assert
    failure = report.first_failure
    assert failure is not None
    assert (failure.check, failure.log, failure.index) == (
        Check.INTEGRITY,
        str(files["dept-1"]),
        TRAIN_ROUND_2[0],
    )
    assert "records [5, 8) do not hash to the root" in failure.message
    anchor = next(f for f in report.failures if f.check is Check.ANCHOR)
    assert "records [5, 10) do not hash to the root anchored in block" in anchor.message


def test_a_deleted_record_is_named(honest: Honest, tmp_path: Path) -> None:
    # Prepare
    files = _copy(honest, tmp_path)

    def delete(lines: list[dict[str, Any]]) -> None:
        lines.remove(_record_lines(lines)[6])

    _edit(files["dept-2"], delete)

    # Act
    report = _verify(honest.env, list(files.values()))

    # Assert
    failure = report.first_failure
    assert failure is not None
    assert (failure.check, failure.index) == (Check.INTEGRITY, 6)
    assert "record 6 expected, found 7" in failure.message


def test_reordered_records_are_pinned_to_their_batch(
    honest: Honest, tmp_path: Path
) -> None:
    # Prepare
    files = _copy(honest, tmp_path)

    def swap(lines: list[dict[str, Any]]) -> None:
        records = _record_lines(lines)
        records[5]["record"], records[6]["record"] = (
            records[6]["record"],
            records[5]["record"],
        )

    _edit(files["dept-0"], swap)

    # Act
    report = _verify(honest.env, list(files.values()))

    # Assert
    failure = report.first_failure
    assert failure is not None
    assert (failure.check, failure.log, failure.index) == (
        Check.INTEGRITY,
        str(files["dept-0"]),
        5,
    )


def test_an_inserted_record_is_pinned_to_its_batch(
    honest: Honest, tmp_path: Path
) -> None:
    # Prepare
    files = _copy(honest, tmp_path)

    def insert(lines: list[dict[str, Any]]) -> None:
        records = _record_lines(lines)
        forged = json.loads(json.dumps(records[6]))
        forged["record"]["purpose"] = "something else entirely"
        lines.insert(lines.index(records[6]) + 1, forged)
        for index, line in enumerate(_record_lines(lines)):
            line["index"] = index
        lines[0]["size"] += 1

    _edit(files["dept-0"], insert)

    # Act
    report = _verify(honest.env, list(files.values()))

    # Assert
    failure = report.first_failure
    assert failure is not None
    assert (failure.check, failure.index) == (Check.INTEGRITY, 5)


def test_a_truncated_log_is_caught_by_its_anchor(
    honest: Honest, tmp_path: Path
) -> None:
    # Prepare: drop the last batch and the heads that covered it, consistently.
    files = _copy(honest, tmp_path)

    _edit(files["coordinator"], _truncate_to_8)

    # Act
    report = _verify(honest.env, list(files.values()))

    # Assert
    failure = report.first_failure
    assert failure is not None
    assert (failure.check, failure.index) == (Check.ANCHOR, 8)
    assert failure.block is not None
    assert "records [8, 10) were removed (the log is truncated)" in failure.message


def test_a_replayed_tree_head_is_refused(honest: Honest, tmp_path: Path) -> None:
    # Prepare
    files = _copy(honest, tmp_path)

    def replay(lines: list[dict[str, Any]]) -> None:
        heads = [line for line in lines if "signed_head" in line]
        lines.insert(lines.index(heads[-1]) + 1, heads[0])

    _edit(files["dept-1"], replay)

    # Act
    report = _verify(honest.env, list(files.values()))

    # Assert
    failure = report.first_failure
    assert failure is not None
    assert failure.check is Check.INTEGRITY
    assert "signed head 4 (size 3) goes back in size or time" in failure.message


def test_a_department_rewriting_its_history_is_caught_as_a_fork(
    honest: Honest, tmp_path: Path
) -> None:
    # Prepare: dept-2 re-signs an edited history with its own key.
    key = load_key(
        department_dir(honest.env.state_dir, "dept-2") / KEY_FILE, password=None
    )
    original = json.loads(honest.exports["dept-2"].read_text().splitlines()[0])
    lines = [
        json.loads(line) for line in honest.exports["dept-2"].read_text().splitlines()
    ]
    records = [line["record"] for line in _record_lines(lines)]
    records[6]["record_count"] = 10
    sizes = [
        line["signed_head"]["tree_size"] for line in lines if "signed_head" in line
    ]

    forged = tmp_path / "forged.db"
    with LogStore(forged, actor=original["actor"], log_name=LOG_NAME) as store:
        done = 0
        for size in sizes:
            store.append_many(
                [AuditRecord.from_json_object(r) for r in records[done:size]]
            )
            store.sign_head(key, honest.env.registry.domain)
            done = size
    files = _copy(honest, tmp_path)

    # Act
    report = _verify(
        honest.env, [files["coordinator"], files["dept-0"], files["dept-1"], forged]
    )

    # Assert
    failure = report.first_failure
    assert failure is not None
    assert (failure.check, failure.log) == (Check.FORK, str(forged))
    assert failure.block is not None
    assert "two heads of size 10" in failure.message
    assert "committed to two different histories" in failure.message


def test_a_missing_department_log_fails_the_cross_check(honest: Honest) -> None:
    # Act: the chain lists dept-1's log; narrowed explicitly, the cross-check
    # still misses it.
    given = [honest.exports[n] for n in ("coordinator", "dept-0", "dept-2")]
    report = _verify(honest.env, given)
    narrowed = _verify(honest.env, given, only=("coordinator", "dept-0", "dept-2"))

    # Assert
    failure = report.first_failure
    assert failure is not None
    assert failure.check is Check.COVERAGE
    assert "department dept-1" in failure.message
    assert "but it was not given" in failure.message
    failure = narrowed.first_failure
    assert failure is not None
    assert (failure.check, failure.log) == (
        Check.COMPLETENESS,
        str(honest.exports["coordinator"]),
    )
    assert "no log of 'dept-1' was given" in failure.message
    assert len(narrowed.not_audited) == 1
    assert "narrowed with --only coordinator dept-0 dept-2" in narrowed.summary()


# -- the run record and the checkpoint --------------------------------------------------


def test_a_run_record_disagreeing_with_the_audit_is_named(honest: Honest) -> None:
    # Prepare
    record = asdict(honest.result.record)
    record["departments"][1]["epsilon_job"] = 0.01
    record["rounds"][0]["train"][0]["update_hash"] = "00" * 32

    # Act
    report = _verify(honest.env, list(honest.exports.values()), run_record=record)

    # Assert
    messages = [f.message for f in report.failures if f.check is Check.RUN_RECORD]
    assert len(messages) == 2
    assert "round 1: dept-0 trained with update 0000" in messages[0]
    assert "dept-1's epsilon_job is 0.01 in the run record" in messages[1]


def test_a_swapped_checkpoint_is_named(honest: Honest, tmp_path: Path) -> None:
    # Prepare
    swapped = tmp_path / "final_model.pt"
    swapped.write_bytes(b"another model")

    # Act
    report = _verify(
        honest.env,
        list(honest.exports.values()),
        run_record=honest.result.record,
        checkpoint=swapped,
    )

    # Assert
    failure = report.first_failure
    assert failure is not None
    assert failure.check is Check.RUN_RECORD
    assert "the checkpoint's SHA-256 is" in failure.message
    with pytest.raises(AuditFailedError, match="checkpoint's SHA-256"):
        report.raise_if_failed()


# -- misbehaving parties ----------------------------------------------------------------


def test_a_department_that_trained_without_logging_is_an_omission(
    embedded_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare
    run_job(
        embedded_env,
        small_job(),
        tmp_path / "run",
        unaudited=frozenset({("dept-1", 2)}),
    )

    # Act
    report = embedded_env.verify()

    # Assert
    failure = report.first_failure
    assert failure is not None
    assert failure.check is Check.COMPLETENESS
    assert failure.log == str(embedded_env.log_paths()[0])
    assert failure.index == 6  # roster, 4 records of round 1, then dept-0, dept-1
    assert failure.message.startswith(
        "omission: dept-1 trained in round 2 of job 'audit-job'"
    )


def test_a_coordinator_swapping_an_update_is_caught_by_the_departments_log(
    embedded_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare
    def swap(report: RoundReport) -> None:
        if report.server_round == 1:
            outcome = report.train[2]
            report.train[2] = type(outcome)(
                **{**asdict(outcome), "update_hash": "11" * 32}
            )

    run_job(embedded_env, small_job(), tmp_path / "run", tamper_report=swap)

    # Act
    report = embedded_env.verify()

    # Assert
    failure = report.first_failure
    assert failure is not None
    assert failure.check is Check.COMPLETENESS
    assert "dept-2" in failure.log
    assert failure.index == 2
    assert "but the coordinator aggregated 0x1111" in failure.message


def test_a_department_under_reporting_its_epsilon_is_caught_by_its_own_records(
    embedded_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare
    run_job(
        embedded_env, small_job(), tmp_path / "run", under_report=frozenset({"dept-0"})
    )

    # Act
    report = embedded_env.verify()

    # Assert
    failure = report.first_failure
    assert failure is not None
    assert (failure.check, failure.index) == (Check.BUDGET, 0)
    assert "dept-0" in failure.log
    assert "compose to" in failure.message


def test_records_after_a_revoked_role_cannot_be_anchored_and_fail(
    embedded_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare: a job, then dept-2 loses its role and keeps writing.
    env = embedded_env
    result = run_job(env, small_job(), tmp_path / "run")
    env.roles.revoke(
        env.departments["dept-2"], Role.DEPARTMENT, sender=env.chain.accounts[0]
    )
    stray = result.departments["dept-2"]
    DepartmentAuditMod(result.job)(
        incoming("train", 3, 3), node_context(2), stray.train
    )

    # Act
    with pytest.raises(AnchorError, match="holds neither"):
        env.finish(timeout_s=0.2)
    report = env.verify()

    # Assert
    dept2 = [f for f in report.failures if "dept-2" in f.log]
    assert [(f.check, f.index) for f in dept2] == [
        (Check.ANCHOR, 10),
        (Check.ROLE, 10),
    ], dept2
    assert "records [10, 13) are not anchored" in dept2[0].message
    assert "has not held the department role since block" in dept2[1].message


def test_a_log_without_any_role_is_refused(
    embedded_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare: an outsider with a key of its own writes "department" records.
    env = embedded_env
    job = env.configure(small_job())
    outsider_state = tmp_path / "outsider"
    rogue = StandInDepartment("dept-0", delta=job.delta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextKeyWarning)
        forged_job = type(job)(**{**asdict(job), "state_dir": str(outsider_state)})
        DepartmentAuditMod(forged_job)(
            incoming("train", 1, 1), node_context(0), rogue.train
        )
    (rogue_log,) = outsider_state.glob("departments/dept-0/audit-0x*.db")
    env.relay.watch(rogue_log)

    # Act
    with pytest.raises(AnchorError, match="holds neither"):
        env.finish(timeout_s=0.2)
    report = _verify(env, [rogue_log], only=(rogue_log.stem.removeprefix("audit-"),))

    # Assert
    assert [(f.check, f.index) for f in report.failures] == [
        (Check.ANCHOR, 0),
        (Check.ROLE, 0),
    ]
    assert "has not held the department role at any time" in report.failures[1].message


def test_verification_needs_logs_and_the_registrys_own_roles(honest: Honest) -> None:
    # Act / Assert
    with pytest.raises(ConfigurationError, match="at least one log"):
        _verify(honest.env, [])
    with pytest.raises(ConfigurationError, match="reads roles from"):
        verify_audit(
            [honest.exports["coordinator"]],
            chain=honest.env.chain,
            registry=honest.env.registry.address,
            roles="0x" + "12" * 20,
        )


def test_a_node_that_never_answered_is_a_warning_not_a_failure(
    embedded_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare
    def lose_a_node(report: RoundReport) -> None:
        report.train.append(DepartmentOutcome("node-99", 99, "failed", "timed out"))

    run_job(
        embedded_env,
        small_job(num_rounds=1),
        tmp_path / "run",
        tamper_report=lose_a_node,
    )

    # Act
    report = embedded_env.verify()

    # Assert
    assert report.ok, report.summary()
    (warning,) = report.warnings
    assert warning.check is Check.COMPLETENESS
    assert "node-99 failed in round 1 of job 'audit-job': timed out" in warning.message


def test_a_reply_dropped_as_a_duplicate_is_a_warning_not_a_failure(
    embedded_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare: a second node claimed a department; the guard dropped both
    # claims and recorded each under its node.
    def claim_twice(report: RoundReport) -> None:
        report.train.append(
            DepartmentOutcome(
                "node-77", 77, "rejected", "claims department 'x', as another does"
            )
        )

    run_job(
        embedded_env,
        small_job(num_rounds=1),
        tmp_path / "run",
        tamper_report=claim_twice,
    )

    # Act
    report = embedded_env.verify()

    # Assert
    assert report.ok, report.summary()
    (warning,) = report.warnings
    assert warning.check is Check.COMPLETENESS
    assert "a reply from node-77 was dropped in round 1" in warning.message
