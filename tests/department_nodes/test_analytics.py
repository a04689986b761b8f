"""A department answering QUERY messages: budget first, refusals spend nothing,
and analytics and training share one budget."""

from __future__ import annotations

from collections.abc import Iterator
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

import department_nodes.analytics as analytics
from department_nodes.analytics import REPLY_METRIC_KEYS, SPEND_KIND, answer_query
from department_nodes.client_app import make_client_app
from fedgov import protocol as p
from fedgov.data import get_dataset
from fedgov.job import TrainJob
from fedgov.job_data import model_spec
from fedgov.models import build_model
from privacy.boundary import BoundaryPolicy, check_outgoing
from privacy.budget import open_budget_book
from privacy.mechanisms import MAX_ANSWER_LENGTH, Query, plan_answer

DEPARTMENT = "health-site-3"


@pytest.fixture(autouse=True)
def _task_identity() -> Iterator[None]:
    saved = TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1
    yield
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


def _histogram(epsilon: float = 0.5, **kwargs: object) -> Query:
    return Query(
        kind="histogram",
        dataset="randhie",
        column="mdvis",
        bins=(0, 1, 2, 5, 10, 20, 80),
        group_by="female",
        epsilon=epsilon,
        delta=1e-5,
        **kwargs,  # type: ignore[arg-type]
    )


def _context(node_config: dict[str, bool | float | int | str] | None = None) -> Context:
    return Context(
        run_id=1,
        node_id=7,
        node_config=node_config or {"department": DEPARTMENT},
        state=RecordDict(),
        run_config={},
    )


def _message(
    config: dict[str, object], message_type: str = MessageType.QUERY
) -> Message:
    content = RecordDict({p.Record.QUERY: ConfigRecord(config)})  # type: ignore[arg-type]
    return Message(content=content, dst_node_id=7, message_type=message_type)


def _job(state_dir: Path, budget: float = 2.0, **kwargs: object) -> TrainJob:
    return TrainJob(state_dir=str(state_dir), budget_epsilon=budget, **kwargs)  # type: ignore[arg-type]


def _ledger_bytes(state_dir: Path) -> bytes:
    return (state_dir / "departments" / DEPARTMENT / "budget.ledger").read_bytes()


def test_answer_is_noisy_shaped_charged_and_guard_friendly(tmp_path: Path) -> None:
    # Prepare
    query = _histogram()

    # Execute
    reply = answer_query(_message(query.to_config()), _context(), job=_job(tmp_path))

    # Assert
    fedgov = reply.content.config_records[p.Record.FEDGOV]
    metrics = reply.content.metric_records[p.Record.METRICS]
    assert (fedgov[p.Reply.DEPARTMENT], fedgov[p.Reply.STATUS]) == (
        DEPARTMENT,
        p.Status.OK,
    )
    assert set(metrics) == REPLY_METRIC_KEYS
    assert len(metrics[p.Metric.QUERY_ANSWER]) == 12  # type: ignore[arg-type]
    assert metrics[p.Metric.QUERY_NOISE_STD] == list(plan_answer(query).noise_std)
    assert metrics[p.Metric.EPSILON_QUERY] == pytest.approx(0.5, abs=1e-6)
    assert metrics[p.Metric.EPSILON_TOTAL] == pytest.approx(0.5, abs=1e-6)
    assert metrics[p.Metric.EPSILON_LIMIT] == 2.0
    history = open_budget_book(tmp_path, DEPARTMENT).status("randhie").history
    assert [(r.kind, r.job_id) for r in history] == [(SPEND_KIND, query.query_id)]
    assert history[0].spend == plan_answer(query).spend


INVALID = [
    {"column": "zper"},
    {"epsilon": 0.0},
    {"bins": [0.0, 1.0, 2.0]},
    {"group-by": "hlthp"},
    {"where": ["zper==12"]},
    {"kind": "median"},
    {"dataset": "census"},
    {"rows-per-person": 0},
    {"epsilon": 0.05, "delta": 1e-10, "accountant": "rdp"},  # below RDP's floor
    {"accountant": "zcdp"},
]


@pytest.mark.parametrize("change", INVALID)
def test_invalid_query_is_refused_and_spends_nothing(
    tmp_path: Path, change: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: a ledger with one earlier spend; reading data would fail the test
    job = _job(tmp_path)
    answer_query(_message(_histogram().to_config()), _context(), job=job)
    before = _ledger_bytes(tmp_path)
    monkeypatch.setattr(analytics, "department_records", _no_data_access)
    config = {**_histogram().to_config(), **change}

    # Execute
    reply = answer_query(_message(config), _context(), job=job)

    # Assert
    fedgov = reply.content.config_records[p.Record.FEDGOV]
    assert fedgov[p.Reply.STATUS] == p.Status.REFUSED
    assert fedgov[p.Reply.DEPARTMENT] == DEPARTMENT
    assert "nothing spent" in str(fedgov[p.Reply.REASON])
    assert p.Record.METRICS not in reply.content
    assert _ledger_bytes(tmp_path) == before


def test_missing_query_record_is_refused(tmp_path: Path) -> None:
    message = Message(
        content=RecordDict(), dst_node_id=7, message_type=MessageType.QUERY
    )

    reply = answer_query(message, _context(), job=_job(tmp_path))

    assert (
        reply.content.config_records[p.Record.FEDGOV][p.Reply.STATUS]
        == p.Status.REFUSED
    )


def test_department_of_another_dataset_refuses(tmp_path: Path) -> None:
    config = Query(kind="count", dataset="adult", epsilon=0.5, delta=1e-5).to_config()

    reply = answer_query(_message(config), _context(), job=_job(tmp_path))

    fedgov = reply.content.config_records[p.Record.FEDGOV]
    assert fedgov[p.Reply.STATUS] == p.Status.REFUSED
    assert "no records of adult" in str(fedgov[p.Reply.REASON])


def _no_data_access(*args: object, **kwargs: object) -> None:
    raise AssertionError("a refused query must not read the department's records")


def test_over_budget_is_refused_before_reading_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: a limit of 1.0, of which 0.9 is spent
    job = _job(tmp_path, budget=1.0)
    first = answer_query(_message(_histogram(0.9).to_config()), _context(), job=job)
    assert first.content.config_records[p.Record.FEDGOV][p.Reply.STATUS] == p.Status.OK
    before = _ledger_bytes(tmp_path)
    monkeypatch.setattr(analytics, "department_records", _no_data_access)

    # Execute
    reply = answer_query(_message(_histogram(0.5).to_config()), _context(), job=job)

    # Assert
    fedgov = reply.content.config_records[p.Record.FEDGOV]
    metrics = reply.content.metric_records[p.Record.METRICS]
    assert fedgov[p.Reply.STATUS] == p.Status.REFUSED
    assert "would be exceeded" in str(fedgov[p.Reply.REASON])
    assert p.Metric.QUERY_ANSWER not in metrics
    assert metrics[p.Metric.EPSILON_TOTAL] == pytest.approx(0.9, abs=1e-6)
    assert metrics[p.Metric.EPSILON_LIMIT] == 1.0
    assert _ledger_bytes(tmp_path) == before


def _train_message(job: TrainJob) -> Message:
    model = build_model(model_spec(job), seed=job.seed)
    content = RecordDict(
        {
            p.Record.ARRAYS: ArrayRecord(model.state_dict()),
            p.Record.CONFIG: ConfigRecord({"server-round": 1, "job-id": job.job_id}),
        }
    )
    return Message(content=content, dst_node_id=7, message_type=MessageType.TRAIN)


def test_queries_and_training_share_one_budget(tmp_path: Path) -> None:
    # Prepare: the department's limit is 1.0; queries spend most of it
    job = _job(
        tmp_path, budget=1.0, epsilon=1.0, num_rounds=1, job_id="train-after-queries"
    )
    app = make_client_app(job=job)
    context = _context({"partition-id": 2})
    for epsilon in (0.4, 0.4):
        query = _message(_histogram(epsilon).to_config())
        assert (
            app(query, context).content.config_records[p.Record.FEDGOV][p.Reply.STATUS]
            == "ok"
        )
    spent = open_budget_book(tmp_path, DEPARTMENT).status("randhie").spent
    assert 0.5 < spent < 0.8  # two answers compose below 0.4 + 0.4

    # Execute: a one-round training job that costs epsilon 1.0 on its own
    reply = app(_train_message(job), context)

    # Assert: refused by the same ledger, which records nothing more
    fedgov = reply.content.config_records[p.Record.FEDGOV]
    assert fedgov[p.Reply.STATUS] == p.Status.REFUSED
    assert "would be exceeded" in str(fedgov[p.Reply.REASON])
    status = open_budget_book(tmp_path, DEPARTMENT).status("randhie")
    assert [r.kind for r in status.history] == [SPEND_KIND, SPEND_KIND]
    assert status.spent == pytest.approx(spent)


def test_replies_pass_the_boundary_guard_with_the_query_allow_list(
    tmp_path: Path,
) -> None:
    # Prepare: the policy a department would apply to query replies
    records = analytics.department_records(
        "randhie", DEPARTMENT, seed=0, state_dir=tmp_path
    )
    policy = BoundaryPolicy(
        parameters={},
        columns=tuple(get_dataset("randhie").schema),
        allowed_keys=REPLY_METRIC_KEYS | {p.Reply.DEPARTMENT, p.Reply.STATUS},
        free_text_keys=frozenset({p.Reply.REASON}),
        max_list_length=MAX_ANSWER_LENGTH,
        local_shape=records.shape,
    )
    job = _job(tmp_path, budget=1.0)
    ok = answer_query(_message(_histogram(0.9).to_config()), _context(), job=job)
    refused = answer_query(_message(_histogram(0.9).to_config()), _context(), job=job)

    # Execute / Assert: a histogram of a SENSITIVE column, and a refusal, pass
    check_outgoing(ok.content, policy)
    check_outgoing(refused.content, policy)
    assert (
        refused.content.config_records[p.Record.FEDGOV][p.Reply.STATUS]
        == p.Status.REFUSED
    )


def test_a_failure_after_the_charge_reports_the_charge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: answering fails once the department has charged.
    def failing(*args: object, **kwargs: object) -> None:
        raise OSError("records/randhie.parquet: permission denied")

    monkeypatch.setattr(analytics, "exact_answer", failing)
    query = _histogram(0.5)

    # Execute
    reply = answer_query(_message(query.to_config()), _context(), job=_job(tmp_path))

    # Assert: refused, and it says what it spent (it used to report 0).
    fedgov = reply.content.config_records[p.Record.FEDGOV]
    metrics = reply.content.metric_records[p.Record.METRICS]
    assert fedgov[p.Reply.STATUS] == p.Status.REFUSED
    assert "failed after epsilon 0.5 was charged" in str(fedgov[p.Reply.REASON])
    assert "permission denied" in str(fedgov[p.Reply.REASON])
    assert metrics[p.Metric.EPSILON_QUERY] == pytest.approx(plan_answer(query).epsilon)
    book = open_budget_book(tmp_path, DEPARTMENT).status("randhie")
    assert len(book.history) == 1
    assert metrics[p.Metric.EPSILON_TOTAL] == pytest.approx(book.spent)
