"""The coordinator's query service: questions over its 0600 socket, each asked of
the departments under its own id, purpose and budget, recorded as a one-query run
records it; bad frames, bad questions and strangers refused; a service that is
down named as such."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flwr.app import Message
from flwr.supercore.task_identity import TaskIdentity

from coordinator.audit import CoordinatorAudit
from coordinator.query_service import QueryService, question_query
from department_nodes.client_app import make_client_app
from fedgov import local_socket
from fedgov import protocol as p
from fedgov.engines.inprocess import NodeHandler, WireGrid
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob
from fedgov.local_socket import socket_address
from fedgov.questions import (
    Question,
    QuestionWireError,
    ServiceDownError,
    ask,
    ping,
    receive_message,
    send_message,
    stop_service,
)
from fedgov.run_record import QUERY_RESULT_FILE
from privacy.budget import open_budget_book

SITES = ("health-site-1", "health-site-2")
QUESTION = Question(
    kind="histogram",
    dataset="randhie",
    column="mdvis",
    bins=(0, 1, 2, 5, 10, 20, 80),
    group_by="female",
    epsilon=0.1,
    delta=1e-5,
    purpose="cost model",
    budget_epsilon=3.0,
)


@pytest.fixture(autouse=True)
def _task_identity() -> Iterator[None]:
    saved = TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1
    yield
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


class _Recording(WireGrid):
    """Real department ClientApps (job from each message), every message kept."""

    def __init__(self, state_dir: Path) -> None:
        app: NodeHandler = make_client_app()
        nodes = {100 + i: app for i in range(len(SITES))}
        super().__init__(
            nodes,
            node_configs={
                node: {"department": site, "state-dir": str(state_dir)}
                for node, site in zip(nodes, SITES, strict=True)
            },
        )
        self.sent: list[Message] = []

    def _answer(self, node_id: int, message: Message) -> Message | None:
        self.sent.append(message)
        return super()._answer(node_id, message)


def _service(tmp_path: Path, *, audit: bool) -> QueryService:
    """A query service over real department ClientApps, not yet serving."""
    state = tmp_path / "state"
    job = TrainJob(
        job_id="query-service",
        departments=",".join(SITES),
        state_dir=str(state),
        audit=audit,
    )
    return QueryService(
        _Recording(state),
        job,
        path=tmp_path / "questions.sock",
        departments=SITES,
        state_dir=state.resolve(),
        runs=tmp_path / "runs",
        ledger=None,
    )


@contextlib.contextmanager
def _serving(tmp_path: Path, *, audit: bool) -> Iterator[QueryService]:
    """A query service, serving until the block ends."""
    running = _service(tmp_path, audit=audit)
    stop = threading.Event()
    thread = threading.Thread(target=running.serve, args=(stop,), daemon=True)
    thread.start()
    assert running.ready.wait(10)
    try:
        yield running
    finally:
        stop.set()
        thread.join(10)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[QueryService]:
    with _serving(tmp_path, audit=False) as running:
        yield running


def _raw(path: Path, payload: bytes) -> tuple[str, dict[str, object]]:
    with socket.socket(socket.AF_UNIX) as sock, socket_address(path) as address:
        sock.settimeout(30)
        sock.connect(address)
        sock.sendall(payload)
        return receive_message(sock)


def test_a_question_is_asked_under_its_own_settings_charged_and_recorded(
    service: QueryService, tmp_path: Path
) -> None:
    # Execute
    answer = ask(service.path, QUESTION)

    # Assert: both departments answered; the table and JSON came back
    assert answer["answered"] is True
    assert "2 of 2 departments answered" in str(answer["text"])
    result = answer["result"]
    assert isinstance(result, dict)
    query_id = str(result["query"]["query-id"])
    # ... each QUERY message carried the question's own job settings
    grid = service.grid
    assert isinstance(grid, _Recording)
    records = [m.content.config_records[p.Record.JOB] for m in grid.sent]
    assert [dict(r) for r in records] == [
        {
            "job-id": query_id,
            "purpose": "cost model",
            "access-request": "",
            "budget-epsilon": 3.0,
        }
    ] * 2
    # ... which the departments charged under the question's id and budget
    for site in SITES:
        status = open_budget_book(tmp_path / "state", site).status("randhie")
        assert [(r.kind, r.job_id) for r in status.history] == [("query", query_id)]
        assert status.limit.epsilon == 3.0
    # ... and the run record of a one-query run
    assert (tmp_path / "runs" / query_id / QUERY_RESULT_FILE).is_file()
    assert service.answered == 1


def test_the_socket_is_owner_only(service: QueryService) -> None:
    assert stat.S_IMODE(service.path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("question", "argument"),
    [
        ({"kind": "histogram", "dataset": "randhie", "epsilon": 0.1}, "question"),
        ({**QUESTION.to_json(), "epsilon": "lots"}, "question"),
        ({**QUESTION.to_json(), "where": "xage>1"}, "question"),
        ({**QUESTION.to_json(), "surprise": 1}, "question"),
        ({**QUESTION.to_json(), "column": "no_such_column"}, "column"),
        ({**QUESTION.to_json(), "epsilon": -1.0}, "epsilon"),
        ({**QUESTION.to_json(), "dataset": "adult"}, "--dataset"),
        ({**QUESTION.to_json(), "state_dir": "/elsewhere"}, "--state-dir"),
    ],
)
def test_a_bad_question_is_refused_naming_the_argument_nothing_asked(
    service: QueryService, question: dict[str, object], argument: str
) -> None:
    body = json.dumps({"ask": question}).encode()
    kind, reply = _raw(service.path, struct.pack(">I", len(body)) + body)

    assert kind == "refused"
    assert reply["argument"] == argument
    grid = service.grid
    assert isinstance(grid, _Recording)
    assert grid.sent == []


@pytest.mark.parametrize(
    "payload",
    [
        struct.pack(">I", 5) + b"{oops",
        struct.pack(">I", 2) + b"[]",
        struct.pack(">I", 2**31),
        struct.pack(">I", 11) + b'{"hack":{}}',
    ],
    ids=["not-json", "not-an-object", "oversized", "unknown-request"],
)
def test_a_bad_frame_is_refused_and_the_service_goes_on(
    service: QueryService, payload: bytes
) -> None:
    kind, reply = _raw(service.path, payload)

    assert kind == "refused"
    assert reply["argument"] == "request"
    assert ping(service.path) is not None


def test_a_question_asked_twice_under_one_id_is_refused(service: QueryService) -> None:
    question = Question(**{**QUESTION.__dict__, "query_id": "q-once"})
    ask(service.path, question)

    with pytest.raises(ConfigurationError, match="asked before"):
        ask(service.path, question)


def test_another_users_process_gets_no_answer(
    service: QueryService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the service sees the connection as another uid's
    monkeypatch.setattr(local_socket, "peer_uid", lambda sock: os.getuid() + 1)

    # Execute / Assert: closed without a reply, nothing asked
    with pytest.raises(ServiceDownError, match="dropped the connection"):
        ask(service.path, QUESTION)
    grid = service.grid
    assert isinstance(grid, _Recording)
    assert grid.sent == []


def test_stop_ends_the_service_and_removes_its_socket(service: QueryService) -> None:
    assert stop_service(service.path)
    for _ in range(100):
        if not service.path.exists():
            break
        threading.Event().wait(0.1)

    assert not service.path.exists()
    with pytest.raises(ServiceDownError, match="does not answer"):
        ask(service.path, QUESTION)


def test_a_second_service_on_a_live_socket_is_refused(
    service: QueryService, tmp_path: Path
) -> None:
    second = QueryService(
        service.grid,
        service.job,
        path=service.path,
        departments=SITES,
        state_dir=tmp_path,
        runs=tmp_path / "runs",
        ledger=None,
    )
    with pytest.raises(ConfigurationError, match="already answers"):
        second.serve(threading.Event())


def test_nothing_listening_is_a_service_down_error(tmp_path: Path) -> None:
    with pytest.raises(ServiceDownError, match="fedgov federation status"):
        ask(tmp_path / "questions.sock", QUESTION)
    assert ping(tmp_path / "questions.sock") is None
    assert not stop_service(tmp_path / "questions.sock")


def test_a_frame_over_the_limit_is_not_sent(tmp_path: Path) -> None:
    left, right = socket.socketpair()
    with left, right, pytest.raises(QuestionWireError, match="over"):
        send_message(left, {"ask": {"x": "y" * (5 * 1024 * 1024)}})


def test_question_query_is_the_query_the_fields_describe() -> None:
    query = question_query(QUESTION)

    assert (query.kind, query.column, query.group_by) == (
        "histogram",
        "mdvis",
        "female",
    )
    assert query.bins == (0, 1, 2, 5, 10, 20, 80)
    assert Question.from_json(QUESTION.to_json()) == QUESTION


class _Hook:
    """The coordinator's audit hook as the service uses it (kept, not chained)."""

    def __init__(self, job: TrainJob, calls: list[str]) -> None:
        self.job = job
        self.calls = calls

    def for_job(self, job: TrainJob) -> _Hook:
        return _Hook(job, self.calls)

    def record_query(self, result: object) -> None:
        self.calls.append(f"record {self.job.job_id}")

    def anchor(self) -> list[object]:
        self.calls.append(f"anchor {self.job.job_id}")
        return []

    def close(self) -> list[object]:
        self.calls.append("close")
        return []


def test_the_audit_hook_is_opened_once_and_every_question_anchored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    opened: list[str] = []

    def open_hook(job: TrainJob, **_: object) -> _Hook:
        opened.append(job.job_id)
        return _Hook(job, calls)

    monkeypatch.setattr(CoordinatorAudit, "open", open_hook)
    with _serving(tmp_path, audit=True) as running:
        # Opened before the first question, which then only records and anchors.
        assert opened == ["query-service"]
        first = ask(running.path, QUESTION)
        second = ask(running.path, QUESTION)

    ids = [str(a["result"]["query"]["query-id"]) for a in (first, second)]  # type: ignore[index]
    assert opened == ["query-service"]
    assert calls == [
        f"record {ids[0]}",
        f"anchor {ids[0]}",
        f"record {ids[1]}",
        f"anchor {ids[1]}",
        "close",
    ]


def test_an_audit_hook_that_cannot_open_at_start_is_opened_for_the_first_question(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    attempts: list[str] = []

    def open_hook(job: TrainJob, **_: object) -> _Hook:
        attempts.append(job.job_id)
        if len(attempts) == 1:
            raise ConfigurationError("ledger", "the county chain is not reachable")
        return _Hook(job, calls)

    monkeypatch.setattr(CoordinatorAudit, "open", open_hook)
    with _serving(tmp_path, audit=True) as running:
        assert attempts == ["query-service"]
        answer = ask(running.path, QUESTION)

    assert answer["answered"] is True
    assert attempts == ["query-service", "query-service"]
    query_id = str(answer["result"]["query"]["query-id"])  # type: ignore[index]
    assert calls == [f"record {query_id}", f"anchor {query_id}", "close"]
