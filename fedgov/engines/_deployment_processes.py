"""The processes of a local deployment: started tagged, stopped without orphans.

Flower's processes start processes of their own. The SuperLink starts a
SuperExec in a new session (detached); each SuperNode starts a SuperExec; the
SuperExecs start one ``flwr-serverapp`` per run and one ``flwr-clientapp``
per message. Signalling the process groups of the processes fedgov started
does not reach all of them: the SuperLink's SuperExec lives in another
session, and a process whose parent died is re-parented to init, out of any
tree we could walk. So every process started here gets an environment
variable holding a token unique to the deployment; Flower passes the
environment on unchanged, and :meth:`ProcessSupervisor.stop` finishes by
sweeping ``/proc`` for every live process that carries the token.

On systems without ``/proc`` the sweep finds nothing and only the process
groups are signalled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fedgov.errors import FedgovError
from fedgov.files import private_file

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import TracebackType

__all__ = [
    "TOKEN_ENV",
    "DeploymentError",
    "ManagedProcess",
    "ProcessSupervisor",
    "alive",
    "free_port",
    "log_tail",
    "tagged_processes",
]

logger = logging.getLogger(__name__)

TOKEN_ENV = "FEDGOV_DEPLOYMENT_TOKEN"
_PROC = Path("/proc")


class DeploymentError(FedgovError):
    """A deployment could not start, failed while running, or ended without a result.

    ``process`` names the process at fault (``superlink``, ``supernode-<dept>``,
    ``flwr-run``) when there is one, and ``log_tail`` holds the end of its log.
    """

    def __init__(self, message: str, *, process: str = "", log_tail: str = "") -> None:
        self.process = process
        self.log_tail = log_tail
        text = message
        if log_tail:
            text += (
                f"\n--- last lines of the {process or 'process'} log ---\n{log_tail}"
            )
        super().__init__(text)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free now (the OS picks it; another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' when there is none)."""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not; Linux's ``/proc``)."""
    # A zombie has exited; only its parent's wait() is missing, and when the
    # parent is an init that never reaps (some containers), it stays forever.
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split(" ", 1)[0] not in ("Z", "X")


def tagged_processes(token: str) -> list[int]:
    """Live processes whose environment carries ``TOKEN_ENV=token`` (Linux only)."""
    needle = f"{TOKEN_ENV}={token}".encode()
    found: list[int] = []
    if not _PROC.is_dir():
        return found
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or another user's process
            continue
        if needle in environ.split(b"\0") and alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


@dataclass(frozen=True)
class ManagedProcess:
    """A process started by a :class:`ProcessSupervisor`, its output in ``log_path``."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def exited_error(self, what: str) -> DeploymentError:
        """The error to raise when this process ended although it should not have."""
        return DeploymentError(
            f"{self.name} (pid {self.pid}) exited with code {self.popen.returncode} "
            f"{what}; its log is {self.log_path}",
            process=self.name,
            log_tail=self.tail(),
        )


class ProcessSupervisor:
    """Starts tagged processes and stops all of them and their descendants.

    Use it as a context manager: leaving the block (also by an exception or
    ``KeyboardInterrupt``) stops every process, then sweeps for stragglers.
    """

    def __init__(
        self,
        *,
        token: str,
        env: Mapping[str, str],
        cwd: Path,
        log_dir: Path,
        grace_seconds: float = 10.0,
    ) -> None:
        if not token:
            raise ValueError("token must be non-empty")
        self.token = token
        self.env = {**env, TOKEN_ENV: token}
        self.cwd = cwd
        self.log_dir = log_dir
        self.grace_seconds = grace_seconds
        self.processes: list[ManagedProcess] = []

    def start(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> ManagedProcess:
        """Start ``argv`` in a session of its own, stdout and stderr to ``<name>.log``.

        ``env`` adds to (or overrides) the supervisor's environment.
        """
        log_path = private_file(self.log_dir / f"{name}.log")
        with log_path.open("ab") as log_file:
            popen = subprocess.Popen(
                list(argv),
                cwd=self.cwd,
                env={**self.env, **(env or {}), TOKEN_ENV: self.token},
                stdin=subprocess.DEVNULL,
                # What Flower writes (superlink.db, its state) is the
                # operator's alone, as fedgov's own files are.
                umask=0o077,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                # A session (and process group) per process, so a signal to the
                # group reaches what it starts without reaching this process.
                start_new_session=True,
            )
        process = ManagedProcess(name=name, popen=popen, log_path=log_path)
        self.processes.append(process)
        logger.debug("started %s (pid %d): %s", name, popen.pid, " ".join(argv))
        return process

    def check_running(self, *, what: str = "") -> None:
        """Raise :class:`DeploymentError` if any process started here has exited."""
        for process in self.processes:
            if process.popen.poll() is not None:
                raise process.exited_error(what or "while the deployment was running")

    def stop(self) -> list[int]:
        """Stop every process started and every tagged descendant; return those killed.

        SIGTERM to each process group first (Flower shuts down cleanly on it),
        SIGKILL to what is left after ``grace_seconds``, then the same for
        tagged processes outside those groups.
        """
        groups = [p.pid for p in self.processes if p.popen.poll() is None]
        self._signal_groups(groups, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        self._signal_groups(groups, signal.SIGKILL)
        for process in self.processes:
            process.popen.wait()
        killed = self._sweep(signal.SIGTERM, wait=min(self.grace_seconds, 5.0))
        killed += self._sweep(signal.SIGKILL, wait=2.0)
        left = tagged_processes(self.token)
        if left:
            logger.error("processes %s of this deployment survived SIGKILL", left)
        return killed

    def _signal_groups(self, groups: list[int], sig: signal.Signals) -> None:
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)

    def _sweep(self, sig: signal.Signals, *, wait: float) -> list[int]:
        pids = tagged_processes(self.token)
        for pid in pids:
            logger.warning(
                "stopping leftover process %d of this deployment (%s)", pid, sig.name
            )
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline and tagged_processes(self.token):
            time.sleep(0.1)
        return pids

    def __enter__(self) -> ProcessSupervisor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
