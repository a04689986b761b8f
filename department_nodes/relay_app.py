"""The ClientApp a deployed SuperNode runs: thin, it hands each message to the department service.

flwr 1.42 runs every message in a fresh ``flwr-clientapp`` process. The
department's real ClientApp (:mod:`department_nodes.client_app`) needs
torch, Opacus and the department's records, seconds of imports and reads
that such a process would pay for every message. ``app`` here imports only
Flower's message types: when the node config names a department service
(``department-service='/srv/fedgov/departments/health/service.sock'``), it
sends the message and its context over that Unix socket to the long-lived
service (:mod:`department_nodes.service`), which runs the very same
ClientApp (boundary guard, audit mod, access gate, budget-first handlers)
with everything warm, and returns its reply and the context's new state.

Without ``department-service`` the real ClientApp runs here, in this
process, as it always did. A service named but not answering is an error
(the reply says so): the department asked for its own process, and nothing
runs its records elsewhere behind its back.
"""

from __future__ import annotations

import importlib
import socket
from pathlib import Path

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from department_nodes._service_wire import (
    FrameKind,
    decode_reply,
    encode_request,
    receive_frame,
    send_frame,
    socket_address,
)
from fedgov.errors import FedgovError

__all__ = [
    "NODE_SERVICE",
    "SERVICE_SOCKET",
    "DepartmentServiceError",
    "app",
    "relay",
    "service_answers",
]

NODE_SERVICE = "department-service"
"""Node config key: the department service's socket."""

SERVICE_SOCKET = "service.sock"
"""The socket's usual name, in the department's state folder (``departments/<name>/``)."""

_CONNECT_SECONDS = 10.0
_FULL_APP = "department_nodes.client_app"


class DepartmentServiceError(FedgovError):
    """The department service named in the node config did not answer, or failed."""


def relay(msg: Message, context: Context, service: Path) -> Message:
    """``msg`` answered by the department service at ``service``.

    ``context.state`` becomes the state the service's ClientApp left.
    """
    try:
        with (
            socket_address(service) as address,
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock,
        ):
            sock.settimeout(_CONNECT_SECONDS)
            sock.connect(address)
            # The handler may train for as long as the job allows; Flower's
            # own timeouts bound the message.
            sock.settimeout(None)
            send_frame(sock, FrameKind.REQUEST, encode_request(msg, context))
            kind, parts = receive_frame(sock)
    except OSError as e:
        raise DepartmentServiceError(
            f"department-service {service}: not answering ({e}); start it with "
            "`fedgov federation up` or `python -m department_nodes.service`"
        ) from e
    answer = decode_reply(kind, parts)
    if isinstance(answer, str):
        raise DepartmentServiceError(f"department-service {service}: {answer}")
    reply, state = answer
    context.state = state
    return reply


def service_answers(path: Path) -> bool:
    """Whether a department service accepts connections on the socket ``path``."""
    try:
        with (
            socket_address(path) as address,
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe,
        ):
            probe.settimeout(1.0)
            probe.connect(address)
    except OSError:
        return False
    return True


def _handle(msg: Message, context: Context) -> Message:
    service = context.node_config.get(NODE_SERVICE)
    if service:
        return relay(msg, context, Path(str(service)))
    # No service: the department's ClientApp in this process, imported only
    # now so that a node with a service never pays for torch here.
    full: ClientApp = importlib.import_module(_FULL_APP).app
    return full(message=msg, context=context)


app = ClientApp()


@app.train()
def _train(msg: Message, context: Context) -> Message:
    return _handle(msg, context)


@app.evaluate()
def _evaluate(msg: Message, context: Context) -> Message:
    return _handle(msg, context)


@app.query()
def _query(msg: Message, context: Context) -> Message:
    return _handle(msg, context)
