"""The ``flwr-clientapp`` a warm SuperNode's SuperExec starts: it asks the fork server.

Standard library only: this runs for every message, in a fresh interpreter.
It sends its arguments, working folder and standard streams to the warm
``flwr-clientapp`` fork server (:mod:`department_nodes.warm_clientapp`),
waits for the forked ``flwr-clientapp`` to end and exits with its status.
A fork server that does not answer leaves the message to Flower's own
``flwr-clientapp``, started as Flower would have.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys

SOCKET_ENV = "FEDGOV_CLIENTAPP_FORKS"
"""The fork server's socket, in the SuperNode's environment."""

STATUS = struct.Struct(">i")


def main(flower_clientapp: str) -> None:
    """Run ``sys.argv`` in a fork of the warm server; else exec ``flower_clientapp``."""
    path = os.environ.get(SOCKET_ENV, "")
    request = json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd()}).encode()
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        socket.send_fds(sock, [request], [0, 1, 2])
    except OSError:
        os.execv(flower_clientapp, [flower_clientapp, *sys.argv[1:]])
    status = b""
    while len(status) < STATUS.size:
        chunk = sock.recv(STATUS.size - len(status))
        if not chunk:
            sys.exit(70)  # the fork server went away: EX_SOFTWARE
        status += chunk
    sys.exit(STATUS.unpack(status)[0])
