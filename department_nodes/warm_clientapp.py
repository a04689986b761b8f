"""A warm ``flwr-clientapp``: Flower's own, forked from a process that imported it once.

flwr 1.42's SuperExec starts ``flwr-clientapp`` (found on ``PATH``) for every
message a SuperNode receives; most of that process's second is spent
importing Flower. ``python -m department_nodes.warm_clientapp --socket PATH``
imports Flower's ``flwr-clientapp`` once and listens on a Unix socket
(mode 0600, its own user only). :func:`install_launcher` writes the
``flwr-clientapp`` a SuperNode's ``PATH`` finds first: a few lines of
standard library (:mod:`department_nodes._fork_client`) that hand their
arguments, working folder and standard streams to this server, which forks;
the child runs Flower's ``flwr-clientapp`` entry point with those arguments,
unchanged, and its exit status goes back as the launcher's. What the
message costs is then the fork, not the imports. A server that does not
answer leaves each message to Flower's own ``flwr-clientapp``.

This is what flwr 1.42's Kubernetes executor does with warm pods; its
subprocess executor has no such option. The server holds nothing of a
department: no records, no torch; each child is a fresh copy of a process
that only imported Flower, and handles one message (with a department
service, :mod:`department_nodes.relay_app` hands it on).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import stat
import struct
import sys
import threading
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from flwr.supernode.cli import flwr_clientapp

from department_nodes._fork_client import SOCKET_ENV, STATUS
from department_nodes._service_wire import socket_address
from fedgov.signals import StopSignal

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["SOCKET_ENV", "ForkServer", "install_launcher", "main"]

logger = logging.getLogger(__name__)

_ACCEPT_SECONDS = 0.05
_PEERCRED = struct.Struct("3i")
_LAUNCHER = """#!{python}
# fedgov: Flower's flwr-clientapp, forked from a warm process (department_nodes.warm_clientapp)
from department_nodes._fork_client import main

main({flower!r})
"""


def install_launcher(bin_dir: Path) -> Path:
    """Write the ``flwr-clientapp`` that asks the fork server, in ``bin_dir``.

    Put ``bin_dir`` first on the SuperNode's ``PATH`` and the server's socket
    in its ``FEDGOV_CLIENTAPP_FORKS``.
    """
    flower = Path(sys.executable).with_name("flwr-clientapp")
    bin_dir.mkdir(parents=True, exist_ok=True)
    launcher = bin_dir / "flwr-clientapp"
    launcher.write_text(
        _LAUNCHER.format(python=sys.executable, flower=str(flower)), encoding="utf-8"
    )
    launcher.chmod(0o755)
    return launcher


class ForkServer:
    """Forks one Flower ``flwr-clientapp`` per request on the socket at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).absolute()
        self.ready = threading.Event()
        self.forked = 0
        self._children: dict[int, socket.socket] = {}

    def serve(self, stop: StopSignal | threading.Event) -> None:
        """Serve until ``stop``; children still running are waited for."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(self.path.lstat().st_mode):
                self.path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            previous = os.umask(0o177)
            try:
                with socket_address(self.path) as address:
                    server.bind(address)
            finally:
                os.umask(previous)
            os.chmod(self.path, 0o600)
            server.listen(16)
            server.settimeout(_ACCEPT_SECONDS)
            self.ready.set()
            logger.info("warm flwr-clientapp listening on %s", self.path)
            while not _stopped(stop):
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    conn = None
                if conn is not None:
                    self._fork(server, conn)
                self._reap(block=False)
            while self._children:
                self._reap(block=True)
        finally:
            server.close()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def _fork(self, server: socket.socket, conn: socket.socket) -> None:
        _, uid, _ = _PEERCRED.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        )
        if uid != os.getuid():
            logger.warning("refused a connection from uid %d on %s", uid, self.path)
            conn.close()
            return
        try:
            conn.settimeout(10.0)
            data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
            request = json.loads(data)
            argv = [str(a) for a in request["argv"]]
            cwd = str(request["cwd"])
            if len(fds) != 3:
                raise ValueError(f"expected 3 descriptors, got {len(fds)}")
        except (OSError, ValueError, KeyError, TypeError) as e:
            logger.warning("unreadable request on %s: %s", self.path, e)
            conn.close()
            return
        # Nothing buffered here may be written twice, by the child too.
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(server, conn, fds, argv, cwd)
        for fd in fds:
            os.close(fd)
        self.forked += 1
        self._children[pid] = conn
        logger.info("flwr-clientapp %d forked (%d so far)", pid, self.forked)

    def _reap(self, *, block: bool) -> None:
        while self._children:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self._children.pop(pid, None)
            if conn is None:
                continue
            with contextlib.suppress(OSError):
                conn.sendall(STATUS.pack(os.waitstatus_to_exitcode(status)))
            conn.close()
            if block:
                return


def _child(
    server: socket.socket,
    conn: socket.socket,
    fds: list[int],
    argv: list[str],
    cwd: str,
) -> None:
    code = 1
    try:
        server.close()
        conn.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        os.chdir(cwd)
        sys.argv = ["flwr-clientapp", *argv]
        try:
            flwr_clientapp()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _stopped(stop: StopSignal | threading.Event) -> bool:
    if isinstance(stop, threading.Event):
        return stop.is_set()
    return stop.wait(0)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m department_nodes.warm_clientapp --socket PATH [--launcher-dir DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m department_nodes.warm_clientapp",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument(
        "--socket", required=True, type=Path, help="the socket to listen on"
    )
    parser.add_argument(
        "--launcher-dir",
        type=Path,
        help="write the flwr-clientapp launcher here first (put this folder "
        f"first on the SuperNode's PATH, the socket in its {SOCKET_ENV})",
    )
    args = parser.parse_args(argv)
    if args.launcher_dir is not None:
        install_launcher(args.launcher_dir)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", force=True
    )
    stop = StopSignal()
    ForkServer(args.socket).serve(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
