"""``fedgov train``: one federated DP training job, configured by Hydra.

Example::

    fedgov train dataset=adult privacy.epsilon=3 strategy=fedprox

The configuration is ``configs/train.yaml`` and its groups, found by absolute
path (:data:`~fedgov.commands.config.CONFIGS`), so the command works from any
folder. The job runs in the county installed at ``$FEDGOV_HOME``
(``fedgov init``): its state folder, its runs folder (``runs/<job_id>``),
and both sides' audit logs anchored on its chain. ``--ephemeral`` runs
without a county, on an in-process chain that ends with the command (its
anchors are gone afterwards: for trying things, never for a record). Sweeps
over many settings are ``python -m experiments.sweep``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

from hydra import compose, initialize_config_dir

from coordinator.guard import RoundReport
from fedgov import protocol as p
from fedgov.commands.config import CONFIGS, build_job, register_schemas
from fedgov.commands.county import require_county
from fedgov.engines.deployment import DeploymentEngine
from fedgov.engines.inprocess import InProcessEngine
from fedgov.engines.simulation import SimulationEngine
from fedgov.errors import ConfigurationError
from ledger.county_ledger import CountyLedger

__all__ = ["configure", "train"]

logger = logging.getLogger(__name__)
register_schemas()


def _progress(report: RoundReport) -> None:
    evaluation = report.central_evaluate or report.aggregated_evaluate
    accuracy = evaluation.get(
        p.Metric.TEST_ACCURACY, evaluation.get(p.Metric.EVAL_ACCURACY, float("nan"))
    )
    trained = sum(o.status == p.Outcome.TRAINED for o in report.train)
    print(
        f"round {report.server_round:>3}: accuracy {accuracy:.4f}, "
        f"{trained}/{len(report.train)} departments trained, {report.round_seconds:.1f} s",
        flush=True,
    )


def train(overrides: list[str], *, ephemeral: bool = False) -> int:
    """Compose the job from ``overrides``, run it, print each department's spend."""
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    job, engine = build_job(cfg)
    if ephemeral:
        if isinstance(engine, DeploymentEngine):
            raise ConfigurationError(
                "--ephemeral",
                "the deployment engine's processes cannot reach an in-process "
                "chain: use the county (`fedgov init`)",
            )
        assert isinstance(engine, SimulationEngine | InProcessEngine)
        engine.ledger = CountyLedger.ephemeral()
        print(f"audit logs anchored on {engine.ledger.describe()}")
    else:
        county = require_county()
        if not job.run_dir:
            job = dataclasses.replace(
                job, run_dir=str(county.paths.runs_dir / job.job_id)
            )
    record = engine.run(job, on_round=_progress)
    for dept in record.departments:
        print(
            f"{dept.department:<28} epsilon job {dept.epsilon_job:.3f} "
            f"(lifetime {dept.epsilon_total:.3f} of {dept.epsilon_limit:.3f})"
        )
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    """``fedgov train [--ephemeral] [OVERRIDES...]``: Hydra overrides pass through."""
    parser.add_argument(
        "--ephemeral",
        action="store_true",
        help="no county: anchor on an in-process chain that ends with the command",
    )
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. privacy.epsilon=3"
    )
    parser.set_defaults(
        func=lambda args: train(args.overrides, ephemeral=args.ephemeral)
    )
