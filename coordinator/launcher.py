"""The deployment engine: a real SuperLink and one SuperNode process per department.

:class:`DeploymentEngine` runs a job the way a county runs it across
machines, but on this one: ``flower-superlink`` on 127.0.0.1, one
``flower-supernode`` per department (told its department and state folder
through ``--node-config``), then ``flwr run`` of this repository's Flower App
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
:mod:`coordinator._launcher_processes`). ``fedgov deploy`` is the command
line. See ``docs/deployment.md`` for a real multi-machine deployment.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coordinator._launcher_federation import start_federation
from coordinator._launcher_flower import (
    APP_DIR,
    TlsFiles,
    packed_into_app,
    write_run_config,
)
from coordinator._launcher_processes import DeploymentError, log_tail
from coordinator.guard import DepartmentOutcome, RoundReport
from coordinator.run_record import DepartmentSummary, RunRecord, write_json_atomic
from department_nodes.data_access import departments_for
from department_nodes.node import default_state_dir
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from flwr.clientapp.typing import Mod

__all__ = [
    "DeploymentEngine",
    "DeploymentError",
    "TlsFiles",
    "configure",
    "format_record",
    "read_run_record",
    "round_from_json",
    "run_dir_of",
]

logger = logging.getLogger(__name__)


def run_dir_of(job: TrainJob) -> Path:
    """The job's run folder as an absolute path (``runs/<job_id>`` by default)."""
    return Path(job.run_dir or Path("runs") / job.job_id).resolve()


def read_run_record(path: Path) -> RunRecord:
    """A :class:`RunRecord` back from the ``run_record.json`` a ServerApp wrote."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return RunRecord(
            job=data["job"],
            engine=data["engine"],
            started_at=float(data["started_at"]),
            finished_at=float(data["finished_at"]),
            rounds=list(data["rounds"]),
            departments=[DepartmentSummary(**d) for d in data["departments"]],
            checkpoint=data.get("checkpoint"),
            extra=dict(data.get("extra") or {}),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DeploymentError(f"cannot read the run record {path}: {exc}") from exc


def round_from_json(data: dict[str, Any]) -> RoundReport:
    """A :class:`RoundReport` back from its JSON in a run record (``round_to_json``)."""
    fields = {**data}
    fields["train"] = [DepartmentOutcome(**o) for o in data.get("train", [])]
    fields["evaluate"] = [DepartmentOutcome(**o) for o in data.get("evaluate", [])]
    return RoundReport(**fields)


class DeploymentEngine:
    """Runs jobs on a local SuperLink and one local SuperNode per department.

    ``startup_timeout`` bounds the SuperLink start and the SuperNodes'
    registration, ``run_timeout`` the ``flwr run`` itself (seconds).
    ``state_dir`` is where departments keep durable state such as privacy
    budget ledgers (default: the job's ``state_dir``, else ``$FEDGOV_HOME``
    or ``~/.fedgov``). Without ``tls`` every connection is plaintext on
    127.0.0.1, which is fine on one machine and wrong across machines.
    ``allow_non_private`` lets departments train without DP (baselines only).
    ``app_dir`` is the Flower App (default: this repository).
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
        if tls is None:
            text = (
                "deployment engine: SuperLink and SuperNodes talk WITHOUT TLS on "
                "127.0.0.1 (a local launcher; never run a real federation without TLS)"
            )
            warnings.warn(text, stacklevel=2)
            logger.warning(text)
        if allow_non_private:
            text = "deployment engine allows NON-PRIVATE training: for baselines only"
            warnings.warn(text, stacklevel=2)
            logger.warning(text)

    def run(
        self,
        job: TrainJob,
        *,
        on_round: Callable[[RoundReport], None] | None = None,
        client_mods: Sequence[Mod] = (),
    ) -> RunRecord:
        """Run ``job`` on fresh processes; return its run record.

        The coordinator runs in another process, so ``on_round`` cannot see
        rounds as they end: progress is the run's streamed log (logged under
        ``coordinator.launcher.stream`` and kept in ``logs/flwr-run.log``),
        and ``on_round`` is called for each round from the record once the
        run is over. ``client_mods`` cannot cross into SuperNode processes.
        """
        if client_mods:
            raise ConfigurationError(
                "client_mods",
                "ClientApp mods cannot be passed to SuperNode processes; "
                "use the simulation engine, or add them to the ClientApp itself",
            )
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
        departments = departments_for(job)
        record_path = run_dir / "run_record.json"
        nodes = {d: self._node_config(d, state_dir) for d in departments}
        launched_at = time.time()
        with start_federation(
            run_dir, nodes, tls=self.tls, startup_timeout=self.startup_timeout
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
        record = read_run_record(record_path)
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
        self, department: str, state_dir: Path
    ) -> dict[str, str | int | float | bool]:
        config: dict[str, str | int | float | bool] = {
            "department": department,
            "state-dir": str(state_dir),
        }
        if self.allow_non_private:
            config["allow-non-private"] = True
        return config


# -- command line -----------------------------------------------------------------


def format_record(record: RunRecord) -> str:
    """The per-round table and per-department privacy spend of a run record."""
    lines = [
        f"{'round':>5}  {'trained':>7}  {'refused':>7}  {'accuracy':>8}  {'seconds':>8}"
    ]
    for data in record.rounds:
        report = round_from_json(data)
        evaluation = report.central_evaluate or report.aggregated_evaluate
        accuracy = evaluation.get("test-accuracy", evaluation.get("eval-accuracy"))
        trained = sum(o.status == "trained" for o in report.train)
        refused = sum(o.status == "refused" for o in report.train)
        shown = f"{accuracy:.4f}" if accuracy is not None else "n/a"
        lines.append(
            f"{report.server_round:>5}  {trained:>3}/{len(report.train):<3}  "
            f"{refused:>7}  {shown:>8}  {report.round_seconds:>8.1f}"
        )
    lines.append("")
    lines.append(f"{'department':<28} {'epsilon job':>11} {'lifetime':>9} {'limit':>7}")
    for dept in record.departments:
        lines.append(
            f"{dept.department:<28} {dept.epsilon_job:>11.3f} "
            f"{dept.epsilon_total:>9.3f} {dept.epsilon_limit:>7.3f}"
        )
    return "\n".join(lines)


_OPTION_KEYS = {
    "job_id": "job-id",
    "dataset": "dataset",
    "partition": "partition",
    "departments": "num-departments",
    "rounds": "num-rounds",
    "strategy": "strategy",
    "model": "model",
    "epsilon": "epsilon",
    "run_dir": "run-dir",
    "state_dir": "state-dir",
}


def _job_from_args(args: argparse.Namespace) -> TrainJob:
    config: dict[str, Any] = dict(TrainJob().to_run_config())
    for option, key in _OPTION_KEYS.items():
        value = getattr(args, option)
        if value is not None:
            config[key] = value
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or key not in config:
            raise ConfigurationError(
                "--set", f"{item!r} must be KEY=VALUE with KEY one of {sorted(config)}"
            )
        config[key] = value
    return TrainJob.from_run_config(config)


def _deploy(args: argparse.Namespace) -> int:
    tls_parts = (args.tls_ca_certfile, args.tls_certfile, args.tls_keyfile)
    if any(tls_parts) and not all(tls_parts):
        raise ConfigurationError(
            "--tls-*",
            "give all of --tls-ca-certfile, --tls-certfile and --tls-keyfile, or none",
        )
    tls = TlsFiles(*(Path(p) for p in tls_parts)) if all(tls_parts) else None
    job = _job_from_args(args)
    engine = DeploymentEngine(
        startup_timeout=args.startup_timeout,
        run_timeout=args.run_timeout,
        tls=tls,
        allow_non_private=args.allow_non_private,
    )
    record = engine.run(job)
    print(format_record(record))
    print(f"\nrun record: {run_dir_of(job) / 'run_record.json'}")
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    """``fedgov deploy``: a job on a local SuperLink, one SuperNode per department."""
    parser.description = (
        "Start a SuperLink and one SuperNode per department on this machine, run one "
        "training job through `flwr run`, print its rounds and privacy spend, stop "
        "everything. Logs and the run record go to the run folder (runs/<job-id>)."
    )
    parser.add_argument("--job-id", help="job id (default: job); names the run folder")
    parser.add_argument("--dataset", help="dataset name, e.g. randhie or adult")
    parser.add_argument("--partition", choices=("natural", "dirichlet"))
    parser.add_argument(
        "--departments", type=int, help="departments of a Dirichlet split"
    )
    parser.add_argument("--rounds", type=int, help="federated rounds")
    parser.add_argument(
        "--strategy", help="fedavg, fedprox, fedmedian, fedtrimmedavg, krum"
    )
    parser.add_argument("--model", help="mlp or logreg")
    parser.add_argument(
        "--epsilon", type=float, help="DP epsilon of the job; 0 = non-private"
    )
    parser.add_argument("--run-dir", help="run folder (default: runs/<job-id>)")
    parser.add_argument(
        "--state-dir", help="departments' durable state (budget ledgers)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any key of [tool.flwr.app.config], e.g. --set learning-rate=0.1",
    )
    parser.add_argument("--startup-timeout", type=float, default=120.0, help="seconds")
    parser.add_argument("--run-timeout", type=float, default=3600.0, help="seconds")
    parser.add_argument(
        "--tls-ca-certfile", help="CA certificate (PEM) that signed the next"
    )
    parser.add_argument(
        "--tls-certfile", help="SuperLink certificate (PEM, SAN 127.0.0.1)"
    )
    parser.add_argument("--tls-keyfile", help="SuperLink private key (PEM)")
    parser.add_argument(
        "--allow-non-private",
        action="store_true",
        help="let departments train without DP (baselines only)",
    )
    parser.set_defaults(func=_deploy)
