"""The department's audit mod: which records each message leaves, and when."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pytest
from flwr.app import ConfigRecord, Context, Error, Message, MessageType
from flwr.common import FitIns, Parameters
from flwr.common.secure_aggregation.secaggplus_constants import (
    RECORD_KEY_CONFIGS,
    Key,
    Stage,
)
from flwr.compat.common import recorddict_compat as compat

from auditor.verify import load_log
from department_nodes._handled import HANDLED_STATE
from department_nodes.analytics import answer_query
from department_nodes.audit import DepartmentAuditMod, Handled, record_handled
from fedgov import protocol as p
from ledger.errors import AuditError, KeyFileError
from ledger.keys import PlaintextKeyWarning
from ledger.layout import KEY_FILE, department_dir, find_logs
from ledger.records import Action, AuditRecord, Role
from ledger.store import LogStore
from ledger.tree_head import SigningDomain, recover_signer
from privacy.accounting import GaussianSpend, epsilon_spent
from tests.audit_federation import (
    FLOWER_RUN,
    StandInDepartment,
    incoming,
    node_context,
    reply,
    small_job,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from fedgov.job import TrainJob

REGISTRY = "0x" + "ab" * 20
DOMAIN = SigningDomain(31337, REGISTRY)


@pytest.fixture(autouse=True)
def _quiet_demo_keys() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextKeyWarning)
        yield


def _job(tmp_path: Path, **overrides: object) -> TrainJob:
    return small_job(
        state_dir=str(tmp_path),
        ledger_chain_id=DOMAIN.chain_id,
        ledger_registry=REGISTRY,
        purpose="cost model, approval #12",
        **overrides,
    )


def _records(tmp_path: Path, department: str = "dept-0") -> list[AuditRecord]:
    (path,) = (tmp_path / "departments" / department).glob("audit-0x*.db")
    with LogStore(path) as store:
        return store.records(0)


def test_a_private_training_round_leaves_spend_read_and_update(tmp_path: Path) -> None:
    # Prepare
    job = _job(tmp_path)
    department = StandInDepartment("dept-0", delta=job.delta)
    msg = incoming(MessageType.TRAIN, 1, node_id=1)

    # Act
    answer = DepartmentAuditMod(job)(msg, node_context(0), department.train)

    # Assert
    spend, read, update = _records(tmp_path)
    assert [r.action for r in (spend, read, update)] == [
        Action.BUDGET_SPEND,
        Action.DATA_READ,
        Action.TRAIN_ROUND,
    ]
    expected_epsilon = epsilon_spent([GaussianSpend(1.1, 0.05, 20)], delta=job.delta)
    assert spend.epsilon == pytest.approx(expected_epsilon, rel=1e-12)
    assert spend.delta == job.delta
    assert spend.details["noise-multiplier"] == "1.1"
    assert spend.details["steps"] == "20"
    assert spend.details["accountant"] == job.accountant.value == "pld"
    assert read.record_count == update.record_count == 1000
    assert read.details["split"] == "train"
    assert update.result_hash == p.hash_arrays(
        answer.content.array_records[p.Record.ARRAYS]
    )
    for record in (spend, read, update):
        assert record.role is Role.DEPARTMENT
        assert (record.dataset, record.purpose, record.job) == (
            "randhie",
            "cost model, approval #12",
            "audit-job",
        )
        assert (record.run, record.round) == (str(FLOWER_RUN), 1)
        assert record.details["department"] == "dept-0"


def test_each_round_records_the_increase_of_the_jobs_epsilon(tmp_path: Path) -> None:
    # Prepare
    job = _job(tmp_path)
    department = StandInDepartment("dept-0", delta=job.delta)
    mod = DepartmentAuditMod(job)

    # Act
    for server_round in (1, 2, 3):
        mod(
            incoming(MessageType.TRAIN, server_round, 1),
            node_context(0),
            department.train,
        )

    # Assert
    spends = [r for r in _records(tmp_path) if r.action is Action.BUDGET_SPEND]
    totals = [float(r.details["epsilon-job"]) for r in spends]
    assert [r.epsilon for r in spends] == pytest.approx(
        [totals[0], totals[1] - totals[0], totals[2] - totals[1]], rel=1e-12
    )
    assert sum(r.epsilon for r in spends) == pytest.approx(totals[-1], rel=1e-12)


def test_every_commit_is_signed_for_the_jobs_registry(tmp_path: Path) -> None:
    # Prepare
    job = _job(tmp_path)
    department = StandInDepartment("dept-0", delta=job.delta)
    mod = DepartmentAuditMod(job)

    # Act
    mod(incoming(MessageType.TRAIN, 1, 1), node_context(0), department.train)
    mod(incoming(MessageType.EVALUATE, 1, 1), node_context(0), department.evaluate)

    # Assert
    (path,) = find_logs(tmp_path)
    log = load_log(path)
    assert [signed.head.tree_size for signed, _ in log.heads] == [3, 5]
    for signed, domain in log.heads:
        assert domain == DOMAIN
        assert recover_signer(signed, domain) == log.actor


def test_without_a_registry_records_are_kept_but_no_head_is_signed(
    tmp_path: Path,
) -> None:
    # Prepare
    job = small_job(state_dir=str(tmp_path))
    department = StandInDepartment("dept-1", delta=job.delta)

    # Act
    DepartmentAuditMod(job)(
        incoming(MessageType.TRAIN, 1, 2), node_context(1), department.train
    )

    # Assert
    (path,) = find_logs(tmp_path)
    assert len(load_log(path).records) == 3
    assert load_log(path).heads == ()


def test_evaluation_reads_the_held_out_split(tmp_path: Path) -> None:
    # Prepare
    job = _job(tmp_path)
    department = StandInDepartment("dept-2", delta=job.delta)

    # Act
    DepartmentAuditMod(job)(
        incoming(MessageType.EVALUATE, 2, 3), node_context(2), department.evaluate
    )

    # Assert
    read, evaluate = _records(tmp_path, "dept-2")
    assert (read.action, read.details["split"], read.record_count) == (
        Action.DATA_READ,
        "held-out",
        250,
    )
    assert (evaluate.action, evaluate.round, evaluate.details["phase"]) == (
        Action.EVALUATE,
        2,
        "evaluate",
    )


def test_a_refusal_is_logged_with_its_reason(tmp_path: Path) -> None:
    # Prepare
    job = _job(tmp_path)
    department = StandInDepartment(
        "dept-0", delta=job.delta, refuse_rounds=frozenset({1})
    )

    # Act
    DepartmentAuditMod(job)(
        incoming(MessageType.TRAIN, 1, 1), node_context(0), department.train
    )

    # Assert
    (denied,) = _records(tmp_path)
    assert denied.action is Action.ACCESS_DENIED
    assert denied.details["reason"] == "dept-0: budget exhausted"
    assert denied.details["epsilon-limit"] == "8.0"


def test_a_non_private_round_spends_nothing(tmp_path: Path) -> None:
    # Prepare
    job = _job(tmp_path)
    department = StandInDepartment("dept-0", delta=job.delta)

    def baseline(msg: Message, context: Context) -> Message:
        answer = department.train(msg, context)
        answer.content.metric_records[p.Record.METRICS]["noise-multiplier"] = 0.0
        # A non-private round charges nothing, and its handler says so.
        arrays = answer.content.array_records[p.Record.ARRAYS]
        record_handled(
            context.state,
            Handled(phase="train", rows=1000, update_sha256=p.hash_arrays(arrays)),
        )
        return answer

    # Act
    DepartmentAuditMod(job)(
        incoming(MessageType.TRAIN, 1, 1), node_context(0), baseline
    )

    # Assert
    read, update = _records(tmp_path)
    assert (read.action, update.action) == (Action.DATA_READ, Action.TRAIN_ROUND)
    assert update.details["dp"] == "off"


def test_an_error_reply_or_a_crash_leaves_no_record(tmp_path: Path) -> None:
    # Prepare
    job = _job(tmp_path)
    mod = DepartmentAuditMod(job)

    def failing(msg: Message, context: Context) -> Message:
        return Message(Error(code=0, reason="boom"), reply_to=msg)

    def crashing(msg: Message, context: Context) -> Message:
        raise RuntimeError("disk on fire")

    # Act
    answer = mod(incoming(MessageType.TRAIN, 1, 1), node_context(0), failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        mod(incoming(MessageType.TRAIN, 1, 1), node_context(0), crashing)

    # Assert
    assert answer.has_error()
    assert _records(tmp_path) == []


def _secure_stage(stage: str, task: str) -> Message:
    """A SecAgg+ instruction: its stage, and the legacy FitIns naming the task."""
    msg = incoming(MessageType.TRAIN, 1, 1)
    msg.content = compat.fitins_to_recorddict(
        FitIns(Parameters([], ""), {"server-round": 1, "fedgov-task": task}), True
    )
    msg.content.config_records[RECORD_KEY_CONFIGS] = ConfigRecord({Key.STAGE: stage})
    return msg


@pytest.mark.parametrize(
    ("stage", "task"),
    [
        (Stage.SETUP, "train"),
        (Stage.SHARE_KEYS, "train"),
        (Stage.UNMASK, "train"),
        (Stage.COLLECT_MASKED_VECTORS, "secure-sum"),
    ],
)
def test_secure_stages_that_touch_no_data_pass_through_untouched(
    tmp_path: Path, stage: str, task: str
) -> None:
    # Prepare
    job = _job(tmp_path)
    msg = _secure_stage(stage, task)
    answer = reply(msg, {}, department="dept-0")

    # Act
    result = DepartmentAuditMod(job)(msg, node_context(0), lambda m, c: answer)

    # Assert
    assert result is answer
    assert find_logs(tmp_path) == []


def test_an_invalid_query_is_refused_and_the_refusal_logged(tmp_path: Path) -> None:
    # Prepare
    job = _job(tmp_path)
    msg = incoming(MessageType.QUERY, 0, 1)
    msg.content.config_records["query"] = ConfigRecord({"query-id": "q-bad"})

    # Act
    DepartmentAuditMod(job)(
        msg, node_context(0), lambda m, c: answer_query(m, c, job=job)
    )

    # Assert: nothing spent or read; the department it resolves is the
    # query's (natural partition), as answer_query resolves it.
    (denied,) = _records(tmp_path, "health-site-1")
    assert (denied.action, denied.job, denied.details["phase"]) == (
        Action.ACCESS_DENIED,
        "q-bad",
        "query",
    )
    assert denied.details["reason"].startswith("invalid query, nothing spent")


def test_with_audit_off_the_mod_warns_and_keeps_nothing(tmp_path: Path) -> None:
    # Prepare
    with pytest.warns(UserWarning, match="audit=False"):
        job = small_job(state_dir=str(tmp_path), audit=False, job_id="unaudited")
    department = StandInDepartment("dept-0", delta=job.delta)

    # Act
    with pytest.warns(UserWarning, match="NO audit records"):
        DepartmentAuditMod(job)(
            incoming(MessageType.TRAIN, 1, 1), node_context(0), department.train
        )

    # Assert
    assert find_logs(tmp_path) == []


def test_a_department_that_cannot_audit_does_not_touch_its_data(tmp_path: Path) -> None:
    # Prepare
    job = _job(tmp_path)
    key = department_dir(tmp_path, "dept-0") / KEY_FILE
    key.parent.mkdir(parents=True)
    key.write_text('{"format": "fedgov-plaintext-key"}')
    key.chmod(0o644)
    called: list[Message] = []

    def handler(msg: Message, context: Context) -> Message:
        called.append(msg)
        return reply(msg, {p.Metric.NUM_EXAMPLES: 1}, department="dept-0")

    # Act / Assert
    with pytest.raises(KeyFileError, match="mode 0644"):
        DepartmentAuditMod(job)(
            incoming(MessageType.TRAIN, 1, 1), node_context(0), handler
        )
    assert called == []


def test_the_mod_reads_the_job_from_the_run_config_in_a_deployment(
    tmp_path: Path,
) -> None:
    # Prepare
    job = _job(tmp_path)
    context = Context(
        run_id=FLOWER_RUN,
        node_id=9,
        node_config={"department": "dept-1", "state-dir": str(tmp_path)},
        state=node_context(0).state,
        run_config=job.to_run_config(),
    )
    department = StandInDepartment("dept-1", delta=job.delta)

    # Act
    DepartmentAuditMod()(incoming(MessageType.TRAIN, 1, 9), context, department.train)

    # Assert
    assert [r.action for r in _records(tmp_path, "dept-1")][-1] is Action.TRAIN_ROUND


def test_a_handler_that_does_not_say_what_it_did_gets_no_reply_out(
    tmp_path: Path,
) -> None:
    # Prepare: a handler that trains (its reply says so) but leaves no account.
    job = _job(tmp_path)
    department = StandInDepartment("dept-0", delta=job.delta)

    def silent(msg: Message, context: Context) -> Message:
        answer = department.train(msg, context)
        context.state.config_records.pop(HANDLED_STATE)
        return answer

    # Act, Assert: the mod refuses to let an unaccounted reply leave.
    with pytest.raises(AuditError, match="did not say what it did"):
        DepartmentAuditMod(job)(
            incoming(MessageType.TRAIN, 1, 1), node_context(0), silent
        )
    assert _records(tmp_path) == []


def test_a_reply_carrying_another_update_than_the_one_trained_is_refused(
    tmp_path: Path,
) -> None:
    # Prepare: a handler whose reply is swapped after it trained.
    job = _job(tmp_path)
    department = StandInDepartment("dept-0", delta=job.delta)
    other = StandInDepartment("dept-0", delta=job.delta)

    def swapped(msg: Message, context: Context) -> Message:
        department.train(msg, context)
        return other.train(incoming(MessageType.TRAIN, 1, 2), node_context(1))

    # Act, Assert
    with pytest.raises(AuditError, match="other than the one it trained"):
        DepartmentAuditMod(job)(
            incoming(MessageType.TRAIN, 1, 1), node_context(0), swapped
        )


def test_the_spend_recorded_is_the_handlers_own_not_a_difference_of_totals(
    tmp_path: Path,
) -> None:
    # Prepare: a department whose reported totals are off (halved), as a
    # buggy or dishonest one; its handler still says what it charged.
    job = _job(tmp_path)
    department = StandInDepartment("dept-0", delta=job.delta, under_report=True)

    # Act
    DepartmentAuditMod(job)(
        incoming(MessageType.TRAIN, 1, 1), node_context(0), department.train
    )

    # Assert: the spend is the accountant's, the reported figure stays as
    # reported (the auditor recomputes and compares them).
    (spend,) = [r for r in _records(tmp_path) if r.action is Action.BUDGET_SPEND]
    exact = epsilon_spent([GaussianSpend(1.1, 0.05, 20)], delta=job.delta)
    assert spend.epsilon == pytest.approx(exact, rel=1e-12)
    assert float(spend.details["epsilon-job"]) == pytest.approx(exact / 2, rel=1e-12)
    assert spend.details["accountant"] == job.accountant.value
