"""A question for a standing federation's query service, and the wire it travels on.

While a standing federation is up (``fedgov federation up``), its
coordinator keeps one query run open on the SuperLink: a ServerApp that
answers questions handed to it over a Unix socket,
``$FEDGOV_HOME/federation/questions.sock`` (mode 0600; only processes of the
service's own user are answered, checked with ``SO_PEERCRED``). ``fedgov
query`` is then a thin client: it parses its arguments into a
:class:`Question`, sends it with :func:`ask`, and prints the answer. It
imports nothing but this module, the standard library and fedgov's errors,
so a question costs a Python start, not torch's.

A :class:`Question` carries what the analyst typed, not a validated query:
the service builds and validates the
:class:`~privacy.mechanisms.Query` (:func:`coordinator.query_service.question_query`)
and refuses a bad one naming the argument, as the simulation engine's path
does before it asks anyone. Per question, the service asks the departments
through the Grid, and the departments check the analyst's signed request,
calibrate the noise and charge their budgets; the coordinator writes its
audit records and the run's ``query_result.json``.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON (an
object). A request is ``{"ask": {question}}``, ``{"ping": {}}`` or
``{"stop": {}}``; a reply is ``{"answer": {...}}``, ``{"pong": {...}}``,
``{"stopping": {}}`` or ``{"refused": {"argument": ..., "rule": ...}}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Final, Literal, cast, get_args

from fedgov.county import county_home
from fedgov.errors import ConfigurationError, FedgovError

__all__ = [
    "FEDERATION_FOLDER",
    "FEDERATION_RECORD",
    "MAX_FRAME_BYTES",
    "QUERY_KINDS",
    "QUESTIONS_SOCKET",
    "QueryKind",
    "Question",
    "QuestionWireError",
    "ServiceDownError",
    "ask",
    "federation_folder",
    "peer_uid",
    "ping",
    "questions_socket",
    "receive_message",
    "send_message",
    "socket_address",
    "stop_service",
]

QueryKind = Literal["count", "sum", "mean", "histogram", "quantiles"]
QUERY_KINDS: Final = cast(tuple[QueryKind, ...], get_args(QueryKind))

FEDERATION_FOLDER: Final = "federation"
"""The standing federation's folder in the county's home."""
FEDERATION_RECORD: Final = "federation.json"
"""What ``fedgov federation up`` started, in the federation's folder."""
QUESTIONS_SOCKET: Final = "questions.sock"
"""The coordinator's query service, in the federation's folder."""
MAX_FRAME_BYTES: Final = 4 * 1024 * 1024

_LENGTH = struct.Struct(">I")
_MAX_SUN_PATH = 107
_PEERCRED = struct.Struct("3i")


class QuestionWireError(FedgovError):
    """A frame or question that does not follow this module's wire."""

    def __init__(self, rule: str) -> None:
        super().__init__(f"query service wire: {rule}")
        self.rule = rule


class ServiceDownError(FedgovError):
    """The standing federation's query service does not answer."""


@dataclass(frozen=True)
class Question:
    """One ``fedgov query`` as typed: the query's fields and the run's settings.

    ``state_dir`` (empty: the federation's) must be the federation's own;
    ``access_request`` is the analyst's signed request (empty: none);
    ``timeout`` bounds the departments' replies.
    """

    kind: str
    dataset: str
    epsilon: float
    delta: float
    column: str | None = None
    group_by: str | None = None
    where: tuple[str, ...] = ()
    bins: tuple[float, ...] = ()
    quantiles: tuple[float, ...] = ()
    rows_per_person: int | None = None
    query_id: str = ""
    accountant: str = ""
    purpose: str | None = None
    budget_epsilon: float | None = None
    access_request: str = ""
    state_dir: str = ""
    timeout: float = 600.0

    def to_json(self) -> dict[str, object]:
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_json(cls, data: object) -> Question:
        """Parse :meth:`to_json`'s object; ``QuestionWireError`` names a bad field."""
        if not isinstance(data, Mapping):
            raise QuestionWireError("a question must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise QuestionWireError(f"unknown question fields {unknown}")
        for name in ("kind", "dataset", "epsilon", "delta"):
            if name not in data:
                raise QuestionWireError(f"question field {name!r} is missing")
        values: dict[str, object] = {}
        for name, value in data.items():
            values[str(name)] = _field(str(name), value)
        return cls(**values)  # type: ignore[arg-type]


_TEXT = ("kind", "dataset", "query_id", "accountant", "access_request", "state_dir")
_OPTIONAL_TEXT = ("column", "group_by", "purpose")
_NUMBERS = ("epsilon", "delta", "timeout")
_NUMBER_LISTS = ("bins", "quantiles")


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QuestionWireError(f"question field {name!r} must be a number")
    return float(value)


def _field(name: str, value: object) -> object:
    if name in _TEXT or (name in _OPTIONAL_TEXT and value is not None):
        if not isinstance(value, str):
            raise QuestionWireError(f"question field {name!r} must be a string")
        return value
    if name in _OPTIONAL_TEXT:
        return None
    if name in _NUMBERS:
        return _number(name, value)
    if name == "budget_epsilon":
        return None if value is None else _number(name, value)
    if name == "rows_per_person":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise QuestionWireError(f"question field {name!r} must be an integer")
        return value
    if not isinstance(value, list):
        raise QuestionWireError(f"question field {name!r} must be a list")
    if name in _NUMBER_LISTS:
        return tuple(_number(name, item) for item in value)
    if not all(isinstance(item, str) for item in value):
        raise QuestionWireError(f"question field {name!r} must list strings")
    return tuple(value)


def federation_folder(home: str | Path | None = None) -> Path:
    """The standing federation's folder in the county's home."""
    return county_home(home).resolve() / FEDERATION_FOLDER


def questions_socket(home: str | Path | None = None) -> Path:
    """Where the standing federation's query service listens."""
    return federation_folder(home) / QUESTIONS_SOCKET


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """An address for ``path`` that fits AF_UNIX's 107 bytes.

    A longer path (a deep home folder) is reached through the folder's open
    descriptor under ``/proc/self/fd`` (Linux), which names the same inode.
    """
    text = str(path)
    if len(text.encode()) <= _MAX_SUN_PATH:
        yield text
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        short = f"/proc/self/fd/{fd}/{path.name}"
        if len(short.encode()) > _MAX_SUN_PATH:
            raise QuestionWireError(
                f"socket path {path} is longer than {_MAX_SUN_PATH} bytes"
            )
        yield short
    finally:
        os.close(fd)


def send_message(sock: socket.socket, message: Mapping[str, object]) -> None:
    """Send one frame holding ``message`` as JSON."""
    body = json.dumps(message, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME_BYTES:
        raise QuestionWireError(
            f"a frame of {len(body)} bytes is over {MAX_FRAME_BYTES}"
        )
    sock.sendall(_LENGTH.pack(len(body)) + body)


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 16))
        if not chunk:
            raise ConnectionAbortedError("the peer closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def receive_message(sock: socket.socket) -> tuple[str, dict[str, object]]:
    """One frame's ``(kind, body)``: a JSON object with exactly one key."""
    (length,) = _LENGTH.unpack(_exactly(sock, _LENGTH.size))
    if length > MAX_FRAME_BYTES:
        raise QuestionWireError(f"a frame of {length} bytes is over {MAX_FRAME_BYTES}")
    try:
        message = json.loads(_exactly(sock, length).decode())
    except (UnicodeDecodeError, ValueError) as e:
        raise QuestionWireError(f"a frame is not UTF-8 JSON ({e})") from e
    if not isinstance(message, dict) or len(message) != 1:
        raise QuestionWireError("a frame must hold a JSON object with one key")
    ((kind, body),) = message.items()
    if not isinstance(body, dict):
        raise QuestionWireError(f"the body of {kind!r} must be a JSON object")
    return str(kind), body


def peer_uid(sock: socket.socket) -> int:
    """The user id of the process at the other end of a Unix socket."""
    _, uid, _ = _PEERCRED.unpack(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    )
    return int(uid)


def _exchange(
    path: Path, kind: str, body: Mapping[str, object], timeout: float
) -> tuple[str, dict[str, object]]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            with socket_address(path) as address:
                sock.connect(address)
        except OSError as e:
            raise ServiceDownError(
                f"the standing federation's query service does not answer on "
                f"{path} ({e.strerror or e}): `fedgov federation status`; "
                "`fedgov federation down`, then `up` again"
            ) from e
        try:
            send_message(sock, {kind: dict(body)})
            return receive_message(sock)
        except TimeoutError as e:
            raise ServiceDownError(
                f"the query service on {path} did not reply within {timeout:.0f} s"
            ) from e
        except OSError as e:
            raise ServiceDownError(
                f"the query service on {path} dropped the connection ({e})"
            ) from e


def _expect(reply: tuple[str, dict[str, object]], kind: str) -> dict[str, object]:
    got, body = reply
    if got == "refused":
        raise ConfigurationError(
            str(body.get("argument", "query")), str(body.get("rule", "refused"))
        )
    if got != kind:
        raise QuestionWireError(f"expected a {kind!r} reply, got {got!r}")
    return body


def ask(path: Path, question: Question) -> dict[str, object]:
    """Ask the service on ``path`` ``question``; its answer.

    The answer holds ``answered`` (whether any department answered),
    ``text`` (the table as ``fedgov query`` prints it) and ``result`` (the
    same as JSON). A question the service refuses raises
    :class:`~fedgov.errors.ConfigurationError` naming the argument.
    """
    # The service's own wait (departments' replies, audit anchoring) is
    # bounded by the question's timeout; the margin covers the rest.
    reply = _exchange(path, "ask", question.to_json(), question.timeout + 120.0)
    return _expect(reply, "answer")


def ping(path: Path, *, timeout: float = 5.0) -> dict[str, object] | None:
    """What the service on ``path`` says of itself; ``None`` when it does not answer."""
    try:
        return _expect(_exchange(path, "ping", {}, timeout), "pong")
    except (ServiceDownError, QuestionWireError):
        return None


def stop_service(path: Path, *, timeout: float = 10.0) -> bool:
    """Ask the service on ``path`` to finish its run; whether it agreed."""
    try:
        _expect(_exchange(path, "stop", {}, timeout), "stopping")
    except (ServiceDownError, QuestionWireError):
        return False
    return True
