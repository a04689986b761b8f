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
import socket
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
)
from department_nodes.client_app import make_client_app
from fedgov.data import preload_records
from fedgov.data.partition import flower_partitioners
from fedgov.errors import FedgovError
from fedgov.job import TrainJob
from fedgov.local_socket import (
    LocalSocketError,
    OwnerOnlyListener,
    serve_until_stopped,
)
from fedgov.signals import StopSignal
from privacy.accounting import GaussianSpend, epsilon_spent

if TYPE_CHECKING:
    from collections.abc import Sequence

    from flwr.clientapp import ClientApp

__all__ = ["DepartmentService", "main"]

logger = logging.getLogger(__name__)

_ACCEPT_SECONDS = 0.5
_REQUEST_SECONDS = 60.0


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
        with OwnerOnlyListener(
            self.path,
            service="a department service",
            accept_seconds=_ACCEPT_SECONDS,
        ) as listener:
            self.ready.set()
            logger.info("department service listening on %s", self.path)
            while not stop.wait(0):
                conn = listener.accept()
                if conn is None:
                    continue
                with conn:
                    self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(_REQUEST_SECONDS)
        try:
            kind, parts = receive_frame(conn)
            if kind is not FrameKind.REQUEST:
                raise ServiceWireError(f"expected a request, got {kind.name}")
            message, context = decode_request(parts)
        except ServiceClosedError:
            return  # a probe: did the service listen?
        except (OSError, LocalSocketError) as e:
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


def _preload(dataset: str) -> None:
    # Only a head start: a dataset that cannot be read now is the first
    # message's error to report, with that message's job named.
    started = time.perf_counter()
    try:
        read = preload_records(dataset)
    except FedgovError as e:
        logger.warning("--preload %s: not read at start (%s)", dataset, e)
        return
    if read:
        logger.info(
            "%s's records read in %.2f s", dataset, time.perf_counter() - started
        )


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
    parser.add_argument(
        "--preload",
        metavar="DATASET",
        help="a built-in dataset whose records to read at start, e.g. randhie "
        "(the one a standing federation serves), not during the first message",
    )
    args = parser.parse_args(argv)
    # Imports before this one may have configured the root logger already.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", force=True
    )
    # Warm before the first message, not during it: a built-in dataset's
    # records are split with Flower's partitioners (seconds of imports), and
    # the PLD accountant's first use builds what every later one reuses.
    flower_partitioners()
    epsilon_spent([GaussianSpend(1.0, 1.0, 1)], delta=TrainJob.delta)
    if args.preload:
        _preload(args.preload)
    return serve_until_stopped(DepartmentService(args.socket).serve)


if __name__ == "__main__":
    sys.exit(main())
