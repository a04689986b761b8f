"""A local federation: one SuperLink and one SuperNode per department, ready to run.

:func:`start_federation` lays out the run folder, starts the processes,
waits until the SuperLink answers and every SuperNode has registered, and
stops everything when its block ends. Each department whose node config
names a ``department-service`` socket gets that service started first
(:mod:`department_nodes.service`): its SuperNode's per-message ClientApp
processes hand their messages to it. :class:`LocalFederation` runs a Flower
App on it with ``flwr run`` and follows the run's streamed log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from department_nodes.node import NODE_DATA_SOURCE, NODE_DECLARATION
from department_nodes.relay_app import NODE_SERVICE, service_answers
from department_nodes.warm_clientapp import SOCKET_ENV as FORKS_ENV
from department_nodes.warm_clientapp import install_launcher
from fedgov.engines._deployment_flower import (
    flower_environment,
    health_ok,
    online_node_count,
    parse_run_id,
    run_command,
    run_entry,
    run_list_command,
    superlink_command,
    supernode_command,
    supernode_list_command,
    write_flower_config,
)
from fedgov.engines._deployment_processes import (
    DeploymentError,
    ManagedProcess,
    ProcessSupervisor,
    free_port,
)
from fedgov.files import private_dir
from fedgov.polling import POLL_SECONDS

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from fedgov.engines._deployment_flower import TlsFiles

__all__ = [
    "LocalFederation",
    "launch_federation",
    "online_nodes",
    "prepare_folder",
    "safe_name",
    "service_command",
    "start_department_services",
    "start_federation",
]

logger = logging.getLogger(__name__)

SUPERNODE_PREFIX = "supernode-"
"""A SuperNode's process (and log) name: ``supernode-<department>``."""
_SERVICE_PREFIX = "service-"
_CLIENTAPP_PREFIX = "clientapp-"
_DEPARTMENT_PREFIXES = (SUPERNODE_PREFIX, _SERVICE_PREFIX, _CLIENTAPP_PREFIX)
"""Processes that stand for one department: losing one loses that department."""
stream_logger = logging.getLogger("fedgov.engines.deployment.stream")

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_POLL_SECONDS = 0.5
_SERVICE_POLL_SECONDS = 0.1
_CLI_TIMEOUT_SECONDS = 60.0


def safe_name(name: str) -> str:
    """``name`` usable as a file name (departments name log files and folders)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


class _LogFollower:
    """Hands out the complete lines appended to a log file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def new_lines(self) -> list[str]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            return []
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        return [_ANSI.sub("", raw.decode("utf-8", "replace")).rstrip() for raw in lines]


@dataclass(frozen=True)
class LocalFederation:
    """The processes of a started federation and how to reach its SuperLink."""

    supervisor: ProcessSupervisor
    address: str
    departments: tuple[str, ...]
    startup_seconds: float

    def flwr(self, argv: list[str]) -> str:
        """Output of a short ``flwr`` CLI call against this SuperLink."""
        return _flwr_cli(self.supervisor, argv)

    def run_app(self, *, app_dir: Path, run_config: Path, timeout: float) -> int:
        """``flwr run`` the app in ``app_dir`` to its end; return the run id.

        Every line of the run's log goes to the ``fedgov.engines.deployment.stream``
        logger as it arrives. Raises :class:`DeploymentError` when ``flwr run``
        fails, the SuperLink exits meanwhile, or ``timeout`` passes. A SuperNode
        that exits is a department lost, as on its own machine: logged, and the
        ServerApp goes on without it while ``min-departments`` hold.
        """
        flwr_run = self.supervisor.start(
            "flwr-run", run_command(app_dir=app_dir, run_config=run_config)
        )
        follower = _LogFollower(flwr_run.log_path)
        deadline = time.monotonic() + timeout
        run_id: int | None = None
        lost: set[str] = set()
        while True:
            finished = not flwr_run.running()
            for line in follower.new_lines():
                if line:
                    stream_logger.info("%s", line)
                run_id = run_id if run_id is not None else parse_run_id(line)
            if finished:
                break
            for process in self.supervisor.processes:
                if process is flwr_run or process.running() or process.name in lost:
                    continue
                if not process.name.startswith(_DEPARTMENT_PREFIXES):
                    raise process.exited_error("during the run")
                lost.add(process.name)
                logger.warning(
                    "%s (pid %d) exited with code %s during the run; the run goes on "
                    "without it while min-departments hold. Its log ends:\n%s",
                    process.name,
                    process.pid,
                    process.popen.returncode,
                    process.tail(10),
                )
            if time.monotonic() > deadline:
                raise DeploymentError(
                    f"the run did not finish within {timeout} s",
                    process="flwr-run",
                    log_tail=flwr_run.tail(),
                )
            time.sleep(_POLL_SECONDS)
        if flwr_run.popen.returncode != 0 or run_id is None:
            # flwr run ends when the SuperLink dies under it: name the cause.
            for process in self.supervisor.processes:
                if (
                    process is not flwr_run
                    and not process.running()
                    and not process.name.startswith(_DEPARTMENT_PREFIXES)
                ):
                    raise process.exited_error("during the run")
            raise flwr_run.exited_error("before the run finished")
        return run_id

    def run_info(self, run_id: int) -> dict[str, object]:
        """The SuperLink's account of a run (see ``run_entry``)."""
        return run_entry(self.flwr(run_list_command(run_id)))


def _flwr_cli(supervisor: ProcessSupervisor, argv: list[str]) -> str:
    return _flwr_output(argv, env=supervisor.env, cwd=supervisor.cwd)


def online_nodes(env: Mapping[str, str], cwd: Path) -> int:
    """How many SuperNodes the SuperLink of ``env``'s ``FLWR_HOME`` counts online."""
    return online_node_count(_flwr_output(supernode_list_command(), env=env, cwd=cwd))


def _flwr_output(argv: list[str], *, env: Mapping[str, str], cwd: Path) -> str:
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            timeout=_CLI_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DeploymentError(
            f"`{' '.join(argv)}` did not answer within {_CLI_TIMEOUT_SECONDS} s"
        ) from exc
    return done.stdout.decode("utf-8", "replace")


def _wait_for_superlink(
    superlink: ManagedProcess, port: int, tls: TlsFiles | None, deadline: float
) -> None:
    while not health_ok(port, tls=tls):
        if not superlink.running():
            raise superlink.exited_error("while starting")
        if time.monotonic() > deadline:
            raise DeploymentError(
                f"the SuperLink did not answer on 127.0.0.1:{port} in time",
                process="superlink",
                log_tail=superlink.tail(),
            )
        time.sleep(_POLL_SECONDS)


def service_command(path: Path, *, preload: str | None = None) -> list[str]:
    """The department service listening on ``path``, in this interpreter, reading
    the built-in dataset ``preload``'s records at start."""
    command = [sys.executable, "-m", "department_nodes.service", "--socket", str(path)]
    return command if preload is None else [*command, "--preload", preload]


def start_department_services(
    supervisor: ProcessSupervisor,
    nodes: Mapping[str, Mapping[str, str | int | float | bool]],
    deadline: float,
    *,
    preload: str | None = None,
) -> list[ManagedProcess]:
    """Start the service each node config names; wait until every one listens.

    ``preload``: the built-in dataset the services will serve, read at start
    by each department that neither has its own source nor declaration.
    """
    started: list[tuple[ManagedProcess, Path]] = []
    for department, node_config in nodes.items():
        path = node_config.get(NODE_SERVICE)
        if not path:
            continue
        socket_path = Path(str(path))
        own = NODE_DATA_SOURCE in node_config or NODE_DECLARATION in node_config
        process = supervisor.start(
            f"{_SERVICE_PREFIX}{safe_name(department)}",
            service_command(socket_path, preload=None if own else preload),
        )
        started.append((process, socket_path))
    for process, socket_path in started:
        while not service_answers(socket_path):
            if not process.running():
                raise process.exited_error("while starting")
            if time.monotonic() > deadline:
                raise DeploymentError(
                    f"the department service did not listen on {socket_path} in time",
                    process=process.name,
                    log_tail=process.tail(),
                )
            time.sleep(_SERVICE_POLL_SECONDS)
    return [process for process, _ in started]


def _wait_for_nodes(
    supervisor: ProcessSupervisor, expected: int, deadline: float
) -> None:
    while True:
        supervisor.check_running(what="while SuperNodes were registering")
        online = online_node_count(_flwr_cli(supervisor, supernode_list_command()))
        if online >= expected:
            return
        if time.monotonic() > deadline:
            tails = "\n".join(
                f"[{p.name}]\n{p.tail(10)}"
                for p in supervisor.processes
                if p.name.startswith(SUPERNODE_PREFIX)
            )
            raise DeploymentError(
                f"{online} of {expected} SuperNodes registered in time",
                process="supernodes",
                log_tail=tails,
            )
        time.sleep(_POLL_SECONDS)


def prepare_folder(
    run_dir: Path,
    *,
    tls: TlsFiles | None,
    poll_seconds: float | None,
    port: int,
) -> dict[str, str]:
    """Lay out ``run_dir`` for a federation whose SuperLink listens on ``port``;
    return the environment of its processes."""
    flwr_home = run_dir / "flwr-home"
    # An earlier launch in this folder left runs and nodes that are gone.
    (run_dir / "superlink.db").unlink(missing_ok=True)
    for stale in (run_dir / "logs", run_dir / "nodes"):
        shutil.rmtree(stale, ignore_errors=True)
    private_dir(run_dir)
    write_flower_config(flwr_home, address=f"127.0.0.1:{port}", tls=tls)
    return flower_environment(
        os.environ,
        flwr_home=flwr_home,
        ray_tmpdir=run_dir / "ray",
        poll_seconds=poll_seconds,
    )


def launch_federation(
    supervisor: ProcessSupervisor,
    run_dir: Path,
    nodes: Mapping[str, Mapping[str, str | int | float | bool]],
    *,
    port: int,
    tls: TlsFiles | None,
    deadline: float,
    poll_seconds: float | None,
    preload: str | None = None,
) -> str:
    """Start the SuperLink on ``port``, the department services, a SuperNode
    per ``nodes`` entry; wait until all answer; return the SuperLink's address.
    ``preload``: the built-in dataset the services read at start."""
    address = f"127.0.0.1:{port}"
    superlink = supervisor.start(
        "superlink",
        superlink_command(port=port, database=run_dir / "superlink.db", tls=tls),
    )
    # The services import torch while the SuperLink starts.
    start_department_services(supervisor, nodes, deadline, preload=preload)
    _wait_for_superlink(superlink, port, tls, deadline)
    node_envs = {}
    for department in nodes:
        node_dir = run_dir / "nodes" / safe_name(department)
        env = {"FLWR_HOME": str(node_dir)}
        if poll_seconds is not None:
            env.update(_warm_clientapp(supervisor, node_dir, department))
        node_envs[department] = env
    for department, node_config in nodes.items():
        supervisor.start(
            f"{SUPERNODE_PREFIX}{safe_name(department)}",
            supernode_command(
                superlink_address=address,
                port=free_port(),
                node_config=node_config,
                tls=tls,
                prompt=poll_seconds is not None,
            ),
            env=node_envs[department],
        )
    _wait_for_nodes(supervisor, len(nodes), deadline)
    return address


def _warm_clientapp(
    supervisor: ProcessSupervisor, node_dir: Path, department: str
) -> dict[str, str]:
    """Start ``department``'s warm ``flwr-clientapp`` fork server; the SuperNode's
    environment that makes its SuperExec use it."""
    socket_path = node_dir / "clientapp.sock"
    env = {"FLWR_HOME": str(node_dir)}
    supervisor.start(
        f"{_CLIENTAPP_PREFIX}{safe_name(department)}",
        [
            sys.executable,
            "-m",
            "department_nodes.warm_clientapp",
            "--socket",
            str(socket_path),
        ],
        env=env,
    )
    launcher = install_launcher(node_dir / "bin")
    path = supervisor.env.get("PATH", "")
    return {
        **env,
        "PATH": os.pathsep.join([str(launcher.parent), *([path] if path else [])]),
        FORKS_ENV: str(socket_path),
    }


@contextlib.contextmanager
def start_federation(
    run_dir: Path,
    nodes: Mapping[str, Mapping[str, str | int | float | bool]],
    *,
    tls: TlsFiles | None,
    startup_timeout: float,
    poll_seconds: float | None = POLL_SECONDS,
    preload: str | None = None,
) -> Iterator[LocalFederation]:
    """Start a SuperLink, and a SuperNode per ``nodes`` entry (department: node config).

    Layout under ``run_dir``: ``flwr-home/`` (FLWR_HOME of the SuperLink and
    the flwr CLI, with the connection in ``config.toml``), ``superlink.db``,
    ``nodes/<department>/`` (each SuperNode's FLWR_HOME, as on its own
    machine) and ``logs/<process>.log``. Everything started is stopped when
    the block ends, however it ends. ``poll_seconds`` is how often the
    SuperExecs, the SuperNodes and the coordinator's Grid poll
    (:mod:`fedgov.polling`); ``None``: Flower's own pace, ``flower-supernode``
    itself. ``preload``: the built-in dataset the department services read
    while the SuperLink starts.
    """
    started = time.monotonic()
    port = free_port()
    env = prepare_folder(run_dir, tls=tls, poll_seconds=poll_seconds, port=port)
    with ProcessSupervisor(
        token=secrets.token_hex(12), env=env, cwd=run_dir, log_dir=run_dir / "logs"
    ) as supervisor:
        address = launch_federation(
            supervisor,
            run_dir,
            nodes,
            port=port,
            tls=tls,
            deadline=started + startup_timeout,
            poll_seconds=poll_seconds,
            preload=preload,
        )
        federation = LocalFederation(
            supervisor=supervisor,
            address=address,
            departments=tuple(nodes),
            startup_seconds=time.monotonic() - started,
        )
        logger.info(
            "SuperLink on %s, %d SuperNodes registered in %.1f s",
            address,
            len(nodes),
            federation.startup_seconds,
        )
        yield federation
