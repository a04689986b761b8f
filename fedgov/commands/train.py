"""``fedgov train``: one federated DP training job, configured by Hydra.

Examples::

    fedgov train dataset=adult privacy.epsilon=3 strategy=fedprox
    fedgov train dataset=clinics.yaml data.sources=departments/

The configuration is ``configs/train.yaml`` and its groups, found by absolute
path (:data:`~fedgov.commands.config.CONFIGS`), so the command works from any
folder. ``dataset=`` takes a built-in dataset or a declaration file
(``*.yaml``: read as ``dataset.name=FILE``); ``data.sources=`` a folder of
per-department files. The job runs in the county installed at
``$FEDGOV_HOME`` (``fedgov init``): its state folder, its runs folder
(``runs/<job_id>``), and both sides' audit logs anchored on its chain.
``--ephemeral`` runs without a county, on an in-process chain that ends with
the command (its anchors are gone afterwards: for trying things, never for a
record). Each round prints the task's metrics on the departments' held-out
records (or the public test split) and every department that refused, with
its reason. With ``--analyst-key`` the job carries the analyst's signed
request for ``--purpose`` (:mod:`fedgov.commands._analyst`), which
departments with an access policy require. Sweeps over many settings are
``python -m experiments.sweep``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

from hydra import compose, initialize_config_dir

from coordinator.guard import RoundReport
from fedgov import protocol as p
from fedgov.commands._analyst import analyst_access
from fedgov.commands._arguments import add_analyst_arguments
from fedgov.commands.config import CONFIGS, build_job, build_sources, register_schemas
from fedgov.commands.county import require_county
from fedgov.commands.deploy import personalisation_lines
from fedgov.data import TaskKind
from fedgov.engines.access import sign_job
from fedgov.engines.deployment import DeploymentEngine
from fedgov.engines.inprocess import InProcessEngine
from fedgov.engines.simulation import SimulationEngine
from fedgov.engines.standing import StandingEngine, StandingFederation
from fedgov.errors import ConfigurationError
from fedgov.job_data import dataset_spec
from fedgov.metrics import headline_metrics
from ledger.county_ledger import CountyLedger

__all__ = ["configure", "round_line", "train"]

logger = logging.getLogger(__name__)
register_schemas()


def round_line(report: RoundReport, task: TaskKind) -> str:
    """One round as ``fedgov train`` prints it: the task's metrics, who trained,
    who refused and why."""
    central = report.central_evaluate
    evaluation = central or report.aggregated_evaluate
    figures = []
    for held_out, test, label in headline_metrics(task):
        value = evaluation.get(test if central else held_out)
        if value is not None:
            figures.append(f"{label} {value:.4f}")
    trained = sum(o.status == p.Outcome.TRAINED for o in report.train)
    line = (
        f"round {report.server_round:>3}: {', '.join(figures) or 'no evaluation'}, "
        f"{trained}/{len(report.train)} departments trained, "
        f"{report.round_seconds:.1f} s"
    )
    refused = {
        o.department: o.reason
        for o in (*report.train, *report.evaluate)
        if o.status in (p.Outcome.REFUSED, p.Outcome.FAILED)
    }
    for department, reason in sorted(refused.items()):
        line += f"\n    {department} refused: {reason}"
    if report.skipped:
        line += f"\n    not aggregated: {report.skipped}"
    return line


def _progress(task: TaskKind) -> Callable[[RoundReport], None]:
    def show(report: RoundReport) -> None:
        print(round_line(report, task), flush=True)

    return show


def train(
    overrides: list[str],
    *,
    ephemeral: bool = False,
    analyst_key: Path | None = None,
    purpose: str | None = None,
    rpc: str | None = None,
    roles: str | None = None,
) -> int:
    """Compose the job from ``overrides``, sign it with ``analyst_key`` for
    the county's Roles contract (or ``rpc`` and ``roles``) when given, run
    it, print each department's spend."""
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="train", overrides=_overrides(overrides))
    job, built = build_job(cfg)
    if not isinstance(built, SimulationEngine | InProcessEngine | DeploymentEngine):
        raise ConfigurationError("engine", f"{type(built).__name__} is not known here")
    engine: SimulationEngine | InProcessEngine | DeploymentEngine | StandingEngine
    engine = built
    # While a standing federation is up, a job that names no engine goes to it.
    federation = None if ephemeral else StandingFederation.find()
    if federation is not None and not any(o.startswith("engine=") for o in overrides):
        engine = StandingEngine(federation)
        print(f"submitting to the standing federation on {federation.address}")
    county = None
    if ephemeral:
        if isinstance(engine, DeploymentEngine | StandingEngine):
            raise ConfigurationError(
                "--ephemeral",
                "the deployment engine's processes cannot reach an in-process "
                "chain: use the county (`fedgov init`)",
            )
        engine.ledger = CountyLedger.ephemeral()
        print(f"audit logs anchored on {engine.ledger.describe()}")
    else:
        county = require_county()
        if not job.run_dir:
            job = dataclasses.replace(
                job, run_dir=str(county.paths.runs_dir / job.job_id)
            )
    access = analyst_access(analyst_key, rpc=rpc, roles=roles, county=county)
    if purpose:
        job = dataclasses.replace(job, purpose=purpose)
    if access is not None:
        job = sign_job(job, access.analyst, access.roles.access_domain)
        if not isinstance(engine, StandingEngine):
            engine.roles = access.roles
    task = dataset_spec(job).task_kind
    record = engine.run(job, on_round=_progress(task), sources=build_sources(cfg))
    for dept in record.departments:
        print(
            f"{dept.department:<28} epsilon job {dept.epsilon_job:.3f} "
            f"(lifetime {dept.epsilon_total:.3f} of {dept.epsilon_limit:.3f})"
        )
    for line in personalisation_lines(record.extra.get("personalisation", []), task):
        print(line)
    return 0


def _overrides(arguments: list[str]) -> list[str]:
    # `dataset=` selects a config group option; a declaration file is a value
    # of the group's `name` instead.
    out = []
    for argument in arguments:
        key, sep, value = argument.partition("=")
        if key == "dataset" and sep and value.endswith((".yaml", ".yml")):
            argument = f"dataset.name={value}"
        out.append(argument)
    return out


def configure(parser: argparse.ArgumentParser) -> None:
    """``fedgov train [--ephemeral] [--analyst-key FILE ...] [OVERRIDES...]``."""
    parser.add_argument(
        "--ephemeral",
        action="store_true",
        help="no county: anchor on an in-process chain that ends with the command",
    )
    add_analyst_arguments(parser)
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. privacy.epsilon=3"
    )
    parser.set_defaults(
        func=lambda args: train(
            args.overrides,
            ephemeral=args.ephemeral,
            analyst_key=args.analyst_key,
            purpose=args.purpose,
            rpc=args.rpc,
            roles=args.roles,
        )
    )
