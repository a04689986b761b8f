"""``fedgov deploy``: one job on a local SuperLink and one SuperNode per department.

The command line of :class:`~fedgov.engines.deployment.DeploymentEngine`, in
the county installed at ``$FEDGOV_HOME``: its state folder, its runs folder,
both sides' audit logs anchored on its chain by the deployed ServerApp.
A dataset of your own: ``--dataset clinics.yaml --sources departments/``;
each SuperNode is then started with its department's own ``data-source``
and ``dataset-declaration``, as on the department's own machine.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from coordinator.summary import round_from_json
from fedgov import protocol as p
from fedgov.commands._analyst import analyst_access
from fedgov.commands._arguments import add_analyst_arguments
from fedgov.commands.config import sources_from
from fedgov.commands.county import require_county
from fedgov.data import TaskKind
from fedgov.engines.access import sign_job
from fedgov.engines.deployment import DeploymentEngine, TlsFiles
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob
from fedgov.job_data import dataset_fields
from fedgov.metrics import headline_metrics
from fedgov.run_record import RUN_RECORD_FILE, RunRecord, run_dir_of

__all__ = ["configure", "format_record", "personalisation_lines"]


def format_record(record: RunRecord) -> str:
    """The per-round table and per-department privacy spend of a run record.

    The round table shows the task's first metric (accuracy; RMSE for a
    regression), on the public test split where there is one; departments
    that refused are listed with their last reason, then each department's
    personalised model (a job with ``personalise``).
    """
    task = TaskKind(record.dataset.get("task", TaskKind.BINARY))
    held_out, test, label = headline_metrics(task)[0]
    lines = [
        f"{'round':>5}  {'trained':>7}  {'refused':>7}  {label:>8}  {'seconds':>8}"
    ]
    for data in record.rounds:
        report = round_from_json(data)
        evaluation = report.central_evaluate or report.aggregated_evaluate
        value = evaluation.get(test, evaluation.get(held_out))
        trained = sum(o.status == p.Outcome.TRAINED for o in report.train)
        refused = sum(o.status == p.Outcome.REFUSED for o in report.train)
        shown = f"{value:.4f}" if value is not None else "n/a"
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
            + (f"  refused: {dept.refused}" if dept.refused else "")
        )
    lines += personalisation_lines(record.extra.get("personalisation", []), task)
    return "\n".join(lines)


def personalisation_lines(outcomes: list[dict[str, Any]], task: TaskKind) -> list[str]:
    """Each department's personalised model as ``fedgov train`` and ``fedgov
    deploy`` print it: its held-out metrics and the job's epsilon with
    fine-tuning included."""
    lines = []
    for outcome in outcomes:
        name, metrics = outcome["department"], outcome["metrics"]
        if outcome["status"] != p.Status.OK:
            lines.append(f"{name:<28} not personalised: {outcome['reason']}")
            continue
        figures = [
            f"{label} {metrics[held_out]:.4f}"
            for held_out, _, label in headline_metrics(task)
            if held_out in metrics
        ]
        lines.append(
            f"{name:<28} personalised: {', '.join(figures)}, epsilon job "
            f"{metrics.get(p.Metric.EPSILON_JOB, 0.0):.3f} with fine-tuning"
        )
    return lines


_OPTION_KEYS = {
    "job_id": "job-id",
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
    if args.dataset is not None:
        config["dataset"], config["declaration"] = dataset_fields(args.dataset)
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
    county = require_county()
    job = _job_from_args(args)
    if not job.run_dir:
        job = dataclasses.replace(job, run_dir=str(county.paths.runs_dir / job.job_id))
    if args.purpose:
        job = dataclasses.replace(job, purpose=args.purpose)
    access = analyst_access(
        args.analyst_key, rpc=args.rpc, roles=args.roles, county=county
    )
    if access is not None:
        job = sign_job(job, access.analyst, access.roles.access_domain)
    engine = DeploymentEngine(
        startup_timeout=args.startup_timeout,
        run_timeout=args.run_timeout,
        tls=tls,
        allow_non_private=args.allow_non_private,
        roles=access.roles if access is not None else None,
    )
    record = engine.run(job, sources=sources_from(args.sources))
    print(format_record(record))
    print(f"\nrun record: {run_dir_of(job) / RUN_RECORD_FILE}")
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    """``fedgov deploy``: a job on a local SuperLink, one SuperNode per department."""
    parser.description = (
        "Start a SuperLink and one SuperNode per department on this machine, run one "
        "training job through `flwr run`, print its rounds and privacy spend, stop "
        "everything. Logs and the run record go to the run folder (the county's "
        "runs/<job-id>); both sides' audit logs are anchored on the county's chain."
    )
    parser.add_argument("--job-id", help="job id (default: job); names the run folder")
    parser.add_argument(
        "--dataset",
        help="a built-in dataset (randhie, adult) or a declaration file (*.yaml)",
    )
    parser.add_argument(
        "--sources",
        help="a folder of <department>.csv / <department>.parquet files: each "
        "department's SuperNode is started with its own data-source",
    )
    parser.add_argument("--partition", choices=("natural", "dirichlet"))
    parser.add_argument(
        "--departments", type=int, help="departments of a Dirichlet split"
    )
    parser.add_argument("--rounds", type=int, help="federated rounds")
    parser.add_argument(
        "--strategy",
        help="fedavg, fedavgm, fedadam, fedyogi, fedprox, fedmedian, fedtrimmedavg, krum",
    )
    parser.add_argument("--model", help="mlp or logreg")
    parser.add_argument(
        "--epsilon", type=float, help="DP epsilon of the job; 0 = non-private"
    )
    parser.add_argument(
        "--run-dir", help="run folder (default: the county's runs/<job-id>)"
    )
    parser.add_argument(
        "--state-dir",
        help="departments' durable state: keys, logs, budget books "
        "(default: the county's)",
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
    add_analyst_arguments(parser)
    parser.set_defaults(func=_deploy)
