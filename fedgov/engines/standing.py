"""A standing local federation: a SuperLink, SuperNodes and department services that stay up.

``fedgov federation up`` (:func:`federation_up`) starts, in the background,
what :class:`~fedgov.engines.deployment.DeploymentEngine` starts for one job
(real Flower: ``flower-superlink``, one SuperNode per department, each
department's service holding its ClientApp warm), and leaves them running.
Everything lives under ``$FEDGOV_HOME/federation/``::

    federation.json      what is running: address, pids, departments, state folder
    flwr-home/           FLWR_HOME of the SuperLink and the flwr CLI
    superlink.db         the SuperLink's state
    questions.sock       the coordinator's query service (mode 0600)
    nodes/<department>/  each SuperNode's FLWR_HOME
    logs/                superlink.log, supernode-<dept>.log, service-<dept>.log
    runs/<id>/           what a submitted job or a question left (its run_config, log, result)

Each department's service listens in the department's own state folder
(``<state>/departments/<dept>/service.sock``, mode 0600). ``up`` also
submits the coordinator's query run, which stays open and answers
``fedgov query`` on ``questions.sock`` (:mod:`coordinator.query_service`,
:mod:`fedgov.questions`); ``fedgov train`` submits a run of its own
(:func:`submit`: ``flwr run`` of this repository's Flower App to the
standing SuperLink) while it is up;
``fedgov federation down`` (:func:`federation_down`) stops every process it
started and every process those started; ``status`` (:func:`federation_status`)
checks each one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from coordinator.query_service import RUN_CONFIG_SERVICE
from coordinator.summary import round_from_json
from department_nodes.node import NODE_DATA_SOURCE, NODE_DECLARATION
from department_nodes.relay_app import NODE_SERVICE, SERVICE_SOCKET, service_answers
from fedgov.engines._deployment_federation import (
    LocalFederation,
    launch_federation,
    online_nodes,
    prepare_folder,
    safe_name,
)
from fedgov.engines._deployment_flower import (
    APP_DIR,
    flower_environment,
    health_ok,
    packed_into_app,
    run_command,
    write_run_config,
)
from fedgov.engines._deployment_processes import (
    DeploymentError,
    ProcessSupervisor,
    alive,
    free_port,
    tagged_processes,
)
from fedgov.engines.audit import prepare_job
from fedgov.errors import ConfigurationError
from fedgov.files import write_json_atomic
from fedgov.job import TrainJob
from fedgov.job_data import departments_for
from fedgov.notices import warn_once
from fedgov.polling import POLL_SECONDS
from fedgov.questions import (
    FEDERATION_FOLDER,
    FEDERATION_RECORD,
    QUESTIONS_SOCKET,
    federation_folder,
    ping,
    stop_service,
)
from fedgov.run_record import (
    RUN_RECORD_FILE,
    RunRecord,
    RunRecordError,
    read_run_record,
    run_dir_of,
)
from ledger.county_ledger import FROM_COUNTY, CountyLedger, resolve_ledger
from ledger.layout import department_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from coordinator.guard import RoundReport
    from fedgov.data import DepartmentSources
    from fedgov.engines._deployment_processes import ManagedProcess

__all__ = [
    "FEDERATION_FOLDER",
    "FederationStatus",
    "StandingEngine",
    "StandingFederation",
    "federation_down",
    "federation_status",
    "federation_up",
    "submit",
]

logger = logging.getLogger(__name__)

_GRACE_SECONDS = 10.0
QUERY_SERVICE = "query-service"
"""The standing query run's ``flwr run`` process, and its job's id."""


@dataclass(frozen=True)
class StandingFederation:
    """What ``fedgov federation up`` started, as recorded in ``federation.json``."""

    folder: str
    address: str
    port: int
    token: str
    dataset: str
    departments: tuple[str, ...]
    state_dir: str
    processes: dict[str, int]
    started_at: float

    @classmethod
    def find(cls, home: str | Path | None = None) -> StandingFederation | None:
        """The federation recorded in the county's home (``None``: none is up)."""
        path = federation_folder(home) / FEDERATION_RECORD
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise ConfigurationError(
                "federation", f"{path} is unreadable ({e}): `fedgov federation down`"
            ) from e
        try:
            return cls(
                folder=str(data["folder"]),
                address=str(data["address"]),
                port=int(data["port"]),
                token=str(data["token"]),
                dataset=str(data["dataset"]),
                departments=tuple(str(d) for d in data["departments"]),
                state_dir=str(data["state_dir"]),
                processes={str(k): int(v) for k, v in data["processes"].items()},
                started_at=float(data["started_at"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ConfigurationError(
                "federation", f"{path} is not a federation record ({e})"
            ) from e

    @property
    def path(self) -> Path:
        return Path(self.folder)

    def environment(self) -> dict[str, str]:
        """The environment of a ``flwr`` command against this federation."""
        return flower_environment(
            os.environ,
            flwr_home=self.path / "flwr-home",
            ray_tmpdir=self.path / "ray",
        )

    def service_socket(self, department: str) -> Path:
        return department_dir(self.state_dir, department) / SERVICE_SOCKET

    @property
    def questions_socket(self) -> Path:
        """Where the coordinator's query service answers ``fedgov query``."""
        return self.path / QUESTIONS_SOCKET


@dataclass(frozen=True)
class FederationStatus:
    """Each process of a standing federation checked: alive, answering."""

    federation: StandingFederation
    processes: dict[str, bool]
    superlink_healthy: bool
    nodes_online: int
    services_answering: dict[str, bool]
    query_service_answering: bool

    @property
    def healthy(self) -> bool:
        return (
            all(self.processes.values())
            and self.superlink_healthy
            and self.nodes_online >= len(self.federation.departments)
            and all(self.services_answering.values())
            and self.query_service_answering
        )


def federation_up(
    *,
    dataset: str,
    departments: Sequence[str],
    state_dir: Path,
    home: str | Path | None = None,
    sources: DepartmentSources | None = None,
    declaration: str = "",
    startup_timeout: float = 180.0,
) -> StandingFederation:
    """Start a standing federation of ``departments`` (of ``dataset``) and record it.

    Refuses while one is recorded (``fedgov federation down`` first). The
    processes outlive this call; on a failed start every one is stopped.
    """
    folder = federation_folder(home)
    if StandingFederation.find(home) is not None:
        raise ConfigurationError(
            "federation",
            f"a standing federation is recorded in {folder}: `fedgov federation "
            "status`, or `fedgov federation down` first",
        )
    if packed_into_app(APP_DIR, folder):
        raise ConfigurationError(
            "FEDGOV_HOME",
            f"{folder} is inside the Flower App {APP_DIR} and not in its .gitignore",
        )
    if not departments:
        raise ConfigurationError("departments", "name at least one department")
    warn_once(
        "standing-without-tls",
        "standing federation: SuperLink and SuperNodes talk WITHOUT TLS on "
        "127.0.0.1 (a local federation; never run a real one without TLS)",
    )
    state_dir = state_dir.resolve()
    nodes: dict[str, dict[str, str | int | float | bool]] = {}
    for department in departments:
        config: dict[str, str | int | float | bool] = {
            "department": department,
            "state-dir": str(state_dir),
            NODE_SERVICE: str(department_dir(state_dir, department) / SERVICE_SOCKET),
        }
        source = None if sources is None else sources.source_of(department)
        if source is not None:
            config[NODE_DATA_SOURCE] = source.spec
        if declaration:
            config[NODE_DECLARATION] = declaration
        nodes[department] = config
    started = time.monotonic()
    port = free_port()
    env = prepare_folder(folder, tls=None, poll_seconds=POLL_SECONDS, port=port)
    supervisor = ProcessSupervisor(
        token=secrets.token_hex(12), env=env, cwd=folder, log_dir=folder / "logs"
    )
    try:
        address = launch_federation(
            supervisor,
            folder,
            nodes,
            port=port,
            tls=None,
            deadline=started + startup_timeout,
            poll_seconds=POLL_SECONDS,
            preload=dataset,
        )
        _start_query_service(
            supervisor,
            folder,
            dataset=dataset,
            declaration=declaration,
            departments=departments,
            state_dir=state_dir,
            deadline=started + startup_timeout,
        )
    except BaseException:
        supervisor.stop()
        raise
    federation = StandingFederation(
        folder=str(folder),
        address=address,
        port=port,
        token=supervisor.token,
        dataset=dataset,
        departments=tuple(departments),
        state_dir=str(state_dir),
        processes={p.name: p.pid for p in supervisor.processes},
        started_at=time.time(),
    )
    write_json_atomic(folder / FEDERATION_RECORD, asdict(federation))
    logger.info(
        "standing federation on %s: %d departments up in %.1f s",
        address,
        len(departments),
        time.monotonic() - started,
    )
    return federation


def _start_query_service(
    supervisor: ProcessSupervisor,
    folder: Path,
    *,
    dataset: str,
    declaration: str,
    departments: Sequence[str],
    state_dir: Path,
    deadline: float,
) -> ManagedProcess:
    """Submit the standing query run and wait until its service answers."""
    job = TrainJob(
        job_id=QUERY_SERVICE,
        dataset=dataset,
        declaration=declaration,
        departments=",".join(departments),
        state_dir=str(state_dir),
        run_dir=str(folder / "runs"),
    )
    job = prepare_job(job, resolve_ledger(FROM_COUNTY) if job.audit else None)
    socket_path = folder / QUESTIONS_SOCKET
    run_dir = folder / "runs" / QUERY_SERVICE
    run_dir.mkdir(parents=True, exist_ok=True)
    config_file = write_run_config(
        run_dir / "run_config.toml",
        {**job.to_run_config(), RUN_CONFIG_SERVICE: str(socket_path)},
    )
    process = supervisor.start(
        QUERY_SERVICE, run_command(app_dir=APP_DIR, run_config=config_file)
    )
    while ping(socket_path, timeout=2.0) is None:
        if not process.running():
            raise process.exited_error("while starting the query service")
        if time.monotonic() > deadline:
            raise DeploymentError(
                f"the query service did not answer on {socket_path} in time",
                process=QUERY_SERVICE,
                log_tail=process.tail(40),
            )
        time.sleep(0.2)
    return process


def federation_down(home: str | Path | None = None) -> list[str]:
    """Stop the recorded federation's processes (and theirs); return what was running."""
    federation = StandingFederation.find(home)
    if federation is None:
        return []
    running = [name for name, pid in federation.processes.items() if alive(pid)]
    # The query run ends as completed: its service flushes nothing pending
    # (each question is anchored when answered), so this only tidies Flower's
    # account of the run.
    if stop_service(federation.questions_socket):
        pid = federation.processes.get(QUERY_SERVICE)
        deadline = time.monotonic() + _GRACE_SECONDS
        while pid is not None and alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    groups = list(federation.processes.values())
    _signal(groups, signal.SIGTERM)
    deadline = time.monotonic() + _GRACE_SECONDS
    while time.monotonic() < deadline and any(alive(pid) for pid in groups):
        time.sleep(0.1)
    _signal(groups, signal.SIGKILL)
    # What the SuperLink and SuperNodes started (SuperExecs, ServerApp and
    # ClientApp processes) carries the federation's token.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in tagged_processes(federation.token):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and tagged_processes(federation.token):
            time.sleep(0.1)
    for department in federation.departments:
        with contextlib.suppress(FileNotFoundError):
            socket_path = federation.service_socket(department)
            if not service_answers(socket_path):
                socket_path.unlink()
    (federation.path / FEDERATION_RECORD).unlink(missing_ok=True)
    return running


def _signal(groups: list[int], sig: signal.Signals) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def federation_status(home: str | Path | None = None) -> FederationStatus | None:
    """The recorded federation, each process checked (``None``: none is recorded)."""
    federation = StandingFederation.find(home)
    if federation is None:
        return None
    healthy = health_ok(federation.port, tls=None)
    return FederationStatus(
        federation=federation,
        processes={name: alive(pid) for name, pid in federation.processes.items()},
        superlink_healthy=healthy,
        nodes_online=online_nodes(federation.environment(), federation.path)
        if healthy
        else 0,
        services_answering={
            d: service_answers(federation.service_socket(d))
            for d in federation.departments
        },
        query_service_answering=ping(federation.questions_socket) is not None,
    )


def submit(
    federation: StandingFederation,
    run_config: Mapping[str, bool | int | float | str],
    *,
    run_id: str,
    timeout: float,
    run_dir: Path | None = None,
) -> Path:
    """``flwr run`` this repository's Flower App on ``federation`` with ``run_config``.

    Waits for the run's end and returns its folder, the job's ``run-dir``
    (default ``runs/<run_id>/`` of the federation's folder): its
    ``run_config.toml``, ``logs/flwr-run.log``, ``flwr-run.json`` (Flower's
    account of the run), and what the ServerApp wrote there.
    """
    if not health_ok(federation.port, tls=None):
        raise DeploymentError(
            f"the standing federation's SuperLink ({federation.address}) does not "
            "answer: `fedgov federation status`, then `fedgov federation down` "
            "and `up` again"
        )
    run_dir = (run_dir or federation.path / "runs" / safe_name(run_id)).resolve()
    if packed_into_app(APP_DIR, run_dir):
        raise ConfigurationError(
            "run_dir",
            f"{run_dir} is inside the Flower App {APP_DIR}: `flwr run` would pack it",
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    config_file = write_run_config(
        run_dir / "run_config.toml", {**run_config, "run-dir": str(run_dir)}
    )
    with ProcessSupervisor(
        token=secrets.token_hex(12),
        env=federation.environment(),
        cwd=federation.path,
        log_dir=run_dir / "logs",
    ) as supervisor:
        flower = LocalFederation(
            supervisor=supervisor,
            address=federation.address,
            departments=federation.departments,
            startup_seconds=0.0,
        )
        flower_run = flower.run_app(
            app_dir=APP_DIR, run_config=config_file, timeout=timeout
        )
        info = flower.run_info(flower_run)
    write_json_atomic(run_dir / "flwr-run.json", info)
    status = str(info.get("status", ""))
    if status != "finished:completed":
        raise DeploymentError(
            f"run {flower_run} ({run_id}) ended with status {status or 'unknown'!r}",
            process="flwr-run",
            log_tail=(run_dir / "logs" / "flwr-run.log").read_text(
                encoding="utf-8", errors="replace"
            )[-4000:],
        )
    return run_dir


class StandingEngine:
    """Runs training jobs on a standing federation (the engine ``fedgov train``
    uses while one is up): ``flwr run`` to its SuperLink, the run record read
    back from the job's run folder."""

    def __init__(
        self, federation: StandingFederation, *, timeout: float = 3600.0
    ) -> None:
        self.federation = federation
        self.timeout = timeout

    def run(
        self,
        job: TrainJob,
        *,
        on_round: Callable[[RoundReport], None] | None = None,
        sources: DepartmentSources | None = None,
    ) -> RunRecord:
        """Run ``job`` on the federation's departments; return its run record.

        ``on_round`` sees every round from the record once the run is over.
        Refused when ``job`` needs other departments or records than the
        federation's (``sources`` are those given to ``fedgov federation up``).
        """
        federation = self.federation
        if sources is not None:
            raise ConfigurationError(
                "sources", "the standing federation's departments read their own"
            )
        if job.dataset != federation.dataset:
            raise ConfigurationError(
                "dataset",
                f"the standing federation's departments hold {federation.dataset!r}, "
                f"not {job.dataset!r}",
            )
        if not job.departments and job.partition == "natural":
            job = replace(job, departments=",".join(federation.departments))
        wanted = departments_for(job)
        if sorted(wanted) != sorted(federation.departments):
            raise ConfigurationError(
                "departments",
                f"the job trains {', '.join(wanted)}; the standing federation "
                f"serves {', '.join(federation.departments)}",
            )
        run_dir = run_dir_of(job).resolve()
        job = replace(job, run_dir=str(run_dir), state_dir=federation.state_dir)
        job = prepare_job(job, CountyLedger.find() if job.audit else None)
        launched_at = time.time()
        submit(
            federation,
            job.to_run_config(),
            run_id=job.job_id,
            timeout=self.timeout,
            run_dir=run_dir,
        )
        try:
            record = read_run_record(run_dir / RUN_RECORD_FILE)
        except RunRecordError as e:
            raise DeploymentError(str(e)) from e
        if record.started_at < launched_at - 1.0:
            raise DeploymentError(
                f"{run_dir / RUN_RECORD_FILE} is from an earlier run: the ServerApp "
                "wrote no new record"
            )
        if on_round is not None:
            for data in record.rounds:
                on_round(round_from_json(data))
        return record
