"""Owner-only Unix sockets: fedgov's local services and the clients that reach them.

Three of fedgov's processes answer on a Unix socket: the coordinator's query
service (:mod:`coordinator.query_service`), the department service
(:mod:`department_nodes.service`) and the warm ``flwr-clientapp`` fork
server (:mod:`department_nodes.warm_clientapp`). Each listens through
:class:`OwnerOnlyListener`: the socket is created 0600 (its folder, when
missing, 0700), a socket left at the path by a service that died is
replaced, one where a service still answers is refused, and a connection
from another user's process (``SO_PEERCRED``) is closed unanswered. The two
run as ``python -m`` (the department service, the fork server) serve through
:func:`serve_until_stopped`.

The wires on top (:mod:`fedgov.questions`, ``department_nodes._service_wire``)
frame their messages differently and share what is below the framing:
:func:`socket_address` for paths deeper than ``AF_UNIX`` allows,
:func:`read_exactly` for a frame's bytes, and :class:`LocalSocketError`, the
base of their errors. Standard library only beside fedgov's errors, files and
signals: the thin ``fedgov query`` client and the per-message relay import this.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
import struct
import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Final

from fedgov.errors import ConfigurationError, FedgovError
from fedgov.files import PRIVATE, private_dir
from fedgov.signals import StopSignal

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "MAX_SUN_PATH",
    "LocalSocketError",
    "OwnerOnlyListener",
    "PeerClosedError",
    "peer_uid",
    "read_exactly",
    "serve_until_stopped",
    "socket_address",
]

logger = logging.getLogger(__name__)

MAX_SUN_PATH: Final = 107
"""The longest ``AF_UNIX`` path in bytes (108 with the terminating NUL)."""

_PEERCRED = struct.Struct("3i")
_CHUNK = 1 << 20


class LocalSocketError(FedgovError):
    """A local socket's path, peer or bytes that break this module's rules."""


class PeerClosedError(LocalSocketError):
    """The peer closed the connection before all that was expected arrived.

    ``what`` names what was being read, ``expected`` its size in bytes and
    ``received`` how many of them came (0: nothing at all).
    """

    def __init__(self, what: str, expected: int, received: int) -> None:
        super().__init__(
            f"the peer closed the connection after {received} of the {expected} "
            f"bytes of {what}"
        )
        self.what = what
        self.expected = expected
        self.received = received


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """An address for ``path`` that fits ``AF_UNIX``'s 107 bytes.

    A longer path (a deep state or home folder) is reached through its
    folder's open descriptor under ``/proc/self/fd`` (Linux), which names the
    same inode.
    """
    text = str(path)
    if len(text.encode()) <= MAX_SUN_PATH:
        yield text
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        short = f"/proc/self/fd/{fd}/{path.name}"
        if len(short.encode()) > MAX_SUN_PATH or not Path("/proc/self/fd").is_dir():
            raise LocalSocketError(
                f"socket path {path} is longer than {MAX_SUN_PATH} bytes"
            )
        yield short
    finally:
        os.close(fd)


def read_exactly(sock: socket.socket, size: int, *, what: str) -> bytes:
    """The next ``size`` bytes from ``sock``; :class:`PeerClosedError` naming
    ``what`` when the peer closes first. The socket's own timeout applies."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(min(size - len(chunks), _CHUNK))
        if not chunk:
            raise PeerClosedError(what, size, len(chunks))
        chunks += chunk
    return bytes(chunks)


def peer_uid(sock: socket.socket) -> int:
    """The user id of the process at the other end of the Unix socket ``sock``."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    except (AttributeError, OSError) as e:
        # No credentials, no answer: nothing here trusts an unknown peer.
        raise LocalSocketError(
            f"the peer's user cannot be read (SO_PEERCRED: {e})"
        ) from e
    _, uid, _ = _PEERCRED.unpack(raw)
    return int(uid)


class OwnerOnlyListener:
    """A Unix socket listening at ``path`` that only this process's user reaches.

    Entering binds it: refused (:class:`~fedgov.errors.ConfigurationError`
    naming ``argument``) where something that is not a socket lies at
    ``path``, or where ``service`` (e.g. ``"a query service"``) still answers
    on it; a socket left by one that died is removed first. The socket is
    created 0600, never wider for an instant, and a missing folder 0700 (a
    folder that exists keeps the mode its operator chose). Leaving closes it
    and removes the socket file.
    """

    def __init__(
        self,
        path: Path,
        *,
        service: str,
        argument: str = "socket",
        backlog: int = 8,
        accept_seconds: float = 0.5,
    ) -> None:
        self.path = Path(path).absolute()
        self.service = service
        self.argument = argument
        self.backlog = backlog
        self.accept_seconds = accept_seconds
        self._sock: socket.socket | None = None

    @property
    def sock(self) -> socket.socket:
        """The listening socket (a forked child closes its copy)."""
        if self._sock is None:
            raise LocalSocketError(f"{self.path}: the listener is not open")
        return self._sock

    def __enter__(self) -> OwnerOnlyListener:
        private_dir(self.path.parent)
        self._clear_stale()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # Created owner-only: no moment exists where another user may connect.
            previous = os.umask(0o777 & ~PRIVATE)
            try:
                with socket_address(self.path) as address:
                    server.bind(address)
            finally:
                os.umask(previous)
            os.chmod(self.path, PRIVATE)
            server.listen(self.backlog)
            server.settimeout(self.accept_seconds)
        except BaseException:
            server.close()
            raise
        self._sock = server
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def accept(self) -> socket.socket | None:
        """The next connection from this user's processes; ``None`` when none
        came within ``accept_seconds``. Another user's is closed unanswered."""
        try:
            conn, _ = self.sock.accept()
        except TimeoutError:
            return None
        try:
            uid = peer_uid(conn)
        except LocalSocketError as e:
            logger.warning("refused a connection on %s: %s", self.path, e)
            conn.close()
            return None
        if uid != os.getuid():
            logger.warning("refused a connection from uid %d on %s", uid, self.path)
            conn.close()
            return None
        return conn

    def _clear_stale(self) -> None:
        try:
            mode = self.path.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ConfigurationError(
                self.argument,
                f"{self.path} exists and is not a socket: not replacing it",
            )
        with (
            socket_address(self.path) as address,
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe,
        ):
            try:
                probe.connect(address)
            except OSError:
                self.path.unlink()  # left by a service that died
                return
        raise ConfigurationError(
            self.argument, f"{self.service} already answers on {self.path}"
        )


def serve_until_stopped(serve: Callable[[StopSignal], object]) -> int:
    """Run ``serve`` until SIGINT or SIGTERM; a ``python -m`` service's exit status.

    0 once stopped; 1, the error on stderr, where the service refuses to
    start (:class:`OwnerOnlyListener` found its path taken, say).
    """
    # Caught before the service listens: a supervisor may signal as soon as
    # the socket answers.
    stop = StopSignal()
    try:
        serve(stop)
    except ConfigurationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
