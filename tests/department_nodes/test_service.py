"""The department service and its thin relay ClientApp: one message at a time over a
Unix socket, the department's own ClientApp answering, nothing else let in."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.clientapp import ClientApp
from flwr.supercore.task_identity import TaskIdentity

from department_nodes._service_wire import (
    FrameKind,
    ServiceClosedError,
    receive_frame,
    send_frame,
)
from department_nodes.analytics import SPEND_KIND
from department_nodes.client_app import make_client_app
from department_nodes.relay_app import (
    NODE_SERVICE,
    DepartmentServiceError,
    relay,
    service_answers,
)
from department_nodes.relay_app import app as relay_app
from department_nodes.service import DepartmentService
from fedgov import protocol as p
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob
from fedgov.local_socket import PeerClosedError
from ledger.keys import PlaintextKeyWarning
from ledger.records import Action
from ledger.store import LogStore
from privacy.budget import open_budget_book
from privacy.mechanisms import Query

DEPARTMENT = "health-site-3"


@pytest.fixture(autouse=True)
def _task_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 7)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)


def _echo_app() -> ClientApp:
    app = ClientApp()

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        if "boom" in msg.content.config_records:
            raise RuntimeError("the handler failed")
        seen = context.state.config_records.get("seen", ConfigRecord({"n": 0}))
        context.state.config_records["seen"] = ConfigRecord({"n": int(seen["n"]) + 1})  # type: ignore[arg-type]
        return Message(
            RecordDict({"echo": msg.content.config_records["q"]}), reply_to=msg
        )

    return app


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[DepartmentService]:
    yield from _serve(tmp_path / "departments" / DEPARTMENT / "service.sock")


def _serve(path: Path, app: ClientApp | None = None) -> Iterator[DepartmentService]:
    service = DepartmentService(path, app=app or _echo_app())
    stop = threading.Event()
    thread = threading.Thread(target=service.serve, args=(stop,), daemon=True)
    thread.start()
    assert service.ready.wait(30)
    yield service
    stop.set()
    thread.join(10)
    assert not thread.is_alive()


def _query(**records: ConfigRecord) -> Message:
    return Message(
        RecordDict({"q": ConfigRecord({"x": 1}), **records}),
        dst_node_id=7,
        message_type=MessageType.QUERY,
    )


def _context(**node: str | bool | int | float) -> Context:
    return Context(
        run_id=1, node_id=7, node_config=node, state=RecordDict(), run_config={}
    )


def test_a_message_goes_to_the_service_and_its_reply_and_state_come_back(
    serving: DepartmentService,
) -> None:
    # Prepare
    msg, context = _query(), _context()

    # Act
    first = relay(msg, context, serving.path)
    second = relay(msg, context, serving.path)

    # Assert: the reply answers the message; the state travels both ways
    assert first.metadata.reply_to_message_id == msg.metadata.message_id
    assert first.content.config_records["echo"]["x"] == 1
    assert second.has_content()
    assert context.state.config_records["seen"]["n"] == 2
    assert serving.answered == 2


def test_the_relay_app_uses_the_service_its_node_config_names(
    serving: DepartmentService,
) -> None:
    context = _context(**{NODE_SERVICE: str(serving.path)})

    reply = relay_app(message=_query(), context=context)

    assert reply.content.config_records["echo"]["x"] == 1
    assert serving.answered == 1


def test_the_socket_is_owner_only(serving: DepartmentService) -> None:
    mode = serving.path.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


def test_a_handler_failure_comes_back_as_an_error_and_the_service_goes_on(
    serving: DepartmentService,
) -> None:
    with pytest.raises(
        DepartmentServiceError, match="RuntimeError: the handler failed"
    ):
        relay(_query(boom=ConfigRecord()), _context(), serving.path)

    assert relay(_query(), _context(), serving.path).has_content()


def _read_all(sock: socket.socket) -> bytes:
    # The service closes with the attack's bytes unread: the end of its
    # answer may come as a reset.
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_a_frame_that_is_not_ours_is_refused_and_the_service_goes_on(
    serving: DepartmentService,
) -> None:
    # Act: garbage, then a frame header announcing more than it may hold
    for attack in (b"GET / HTTP/1.1\r\n\r\n", b"FGS1\x01\x00\x00\x00\x09"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(serving.path))
            sock.sendall(attack)
            sock.shutdown(socket.SHUT_WR)
            answer = _read_all(sock)
        # Assert
        assert b"bad request" in answer

    assert relay(_query(), _context(), serving.path).has_content()
    assert serving.answered == 1


def test_a_service_that_does_not_answer_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "service.sock"

    with pytest.raises(DepartmentServiceError, match=f"{path}: not answering"):
        relay(_query(), _context(), path)
    assert not service_answers(path)


def test_a_second_service_on_a_live_socket_is_refused_a_dead_ones_is_replaced(
    serving: DepartmentService, tmp_path: Path
) -> None:
    # A live service: refused
    with pytest.raises(ConfigurationError, match="already answers"):
        DepartmentService(serving.path, app=_echo_app()).serve(threading.Event())

    # A socket left behind by a service that died: replaced
    dead = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(dead))
    server = _serve(dead)
    next(server)
    assert service_answers(dead)
    next(server, None)
    assert not dead.exists()

    # Something else at the path: never replaced
    other = tmp_path / "notes.txt"
    other.write_text("keep me")
    with pytest.raises(ConfigurationError, match="not a socket"):
        DepartmentService(other, app=_echo_app()).serve(threading.Event())
    assert other.read_text() == "keep me"


def test_a_socket_deeper_than_af_unix_allows_is_reached_all_the_same(
    tmp_path: Path,
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "service.sock"
    assert len(str(deep)) > 108
    server = _serve(deep)
    service = next(server)

    assert relay(_query(), _context(), deep).has_content()
    assert stat.S_IMODE(os.stat(deep).st_mode) == 0o600
    next(server, None)
    assert service.answered == 1


def test_the_departments_own_clientapp_answers_charges_and_audits(
    tmp_path: Path,
) -> None:
    # Prepare: the service with the department's real ClientApp
    state = tmp_path / "state"
    query = Query(
        kind="histogram",
        dataset="randhie",
        column="mdvis",
        bins=(0, 1, 2, 5, 10, 20, 80),
        group_by="female",
        epsilon=0.5,
        delta=1e-5,
        query_id="q-service",
    )
    job = TrainJob(
        job_id=query.query_id, state_dir=str(state), budget_epsilon=2.0, audit=True
    )
    context = Context(
        run_id=1,
        node_id=7,
        node_config={"department": DEPARTMENT, "state-dir": str(state)},
        state=RecordDict(),
        run_config=job.to_run_config(),
    )
    msg = Message(
        RecordDict({p.Record.QUERY: ConfigRecord(query.to_config())}),  # type: ignore[arg-type]
        dst_node_id=7,
        message_type=MessageType.QUERY,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextKeyWarning)
        server = _serve(tmp_path / "service.sock", app=make_client_app())
        service = next(server)

        # Act
        reply = relay(msg, context, service.path)
        next(server, None)

    # Assert: answered, charged to the budget book, audited in the log
    fedgov = reply.content.config_records[p.Record.FEDGOV]
    assert fedgov[p.Reply.STATUS] == p.Status.OK
    history = open_budget_book(state, DEPARTMENT).status("randhie").history
    assert [(r.kind, r.job_id) for r in history] == [(SPEND_KIND, "q-service")]
    (log,) = (state / "departments" / DEPARTMENT).glob("audit-0x*.db")
    with LogStore(log) as store:
        actions = [(r.action, r.job) for r in store.records(0)]
    assert (Action.ANALYTICS_QUERY, "q-service") in actions


def test_a_frame_cut_short_names_the_part_a_closed_connection_is_a_probe() -> None:
    # Prepare: a header announcing 2 parts, then 3 bytes of the first's length
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"FGS1\x01\x00\x00\x00\x02\x00\x00\x00")
        left.shutdown(socket.SHUT_WR)

        # Act / Assert
        with pytest.raises(PeerClosedError, match="3 of the 8 bytes of the length"):
            receive_frame(right)

    left, right = socket.socketpair()
    with left, right:
        left.close()
        with pytest.raises(ServiceClosedError):
            receive_frame(right)


def test_a_preloaded_dataset_is_read_at_start_and_a_bad_one_only_warns(
    tmp_path: Path,
) -> None:
    # As `fedgov federation up` starts it (--preload: the federation's dataset); a dataset that cannot be read at
    # start is left to the first message to report, and the service serves.
    services = {
        name: (tmp_path / name / "service.sock", dataset)
        for name, dataset in (("good", "randhie"), ("bad", "no-such-dataset"))
    }
    running = {
        name: subprocess.Popen(
            [
                *(sys.executable, "-m", "department_nodes.service"),
                *("--socket", str(path), "--preload", dataset),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, (path, dataset) in services.items()
    }
    try:
        deadline = time.monotonic() + 120
        for name, (path, _) in services.items():
            while not service_answers(path):
                assert running[name].poll() is None, running[name].communicate()[0]
                assert time.monotonic() < deadline, f"{name} did not listen"
                time.sleep(0.1)
    finally:
        for process in running.values():
            process.send_signal(signal.SIGTERM)
        logs = {
            name: process.communicate(timeout=30)[0]
            for name, process in running.items()
        }
    assert "randhie's records read in" in logs["good"]
    assert "--preload no-such-dataset: not read at start" in logs["bad"]
    assert "Traceback" not in logs["bad"]


class _CountedWrites:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.writes = 0

    def sendall(self, data: bytes) -> None:
        self.writes += 1
        self.sock.sendall(data)


def test_a_frame_goes_out_in_one_write_so_a_peer_that_has_it_may_close() -> None:
    # A reply with no state ends in an empty part: written piece by piece,
    # its write of nothing came after the relay had the whole frame and had
    # closed, and failed with a broken pipe on every such message.
    left, right = socket.socketpair()
    with left, right:
        counted = _CountedWrites(left)

        send_frame(cast("socket.socket", counted), FrameKind.REPLY, [b"reply", b""])
        kind, parts = receive_frame(right)

    assert counted.writes == 1
    assert (kind, parts) == (FrameKind.REPLY, [b"reply", b""])
