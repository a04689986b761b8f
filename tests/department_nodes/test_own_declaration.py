"""A deployed department reads its own declaration and its own source, and
refuses a job whose declaration is not its own before reading a record."""

from __future__ import annotations

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

from coordinator.training import instruction_config
from department_nodes.client_app import make_client_app
from department_nodes.node import NODE_DATA_SOURCE, NODE_DECLARATION
from fedgov import protocol as p
from fedgov.job_data import model_spec
from fedgov.models import build_model
from privacy.budget import open_budget_book
from privacy.mechanisms import Query
from tests.own_data import DECLARATIONS, OFFICES, nmes_departments, nmes_job

if TYPE_CHECKING:
    from pathlib import Path

    from fedgov.job import TrainJob

__all__ = ["nmes_departments"]

OFFICE = "office-west"


@pytest.fixture(autouse=True)
def _task_identity() -> None:
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1


def _coordinators_copy(tmp_path: Path, *, change: tuple[str, str] | None) -> Path:
    """The coordinator's copy of the declaration, optionally edited."""
    text = DECLARATIONS["binary"].read_text(encoding="utf-8")
    if change is not None:
        assert change[0] in text
        text = text.replace(*change)
    path = tmp_path / "coordinator" / "nmes1988.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _instruction(job: TrainJob, kind: str = MessageType.TRAIN) -> Message:
    """``kind`` as the coordinator of ``job`` sends it (its own declaration's digest)."""
    content = RecordDict(
        {
            p.Record.ARRAYS: ArrayRecord(build_model(model_spec(job)).state_dict()),
            p.Record.CONFIG: ConfigRecord(
                {p.Instruction.SERVER_ROUND: 1, **instruction_config(job)}
            ),
        }
    )
    return Message(content=content, dst_node_id=5, message_type=kind)


def _deployed(
    tmp_path: Path, job: TrainJob, source: str, kind: str = MessageType.TRAIN
) -> Message:
    """``kind`` handled by a deployed department that names its own declaration
    (the example's file) and source."""
    return _deliver(tmp_path, job, source, _instruction(job, kind))


def _deliver(tmp_path: Path, job: TrainJob, source: str, message: Message) -> Message:
    context = Context(
        run_id=1,
        node_id=5,
        node_config={
            "department": OFFICE,
            "state-dir": str(tmp_path / "state"),
            NODE_DECLARATION: str(DECLARATIONS["binary"]),
            NODE_DATA_SOURCE: source,
        },
        state=RecordDict(),
        # The deployed app reads the job from the run_config, as flwr run gives it.
        run_config=job.to_run_config(),
    )
    return make_client_app()(message, context)


def _status(reply: Message) -> tuple[str, str]:
    fedgov = reply.content.config_records[p.Record.FEDGOV]
    return str(fedgov[p.Reply.STATUS]), str(fedgov[p.Reply.REASON])


@pytest.mark.parametrize(
    "change",
    [
        # An INTERNAL column made PUBLIC: its values could then leave as they are.
        (
            "name: employed\n    kind: categorical\n    roles: [feature]\n"
            "    classification: internal",
            "name: employed\n    kind: categorical\n    roles: [feature]\n"
            "    classification: public",
        ),
        # Wider bounds: sensitivity and encoding would rest on other numbers.
        ("bounds: [0, 10]", "bounds: [0, 1000]"),
    ],
    ids=["reclassified column", "widened bounds"],
)
@pytest.mark.parametrize("kind", [MessageType.TRAIN, MessageType.EVALUATE])
def test_another_declaration_is_refused_before_any_record_is_read(
    tmp_path: Path, nmes_departments: Path, change: tuple[str, str], kind: str
) -> None:
    # Prepare: the coordinator's copy differs; the department's source does not
    # exist, so a read would say "data invalid: source-unreadable" instead
    job = nmes_job(
        tmp_path,
        declaration=str(_coordinators_copy(tmp_path, change=change)),
        departments=",".join(OFFICES),
    )

    # Execute
    reply = _deployed(tmp_path, job, f"csv:{tmp_path / 'missing.csv'}", kind)

    # Assert
    status, reason = _status(reply)
    assert status == p.Status.REFUSED
    assert "is not this department's" in reason
    assert "nothing read, nothing spent" in reason
    assert not (tmp_path / "state" / "departments" / OFFICE / "budget.ledger").exists()


def test_the_same_declaration_reads_the_departments_own_source(
    tmp_path: Path, nmes_departments: Path
) -> None:
    # Prepare: the coordinator's copy declares the same (comments differ), and
    # lives at a path the department never opens
    copy = _coordinators_copy(
        tmp_path, change=("# NMES 1988", "# The coordinator's NMES 1988")
    )
    job = nmes_job(tmp_path, declaration=str(copy), departments=",".join(OFFICES))
    missing = _deployed(tmp_path, job, f"csv:{tmp_path / 'missing.csv'}")
    instruction = _instruction(job)
    copy.unlink()

    # Execute
    trained = _deliver(
        tmp_path, job, f"csv:{nmes_departments / 'office-west.csv'}", instruction
    )

    # Assert: the missing source is its own problem, said by class only
    assert _status(missing) == (p.Status.REFUSED, "data invalid: source-unreadable")
    assert _status(trained) == (p.Status.OK, "")
    metrics = trained.content.metric_records[p.Record.METRICS]
    assert metrics[p.Metric.NUM_EXAMPLES] > 500
    book = open_budget_book(tmp_path / "state", OFFICE).status("nmes1988")
    assert len(book.history) == 1


def test_a_job_naming_a_declared_dataset_needs_the_departments_own_copy(
    tmp_path: Path, nmes_departments: Path
) -> None:
    # A deployed department without dataset-declaration holds built-in
    # datasets only: it never reads the file the coordinator's job names.
    job = nmes_job(tmp_path, departments=",".join(OFFICES))
    context = Context(
        run_id=1,
        node_id=5,
        node_config={"department": OFFICE, "state-dir": str(tmp_path / "state")},
        state=RecordDict(),
        run_config=job.to_run_config(),
    )
    content = RecordDict(
        {
            p.Record.ARRAYS: ArrayRecord(build_model(model_spec(job)).state_dict()),
            p.Record.CONFIG: ConfigRecord(
                {p.Instruction.SERVER_ROUND: 1, **instruction_config(job)}
            ),
        }
    )
    message = Message(content=content, dst_node_id=5, message_type=MessageType.TRAIN)

    reply = make_client_app()(message, context)

    status, reason = _status(reply)
    assert status == p.Status.REFUSED
    assert "set dataset-declaration in its node config" in reason


def _query(tmp_path: Path, query: Query, source: str) -> Message:
    job = nmes_job(tmp_path, departments=",".join(OFFICES))
    content = RecordDict({p.Record.QUERY: ConfigRecord(dict(query.to_config()))})
    message = Message(content=content, dst_node_id=5, message_type=MessageType.QUERY)
    return _deliver(tmp_path, job, source, message)


def test_a_query_on_another_declaration_is_refused_and_one_on_its_own_answered(
    tmp_path: Path, nmes_departments: Path
) -> None:
    # Prepare: the coordinator's copy widens the bounds the count's noise rests on
    widened = _coordinators_copy(
        tmp_path, change=("bounds: [0, 10]", "bounds: [0, 99]")
    )
    own_source = f"csv:{nmes_departments / 'office-west.csv'}"
    theirs = Query(kind="count", dataset=str(widened), epsilon=0.5, delta=1e-5)
    ours = Query(
        kind="count", dataset=str(DECLARATIONS["binary"]), epsilon=0.5, delta=1e-5
    )

    # Execute
    refused = _query(tmp_path, theirs, own_source)
    answered = _query(tmp_path, ours, own_source)

    # Assert
    status, reason = _status(refused)
    assert status == p.Status.REFUSED
    assert reason.startswith("invalid query, nothing spent")
    assert "is not the declaration" in reason
    assert _status(answered) == (p.Status.OK, "")
    book = open_budget_book(tmp_path / "state", OFFICE).status("nmes1988")
    assert [r.kind for r in book.history] == ["query"]


def test_a_query_on_unreadable_records_is_refused_and_spends_nothing(
    tmp_path: Path,
) -> None:
    query = Query(
        kind="count", dataset=str(DECLARATIONS["binary"]), epsilon=0.5, delta=1e-5
    )

    reply = _query(tmp_path, query, f"csv:{tmp_path / 'missing.csv'}")

    assert _status(reply) == (p.Status.REFUSED, "data invalid: source-unreadable")
    book = open_budget_book(tmp_path / "state", OFFICE).status("nmes1988")
    assert book.history == ()
