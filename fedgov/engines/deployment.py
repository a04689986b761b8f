"""The deployment engine: a real SuperLink and one SuperNode process per department.

:class:`DeploymentEngine` runs a job the way a county runs it across
machines, but on this one: ``flower-superlink`` on 127.0.0.1, one
``flower-supernode`` per department (told its department, state folder and,
for a dataset of the county's own, its ``data-source`` and
``dataset-declaration`` through ``--node-config``, as a department's own
machine would be), then ``flwr run`` of this repository's Flower App
(the ``[tool.flwr.app]`` of ``pyproject.toml``) with the job as its
run_config. Everything lives in the job's run folder::

    <run_dir>/flwr-home/         FLWR_HOME of the SuperLink and the flwr CLI
    <run_dir>/nodes/<dept>/      FLWR_HOME of each SuperNode (its installed apps)
    <run_dir>/superlink.db       the SuperLink's state
    <run_dir>/run_config.toml    the job's run_config
    <run_dir>/logs/*.log         superlink, supernode-<dept>, flwr-run (the run's log)
    <run_dir>/run_record.json    written by the ServerApp; returned by run()

Every process started, and every process they start, is stopped when
:meth:`DeploymentEngine.run` returns or raises (see
:mod:`fedgov.engines._deployment_processes`). ``fedgov deploy``
(:mod:`fedgov.commands.deploy`) is the command line. See ``docs/deployment.md`` for a real multi-machine deployment.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from coordinator.guard import RoundReport
from coordinator.summary import round_from_json
from department_nodes.access import AccessSettings, RpcRoles, warn_if_open
from department_nodes.node import NODE_DATA_SOURCE, NODE_DECLARATION
from department_nodes.relay_app import NODE_SERVICE, SERVICE_SOCKET
from fedgov.county import default_state_dir
from fedgov.data import DepartmentSources, Source
from fedgov.engines._deployment_federation import safe_name, start_federation
from fedgov.engines._deployment_flower import (
    APP_DIR,
    TlsFiles,
    packed_into_app,
    write_run_config,
)
from fedgov.engines._deployment_processes import DeploymentError, log_tail
from fedgov.engines.audit import prepare_job
from fedgov.engines.base import job_with_sources
from fedgov.errors import ConfigurationError
from fedgov.files import write_json_atomic
from fedgov.job import TrainJob
from fedgov.job_data import departments_for
from fedgov.notices import warn_once
from fedgov.polling import POLL_SECONDS
from fedgov.run_record import (
    RUN_RECORD_FILE,
    RunRecord,
    RunRecordError,
    read_run_record,
    run_dir_of,
)
from ledger.county_ledger import CountyLedger

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DeploymentEngine", "DeploymentError", "TlsFiles"]

logger = logging.getLogger(__name__)


class DeploymentEngine:
    """Runs jobs on a local SuperLink and one local SuperNode per department.

    ``startup_timeout`` bounds the SuperLink start and the SuperNodes'
    registration, ``run_timeout`` the ``flwr run`` itself (seconds).
    ``state_dir`` is where departments keep durable state such as privacy
    budget books (default: the job's ``state_dir``, else ``$FEDGOV_HOME``
    or ``~/.fedgov``). Without ``tls`` every connection is plaintext on
    127.0.0.1, which is fine on one machine and wrong across machines.
    ``allow_non_private`` lets departments train without DP (baselines only).
    ``app_dir`` is the Flower App (default: this repository). ``roles`` is
    the county's Roles contract, named in each department's node
    configuration (``access-chain-id``, ``access-roles``, ``access-rpc``) so
    that the departments check analysts' signed requests against it.

    ``department_services`` starts a department service per department
    (:mod:`department_nodes.service`, its socket in ``nodes/<dept>/``) that
    the SuperNode's per-message ClientApp processes hand their messages to;
    ``False``: each message runs the whole ClientApp in its own fresh
    process. ``poll_seconds`` is how often the SuperExecs, SuperNodes and
    the coordinator's Grid poll (:mod:`fedgov.polling`), each SuperNode's
    ``flwr-clientapp`` then forked from a warm process
    (:mod:`department_nodes.warm_clientapp`); ``None``: Flower's own pace
    (3 s and 1 s) and Flower's own ``flwr-clientapp`` process per message.
    """

    def __init__(
        self,
        *,
        startup_timeout: float = 120.0,
        run_timeout: float = 3600.0,
        state_dir: str | None = None,
        tls: TlsFiles | None = None,
        allow_non_private: bool = False,
        app_dir: str | None = None,
        roles: RpcRoles | None = None,
        department_services: bool = True,
        poll_seconds: float | None = POLL_SECONDS,
    ) -> None:
        if not startup_timeout > 0:
            raise ConfigurationError(
                "startup_timeout", f"must be positive, got {startup_timeout}"
            )
        if not run_timeout > 0:
            raise ConfigurationError(
                "run_timeout", f"must be positive, got {run_timeout}"
            )
        self.app_dir = Path(app_dir).resolve() if app_dir else APP_DIR
        if not (self.app_dir / "pyproject.toml").is_file():
            raise ConfigurationError(
                "app_dir",
                f"{self.app_dir} has no pyproject.toml: it is not a Flower App",
            )
        self.startup_timeout = startup_timeout
        self.run_timeout = run_timeout
        self.state_dir = state_dir
        self.tls = tls
        self.allow_non_private = allow_non_private
        self.roles = roles
        self.department_services = department_services
        self.poll_seconds = poll_seconds
        if tls is None:
            text = (
                "deployment engine: SuperLink and SuperNodes talk WITHOUT TLS on "
                "127.0.0.1 (a local launcher; never run a real federation without TLS)"
            )
            warn_once("deployment-without-tls", text)
        if allow_non_private:
            text = "deployment engine allows NON-PRIVATE training: for baselines only"
            warn_once("deployment-non-private", text)

    def run(
        self,
        job: TrainJob,
        *,
        on_round: Callable[[RoundReport], None] | None = None,
        sources: DepartmentSources | None = None,
    ) -> RunRecord:
        """Run ``job`` on fresh processes; return its run record.

        ``sources`` become each department's own ``data-source``; a dataset
        declared in a file is named by each department's
        ``dataset-declaration`` (here: the operator's file, which on
        separate machines is each department's own copy).

        The coordinator runs in another process, so ``on_round`` cannot see
        rounds as they end: progress is the run's streamed log (logged under
        ``fedgov.engines.deployment.stream`` and kept in ``logs/flwr-run.log``),
        and ``on_round`` is called for each round from the record once the
        run is over. The processes find the county at ``$FEDGOV_HOME``, as
        this one does: the ServerApp anchors on its chain.
        """
        run_dir = run_dir_of(job)
        if packed_into_app(self.app_dir, run_dir):
            raise ConfigurationError(
                "run_dir",
                f"{run_dir} is inside the Flower App {self.app_dir} and not in its "
                ".gitignore: `flwr run` would pack the run folder (installed apps, "
                "logs) into the app bundle; use runs/<job-id> or a folder outside",
            )
        # The ServerApp runs with another working directory: give it an absolute path.
        job = dataclasses.replace(job, run_dir=str(run_dir))
        state_dir = Path(
            self.state_dir or job.state_dir or default_state_dir()
        ).resolve()
        job = job_with_sources(job, sources)
        job = prepare_job(
            dataclasses.replace(job, state_dir=str(state_dir)),
            CountyLedger.find() if job.audit else None,
        )
        departments = departments_for(job)
        record_path = run_dir / RUN_RECORD_FILE
        nodes = {
            d: self._node_config(
                d,
                state_dir,
                source=None if sources is None else sources.source_of(d),
                declaration=job.declaration,
                service=(
                    run_dir / "nodes" / safe_name(d) / SERVICE_SOCKET
                    if self.department_services
                    else None
                ),
            )
            for d in departments
        }
        # Said here, once: the SuperNodes' ClientApp processes inherit it as said.
        for name, config in nodes.items():
            warn_if_open(
                AccessSettings.resolve(config, state_dir=state_dir, department=name)
            )
        launched_at = time.time()
        with start_federation(
            run_dir,
            nodes,
            tls=self.tls,
            startup_timeout=self.startup_timeout,
            poll_seconds=self.poll_seconds,
            preload=job.dataset,
        ) as federation:
            run_config = write_run_config(
                run_dir / "run_config.toml", job.to_run_config()
            )
            logger.info("running job %r on %s", job.job_id, ", ".join(departments))
            run_id = federation.run_app(
                app_dir=self.app_dir, run_config=run_config, timeout=self.run_timeout
            )
            info = federation.run_info(run_id)
        write_json_atomic(run_dir / "flwr-run.json", info)
        status = str(info.get("status", ""))
        if status != "finished:completed":
            raise DeploymentError(
                f"run {run_id} of job {job.job_id!r} ended with status "
                f"{status or 'unknown'!r}",
                process="flwr-run",
                log_tail=log_tail(run_dir / "logs" / "flwr-run.log"),
            )
        if not record_path.is_file():
            raise DeploymentError(
                f"run of job {job.job_id!r} finished without writing {record_path}",
                process="flwr-run",
                log_tail=log_tail(run_dir / "logs" / "flwr-run.log"),
            )
        try:
            record = read_run_record(record_path)
        except RunRecordError as e:
            raise DeploymentError(str(e)) from e
        if record.started_at < launched_at - 1.0:
            raise DeploymentError(
                f"{record_path} is from an earlier run (started "
                f"{record.started_at:.0f}, this launch {launched_at:.0f}): "
                "the ServerApp wrote no new record"
            )
        if on_round is not None:
            for data in record.rounds:
                on_round(round_from_json(data))
        return record

    def _node_config(
        self,
        department: str,
        state_dir: Path,
        *,
        source: Source | None = None,
        declaration: str = "",
        service: Path | None = None,
    ) -> dict[str, str | int | float | bool]:
        config: dict[str, str | int | float | bool] = {
            "department": department,
            "state-dir": str(state_dir),
        }
        if service is not None:
            config[NODE_SERVICE] = str(service)
        if source is not None:
            config[NODE_DATA_SOURCE] = source.spec
        if declaration:
            config[NODE_DECLARATION] = declaration
        if self.allow_non_private:
            config["allow-non-private"] = True
        if self.roles is not None:
            config["access-chain-id"] = self.roles.chain_id
            config["access-roles"] = self.roles.roles
            config["access-rpc"] = self.roles.rpc_url
        return config
