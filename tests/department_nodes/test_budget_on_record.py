"""Every budget change is a record, and a rolled-back or deleted book is refused.

Issue 12's third finding: a limit raised with no record, a budget book rolled
back to an older copy, or deleted and recreated with nothing spent, went
unnoticed until a new spend had released data. Here a real department node
(DP-SGD on RandHIE records) runs behind its audit mod.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

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

from department_nodes.budget_admin import set_limit_on_record
from department_nodes.client_app import make_client_app
from fedgov import protocol as p
from fedgov.job import Accountant, TrainJob
from fedgov.job_data import model_spec
from fedgov.models import build_model
from ledger.keys import PlaintextKeyWarning
from ledger.record_fields import BUDGET_GENERATION
from ledger.records import Action
from ledger.store import LogStore
from privacy.accounting import GaussianSpend
from privacy.budget import Budget, open_budget_book

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flwr.clientapp import ClientApp

    from ledger.records import AuditRecord

DEPARTMENT = "dept-0"


@pytest.fixture(autouse=True)
def _node_identity() -> Iterator[None]:
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextKeyWarning)
        yield


def _job(tmp_path: Path) -> TrainJob:
    return TrainJob(
        job_id="budget-job",
        dataset="randhie",
        partition="dirichlet",
        num_departments=3,
        num_rounds=4,
        epsilon=1.0,
        budget_epsilon=8.0,
        state_dir=str(tmp_path / "state"),
    )


def _app(job: TrainJob) -> ClientApp:
    return make_client_app(job=job)


def _context(job: TrainJob) -> Context:
    return Context(
        run_id=1,
        node_id=10,
        node_config={"partition-id": 0},
        state=RecordDict(),
        run_config={},
    )


def _train(app: ClientApp, job: TrainJob, server_round: int) -> Message:
    arrays = ArrayRecord(build_model(model_spec(job), seed=0).state_dict())
    content = RecordDict(
        {
            p.Record.ARRAYS: arrays,
            p.Record.CONFIG: ConfigRecord({"server-round": server_round}),
        }
    )
    msg = Message(content=content, dst_node_id=10, message_type=MessageType.TRAIN)
    return app(msg, _context(job))


def _status(reply: Message) -> tuple[str, str]:
    fedgov = reply.content.config_records[p.Record.FEDGOV]
    return str(fedgov[p.Reply.STATUS]), str(fedgov[p.Reply.REASON])


def _records(job: TrainJob) -> list[AuditRecord]:
    (path,) = (Path(job.state_dir) / "departments" / DEPARTMENT).glob("audit-0x*.db")
    with LogStore(path) as store:
        return store.records(0)


def _generations(records: list[AuditRecord]) -> list[tuple[str, str]]:
    return [
        (r.action.value, r.details[BUDGET_GENERATION])
        for r in records
        if BUDGET_GENERATION in r.details
    ]


def test_a_new_budget_is_a_grant_and_every_spend_names_its_generation(
    tmp_path: Path,
) -> None:
    # Prepare
    job = _job(tmp_path)
    app = _app(job)

    # Act
    first = _train(app, job, 1)
    second = _train(app, job, 2)

    # Assert
    assert _status(first)[0] == _status(second)[0] == p.Status.OK
    records = _records(job)
    assert _generations(records) == [
        ("budget_grant", "1"),
        ("budget_spend", "2"),
        ("budget_spend", "3"),
    ]
    grant = records[0]
    assert grant.details["change"] == "create"
    assert grant.details["by"] == "node"
    assert grant.details["epsilon-limit"] == "8.0"
    assert grant.dataset == "randhie"


def test_a_limit_change_is_recorded_with_who_and_why(tmp_path: Path) -> None:
    # Prepare
    job = _job(tmp_path)
    _train(_app(job), job, 1)

    # Act: the raise from the department's limit to 100.
    change = set_limit_on_record(
        job.state_dir,
        DEPARTMENT,
        "randhie",
        Budget(epsilon=100.0, delta=1e-5),
        by="alice",
        reason="council resolution 2026-14",
    )

    # Assert
    grant = _records(job)[-1]
    assert grant.action is Action.BUDGET_GRANT
    assert grant.details["change"] == "change"
    assert (grant.details["by"], grant.details["reason"]) == (
        "alice",
        "council resolution 2026-14",
    )
    assert grant.details["previous-epsilon-limit"] == "8.0"
    assert grant.details["epsilon-limit"] == "100.0"
    assert grant.details[BUDGET_GENERATION] == str(change.grant.generation) == "3"


def test_a_rolled_back_book_is_refused_before_any_record_is_read(
    tmp_path: Path,
) -> None:
    # Prepare: the book after round 1 is kept, round 2 spends, then the old
    # copy is put back.
    job = _job(tmp_path)
    app = _app(job)
    _train(app, job, 1)
    book = open_budget_book(job.state_dir, DEPARTMENT)
    old = book.path.read_bytes()
    _train(app, job, 2)
    book.path.write_bytes(old)
    spent_before = book.status("randhie").spent

    # Act
    reply = _train(app, job, 3)

    # Assert
    status, reason = _status(reply)
    assert status == p.Status.REFUSED
    assert "at generation 2" in reason
    assert "audit log records its budget book at generation 3" in reason
    assert p.Record.ARRAYS not in reply.content.array_records
    assert book.status("randhie").spent == spent_before
    denied = _records(job)[-1]
    assert denied.action is Action.ACCESS_DENIED
    assert "rolled back" in denied.details["reason"]


def test_a_deleted_book_is_not_recreated_with_nothing_spent(tmp_path: Path) -> None:
    # Prepare
    job = _job(tmp_path)
    app = _app(job)
    _train(app, job, 1)
    book = open_budget_book(job.state_dir, DEPARTMENT)
    book.path.unlink()

    # Act
    reply = _train(app, job, 2)

    # Assert
    status, reason = _status(reply)
    assert status == p.Status.REFUSED
    assert "is missing" in reason
    assert not book.path.exists()


def test_a_spend_no_reply_recorded_is_written_from_the_book(tmp_path: Path) -> None:
    # Prepare: round 1 as usual, then a charge whose process died before it
    # could reply (the book holds it, the log does not).
    job = _job(tmp_path)
    app = _app(job)
    _train(app, job, 1)
    book = open_budget_book(job.state_dir, DEPARTMENT)
    lost = book.charge(
        "randhie",
        GaussianSpend(1.3, 0.02, 50),
        accountant=Accountant.PLD,
        kind="train_round",
        job_id="budget-job",
        round=2,
    )

    # Act
    _train(app, job, 3)

    # Assert
    records = _records(job)
    assert _generations(records) == [
        ("budget_grant", "1"),
        ("budget_spend", "2"),
        ("budget_spend", "3"),
        ("budget_spend", "4"),
    ]
    recovered = next(r for r in records if r.details.get(BUDGET_GENERATION) == "3")
    assert "recovered" in recovered.details
    assert recovered.round == 2
    assert float(recovered.details["epsilon-total"]) == lost.epsilon_after
    assert recovered.details["noise-multiplier"] == "1.3"
