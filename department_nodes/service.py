"""The department service: the department's ClientApp in a process that stays warm.

``python -m department_nodes.service --socket PATH`` listens on a Unix socket
(mode 0600, its folder the department's state folder) and answers the
messages the thin relay ClientApp (:mod:`department_nodes.relay_app`) hands
it, one at a time, with :func:`department_nodes.client_app.make_client_app`'s
ClientApp: the boundary guard, the audit mod, the access gate and the
budget-first handlers run here exactly as they run in a ``flwr-clientapp``
process. What stays warm between messages is what a process keeps: torch,
Opacus and fedgov imported, the model code, and the department's records
(:mod:`department_nodes.data_access`, read again when its source or
declaration changes). The budget book, the vault and the audit log are read
from and written to the state folder for every message, as before.

Only processes of this service's own user may connect (``SO_PEERCRED``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import stat
import struct
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from department_nodes._service_wire import (
    FrameKind,
    ServiceClosedError,
    ServiceWireError,
    decode_request,
    encode_failure,
    encode_reply,
    receive_frame,
    send_frame,
    socket_address,
)
from department_nodes.client_app import make_client_app
from fedgov.errors import ConfigurationError
from fedgov.signals import StopSignal

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from flwr.clientapp import ClientApp

__all__ = ["DepartmentService", "main"]

logger = logging.getLogger(__name__)

_ACCEPT_SECONDS = 0.5
_REQUEST_SECONDS = 60.0
_PEERCRED = struct.Struct("3i")


class DepartmentService:
    """Serves ``app`` (default: the department's ClientApp) on the socket at ``path``.

    Binding refuses a path where another service answers, and replaces a
    socket left by one that died. ``ready`` is set once the socket listens.
    """

    def __init__(self, path: Path, *, app: ClientApp | None = None) -> None:
        self.path = Path(path).absolute()
        self.app = app if app is not None else make_client_app()
        self.ready = threading.Event()
        self.answered = 0

    def serve(self, stop: threading.Event | StopSignal) -> None:
        """Answer messages until ``stop`` is set; remove the socket on the way out."""
        with self._listening() as server:
            self.ready.set()
            logger.info("department service listening on %s", self.path)
            while not _stopped(stop):
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                with conn:
                    self._answer(conn)

    @contextlib.contextmanager
    def _listening(self) -> Iterator[socket.socket]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clear_stale()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # Created owner-only: no moment exists where another user may connect.
            previous = os.umask(0o177)
            try:
                with socket_address(self.path) as address:
                    server.bind(address)
            finally:
                os.umask(previous)
            os.chmod(self.path, 0o600)
            server.listen(8)
            server.settimeout(_ACCEPT_SECONDS)
            yield server
        finally:
            server.close()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def _clear_stale(self) -> None:
        try:
            mode = self.path.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ConfigurationError(
                "socket", f"{self.path} exists and is not a socket: not replacing it"
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
            "socket", f"a department service already answers on {self.path}"
        )

    def _answer(self, conn: socket.socket) -> None:
        uid = _peer_uid(conn)
        if uid is not None and uid != os.getuid():
            logger.warning("refused a connection from uid %d on %s", uid, self.path)
            return
        conn.settimeout(_REQUEST_SECONDS)
        try:
            kind, parts = receive_frame(conn)
            if kind is not FrameKind.REQUEST:
                raise ServiceWireError(f"expected a request, got {kind.name}")
            message, context = decode_request(parts)
        except ServiceClosedError:
            return  # a probe: did the service listen?
        except (OSError, ServiceWireError) as e:
            logger.warning("unreadable request on %s: %s", self.path, e)
            with contextlib.suppress(OSError):
                send_frame(conn, FrameKind.FAILED, encode_failure(f"bad request: {e}"))
            return
        conn.settimeout(None)
        started = time.perf_counter()
        try:
            reply = self.app(message=message, context=context)
        except Exception as e:
            # As flwr-clientapp does: the ClientApp's exception becomes the
            # message's error, and the department keeps serving.
            logger.exception(
                "the ClientApp raised on %s", message.metadata.message_type
            )
            answer = (FrameKind.FAILED, encode_failure(f"{type(e).__name__}: {e}"))
        else:
            answer = (FrameKind.REPLY, encode_reply(reply, context.state))
        self.answered += 1
        logger.info(
            "%s message of run %d answered in %.2f s",
            message.metadata.message_type,
            message.metadata.run_id,
            time.perf_counter() - started,
        )
        try:
            send_frame(conn, *answer)
        except OSError as e:
            logger.warning("the relay left before its reply on %s: %s", self.path, e)


def _peer_uid(conn: socket.socket) -> int | None:
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    _, uid, _ = _PEERCRED.unpack(raw)
    return int(uid)


def _stopped(stop: threading.Event | StopSignal) -> bool:
    if isinstance(stop, threading.Event):
        return stop.is_set()
    return stop.wait(0)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m department_nodes.service --socket PATH``: serve until stopped."""
    parser = argparse.ArgumentParser(
        prog="python -m department_nodes.service", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--socket",
        required=True,
        type=Path,
        help="the socket to listen on, e.g. /srv/fedgov/departments/health/service.sock "
        "(the SuperNode's node config names it: department-service='PATH')",
    )
    args = parser.parse_args(argv)
    # Imports before this one may have configured the root logger already.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", force=True
    )
    stop = StopSignal()
    service = DepartmentService(args.socket)
    try:
        service.serve(stop)
    except ConfigurationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
