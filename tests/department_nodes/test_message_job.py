"""The job a department runs a message under: a standing query run's question
carries its own id, purpose, budget and request, and nothing else of the job;
a training message cannot change its job that way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from department_nodes._message_job import message_job
from department_nodes.analytics import answer_query
from fedgov import protocol as p
from fedgov.errors import ConfigurationError

RUN_CONFIG: dict[str, str | float] = {
    "job-id": "query-service",
    "purpose": "federated-training",
    "epsilon": 1.0,
}
QUESTION: dict[str, str | float] = {
    "job-id": "q-7",
    "purpose": "cost model",
    "access-request": '{"signed": "request"}',
    "budget-epsilon": 3.0,
}


@pytest.fixture(autouse=True)
def _task_identity() -> Iterator[None]:
    saved = TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1
    yield
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


def _message(kind: str, job: dict[str, str | float] | None) -> Message:
    records: dict[str, ConfigRecord] = {p.Record.QUERY: ConfigRecord({})}
    if job is not None:
        records[p.Record.JOB] = ConfigRecord(job)  # type: ignore[arg-type]
    return Message(
        content=RecordDict(records),  # type: ignore[arg-type]
        dst_node_id=1,
        message_type=kind,
    )


def _context(run_config: dict[str, str | float]) -> Context:
    return Context(
        run_id=1,
        node_id=1,
        node_config={"department": "health-site-1"},
        state=RecordDict(),
        run_config=run_config,
    )


def test_a_question_runs_under_its_own_settings_over_the_runs_job() -> None:
    job = message_job(_message(MessageType.QUERY, QUESTION), _context(RUN_CONFIG))

    assert (job.job_id, job.purpose, job.budget_epsilon) == ("q-7", "cost model", 3.0)
    assert job.access_request == '{"signed": "request"}'
    assert job.epsilon == 1.0  # the run's


def test_a_training_message_cannot_change_its_job() -> None:
    job = message_job(_message(MessageType.TRAIN, QUESTION), _context(RUN_CONFIG))

    assert (job.job_id, job.purpose) == ("query-service", "federated-training")


@pytest.mark.parametrize(
    ("record", "argument"),
    [
        ({"state-dir": "/elsewhere"}, "job"),
        ({"ledger-registry": "0x00"}, "job"),
        ({"budget-epsilon": "lots"}, "budget-epsilon"),
        ({"purpose": 3}, "purpose"),
    ],
)
def test_a_question_setting_outside_the_few_is_refused(
    record: dict[str, str | float], argument: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        message_job(_message(MessageType.QUERY, record), _context(RUN_CONFIG))

    assert raised.value.argument == argument


def test_the_department_refuses_such_a_question_spending_nothing() -> None:
    msg = _message(MessageType.QUERY, {"state-dir": "/elsewhere"})

    reply = answer_query(msg, _context(RUN_CONFIG))

    fedgov = reply.content.config_records[p.Record.FEDGOV]
    assert fedgov[p.Reply.STATUS] == p.Status.REFUSED
    assert "invalid job record, nothing spent" in str(fedgov[p.Reply.REASON])
