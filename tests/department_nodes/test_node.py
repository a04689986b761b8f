"""A department node's handling of train and evaluate messages, on real records."""

from __future__ import annotations

from pathlib import Path

import pytest
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MessageType,
    RecordDict,
)
from flwr.supercore.task_identity import TaskIdentity

from department_nodes.client_app import make_client_app
from department_nodes.node import NodePolicy
from fedgov import protocol as p
from fedgov.errors import ConfigurationError
from fedgov.job import Accountant, TrainJob
from fedgov.job_data import departments_for, model_spec
from fedgov.models import build_model
from privacy.accounting import GaussianSpend, epsilon_spent
from privacy.budget import open_budget_book


@pytest.fixture(autouse=True)
def _task_identity() -> None:
    # Flower stamps messages with the running task's identity; tests have none.
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1


def _job(tmp_path: Path, **overrides: object) -> TrainJob:
    settings: dict[str, object] = {
        "job_id": "node-test",
        "dataset": "randhie",
        "partition": "dirichlet",
        "num_departments": 3,
        "num_rounds": 2,
        "epsilon": 1.0,
        "state_dir": str(tmp_path / "state"),
    }
    settings.update(overrides)
    return TrainJob(**settings)  # type: ignore[arg-type]


def _context(job: TrainJob, partition: int = 0) -> Context:
    return Context(
        run_id=1,
        node_id=10 + partition,
        node_config={"partition-id": partition, "num-partitions": job.num_departments},
        state=RecordDict(),
        run_config=job.to_run_config(),
    )


def _message(job: TrainJob, kind: str, server_round: int) -> Message:
    arrays = ArrayRecord(build_model(model_spec(job), seed=0).state_dict())
    content = RecordDict(
        {
            p.Record.ARRAYS: arrays,
            p.Record.CONFIG: ConfigRecord({"server-round": server_round}),
        }
    )
    return Message(content=content, dst_node_id=10, message_type=kind)


def _status(reply: Message) -> str:
    return str(reply.content.config_records[p.Record.FEDGOV][p.Reply.STATUS])


def test_train_reply_carries_an_update_and_the_epsilon_spent(tmp_path: Path) -> None:
    # Prepare
    job = _job(tmp_path)
    app = make_client_app()
    context = _context(job)
    # Execute
    reply = app(_message(job, MessageType.TRAIN, 1), context)
    # Assert
    assert _status(reply) == p.Status.OK
    metrics = reply.content.metric_records[p.Record.METRICS]
    assert metrics[p.Metric.NUM_EXAMPLES] > 0
    assert 0 < float(metrics["epsilon-job"]) < job.epsilon  # one round of two
    assert set(reply.content.array_records[p.Record.ARRAYS].keys()) == {
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
    }
    # The job's noise plan is kept in the node's Context.state for later rounds.
    assert f"fedgov.plan.{job.job_id}" in context.state


@pytest.mark.parametrize("accountant", list(Accountant))
def test_the_jobs_accountant_calibrates_and_is_recorded(
    tmp_path: Path, accountant: Accountant
) -> None:
    # Prepare
    job = _job(tmp_path, accountant=accountant)
    app = make_client_app()

    # Act
    reply = app(_message(job, MessageType.TRAIN, 1), _context(job))

    # Assert: the job's noise meets its epsilon under its accountant, and the
    # ledger records that accountant with the round
    metrics = reply.content.metric_records[p.Record.METRICS]
    department = str(reply.content.config_records[p.Record.FEDGOV][p.Reply.DEPARTMENT])
    [record] = open_budget_book(job.state_dir, department).status("randhie").history
    assert record.accountant is accountant
    whole_job = GaussianSpend(
        float(metrics[p.Metric.NOISE_MULTIPLIER]),
        float(metrics[p.Metric.SAMPLE_RATE]),
        int(metrics[p.Metric.STEPS]) * job.num_rounds,
    )
    cost = epsilon_spent([whole_job], delta=job.delta, accountant=accountant)
    assert 0.999 * job.epsilon <= cost <= job.epsilon
    assert float(metrics[p.Metric.EPSILON_JOB]) == pytest.approx(
        epsilon_spent([record.spend], delta=job.delta, accountant=accountant)
    )


def test_spend_survives_a_restart_and_the_budget_refuses(tmp_path: Path) -> None:
    # Prepare: a lifetime budget equal to the job's epsilon fits its two rounds.
    job = _job(tmp_path, budget_epsilon=1.0)
    app = make_client_app()
    first = app(_message(job, MessageType.TRAIN, 1), _context(job))
    # Execute: every message gets a fresh Context, as after a node restart.
    second = app(_message(job, MessageType.TRAIN, 2), _context(job))
    third = app(_message(job, MessageType.TRAIN, 3), _context(job))
    # Assert
    assert _status(first) == _status(second) == p.Status.OK
    total = float(second.content.metric_records[p.Record.METRICS]["epsilon-total"])
    assert 0.95 <= total <= 1.0
    assert _status(third) == p.Status.REFUSED
    reason = str(third.content.config_records[p.Record.FEDGOV][p.Reply.REASON])
    assert "would be exceeded" in reason
    assert p.Record.ARRAYS not in third.content.array_records
    department = str(third.content.config_records[p.Record.FEDGOV][p.Reply.DEPARTMENT])
    history = open_budget_book(job.state_dir, department).status("randhie").history
    assert [r.round for r in history] == [1, 2]


def test_a_second_job_continues_the_same_budget(tmp_path: Path) -> None:
    job_a = _job(tmp_path, job_id="a", num_rounds=1, budget_epsilon=5.0)
    job_b = _job(tmp_path, job_id="b", num_rounds=1, budget_epsilon=5.0)
    app = make_client_app()
    first = app(_message(job_a, MessageType.TRAIN, 1), _context(job_a))
    second = app(_message(job_b, MessageType.TRAIN, 1), _context(job_b))
    total_a = float(first.content.metric_records[p.Record.METRICS]["epsilon-total"])
    total_b = float(second.content.metric_records[p.Record.METRICS]["epsilon-total"])
    job_b_eps = float(second.content.metric_records[p.Record.METRICS]["epsilon-job"])
    assert total_b > total_a
    assert job_b_eps == pytest.approx(total_a, rel=0.05)  # same plan, fresh job


def test_non_private_jobs_are_refused_unless_the_department_allows(
    tmp_path: Path,
) -> None:
    job = _job(tmp_path, epsilon=None)
    refused = make_client_app()(_message(job, MessageType.TRAIN, 1), _context(job))
    assert _status(refused) == p.Status.REFUSED
    assert "non-private" in str(
        refused.content.config_records[p.Record.FEDGOV][p.Reply.REASON]
    )
    with pytest.warns(UserWarning, match="WITHOUT differential privacy"):
        allowed = make_client_app(allow_non_private=True)(
            _message(job, MessageType.TRAIN, 1), _context(job)
        )
    assert _status(allowed) == p.Status.OK


def test_evaluate_reports_held_out_metrics(tmp_path: Path) -> None:
    job = _job(tmp_path)
    reply = make_client_app()(_message(job, MessageType.EVALUATE, 1), _context(job, 1))
    metrics = reply.content.metric_records[p.Record.METRICS]
    assert metrics[p.Metric.NUM_EXAMPLES] > 0
    assert 0.0 <= float(metrics["eval-accuracy"]) <= 1.0


def test_the_renamed_budget_key_is_read_and_the_old_name_refused(
    tmp_path: Path,
) -> None:
    # Prepare
    job = _job(tmp_path)
    context = _context(job)
    key_file = tmp_path / "budget.key"

    # Act
    context.node_config["budget-key"] = f"file:{key_file}"
    policy = NodePolicy.from_context(context, job, departments_for(job))
    context.node_config["ledger-key"] = f"file:{key_file}"

    # Assert: the old key says what it became rather than being ignored
    assert policy.budget_key == f"file:{key_file}"
    with pytest.raises(ConfigurationError, match="renamed budget-key"):
        NodePolicy.from_context(context, job, departments_for(job))
