"""Owner-only Unix sockets: created 0600 in a 0700 folder, a dead service's socket
replaced and a live one's refused, strangers closed unanswered, short reads named."""

from __future__ import annotations

import os
import signal
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fedgov import local_socket
from fedgov.errors import ConfigurationError, FedgovError
from fedgov.local_socket import (
    MAX_SUN_PATH,
    LocalSocketError,
    OwnerOnlyListener,
    PeerClosedError,
    peer_uid,
    read_exactly,
    serve_until_stopped,
    socket_address,
)
from fedgov.questions import QuestionWireError
from fedgov.signals import StopSignal


def _connect(path: Path) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(10)
    with socket_address(path) as address:
        client.connect(address)
    return client


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[OwnerOnlyListener]:
    with OwnerOnlyListener(
        tmp_path / "run" / "service.sock", service="a test service"
    ) as listener:
        yield listener


def test_the_socket_is_0600_in_a_folder_created_0700(
    listening: OwnerOnlyListener,
) -> None:
    mode = listening.path.lstat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(listening.path.parent.stat().st_mode) == 0o700


def test_a_folder_that_exists_keeps_its_mode_and_the_umask_is_restored(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o750)
    folder.chmod(0o750)
    umask = os.umask(0o022)
    try:
        with OwnerOnlyListener(folder / "s.sock", service="a test service") as lst:
            assert stat.S_IMODE(lst.path.stat().st_mode) == 0o600
            restored = os.umask(0o022)
    finally:
        os.umask(umask)

    assert restored == 0o022
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750


def test_a_connection_from_the_owner_is_accepted_and_leaving_removes_the_socket(
    tmp_path: Path,
) -> None:
    path = tmp_path / "service.sock"
    with OwnerOnlyListener(path, service="a test service", accept_seconds=5) as lst:
        assert lst.sock.gettimeout() == 5
        with _connect(path) as client:
            conn = lst.accept()
            assert conn is not None
            with conn:
                client.sendall(b"ping")
                assert read_exactly(conn, 4, what="a ping") == b"ping"

    assert not path.exists()


def test_no_connection_within_the_accept_time_is_none(tmp_path: Path) -> None:
    with OwnerOnlyListener(
        tmp_path / "s.sock", service="a test service", accept_seconds=0.01
    ) as lst:
        assert lst.accept() is None


def test_a_socket_left_by_a_service_that_died_is_replaced(tmp_path: Path) -> None:
    # Prepare: a socket file nobody listens on any more
    dead = tmp_path / "service.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
        gone.bind(str(dead))
    assert stat.S_ISSOCK(dead.lstat().st_mode)

    # Act / Assert: bound over it, and answering
    with OwnerOnlyListener(dead, service="a test service") as lst, _connect(dead):
        conn = lst.accept()
        assert conn is not None
        conn.close()


def test_a_socket_where_a_service_answers_is_refused_and_left_alone(
    listening: OwnerOnlyListener,
) -> None:
    with (
        pytest.raises(ConfigurationError, match="a test service already answers") as e,
        OwnerOnlyListener(
            listening.path, service="a test service", argument="--socket"
        ),
    ):
        pass

    assert e.value.argument == "--socket"
    assert str(listening.path) in e.value.rule
    # the first service still answers on its socket
    with _connect(listening.path):
        assert listening.accept() is not None


def test_something_that_is_not_a_socket_is_never_replaced(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")

    with (
        pytest.raises(ConfigurationError, match="not a socket: not replacing it"),
        OwnerOnlyListener(notes, service="a test service"),
    ):
        pass

    assert notes.read_text() == "keep me"


def test_another_users_connection_is_closed_unanswered(
    listening: OwnerOnlyListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: every peer seen as another uid's
    monkeypatch.setattr(local_socket, "peer_uid", lambda sock: os.getuid() + 1)

    with _connect(listening.path) as client:
        # Act
        conn = listening.accept()

        # Assert: refused, and the stranger reads the end of the connection
        assert conn is None
        assert client.recv(1) == b""


def test_a_peer_whose_user_cannot_be_read_is_refused(
    listening: OwnerOnlyListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(sock: socket.socket) -> int:
        raise LocalSocketError("the peer's user cannot be read (SO_PEERCRED: test)")

    monkeypatch.setattr(local_socket, "peer_uid", unreadable)

    with _connect(listening.path) as client:
        assert listening.accept() is None
        assert client.recv(1) == b""


def test_peer_uid_is_the_user_at_the_other_end() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        assert peer_uid(left) == os.getuid()
    with pytest.raises(LocalSocketError, match="SO_PEERCRED"):
        peer_uid(left)  # closed: no credentials to read


def test_a_short_read_names_what_was_expected() -> None:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"abc")
        left.shutdown(socket.SHUT_WR)

        with pytest.raises(PeerClosedError) as e:
            read_exactly(right, 8, what="a frame's length")

    assert (e.value.what, e.value.expected, e.value.received) == (
        "a frame's length",
        8,
        3,
    )
    assert "after 3 of the 8 bytes of a frame's length" in str(e.value)
    assert isinstance(e.value, LocalSocketError)
    assert isinstance(e.value, FedgovError)


def test_an_exact_read_gathers_what_arrives_in_pieces() -> None:
    left, right = socket.socketpair()
    payload = os.urandom(3 << 20)

    def send() -> None:
        for start in range(0, len(payload), 12345):
            left.sendall(payload[start : start + 12345])

    with left, right:
        sender = threading.Thread(target=send)
        sender.start()
        got = read_exactly(right, len(payload), what="a payload")
        sender.join(10)

    assert got == payload


def test_a_path_deeper_than_af_unix_allows_is_reached_through_its_folder(
    tmp_path: Path,
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "service.sock"
    assert len(str(deep).encode()) > MAX_SUN_PATH

    with OwnerOnlyListener(deep, service="a test service") as lst, _connect(deep):
        conn = lst.accept()
        assert conn is not None
        conn.close()
        assert stat.S_IMODE(deep.stat().st_mode) == 0o600

    with socket_address(tmp_path / "short.sock") as address:
        assert address == str(tmp_path / "short.sock")


def test_a_socket_name_too_long_even_for_its_folder_is_refused(
    tmp_path: Path,
) -> None:
    name = "n" * 100 + ".sock"

    with (
        pytest.raises(LocalSocketError, match="longer than 107 bytes"),
        socket_address(tmp_path / name),
    ):
        pass


def test_the_question_wire_error_is_a_local_socket_error() -> None:
    error = QuestionWireError("a frame must hold a JSON object with one key")

    assert isinstance(error, LocalSocketError)
    assert error.rule == "a frame must hold a JSON object with one key"


@pytest.fixture
def _signal_handlers() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.usefixtures("_signal_handlers")
def test_a_service_refused_at_start_exits_1_naming_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")

    def serve(stop: StopSignal) -> None:
        with OwnerOnlyListener(notes, service="a test service"):
            pass

    assert serve_until_stopped(serve) == 1
    assert "error: socket: " in capsys.readouterr().err
    assert notes.read_text() == "keep me"


@pytest.mark.usefixtures("_signal_handlers")
def test_a_service_stopped_by_sigterm_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"

    def serve(stop: StopSignal) -> None:
        with OwnerOnlyListener(path, service="a test service", accept_seconds=0.01):
            os.kill(os.getpid(), signal.SIGTERM)
            while not stop.wait(0):
                pass

    assert serve_until_stopped(serve) == 0
    assert not path.exists()
