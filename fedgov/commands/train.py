"""``fedgov train``: one federated DP training job, configured by Hydra.

Example::

    fedgov train dataset=adult privacy.epsilon=3 strategy=fedprox

The configuration is ``configs/train.yaml`` and its groups, found by absolute
path (:data:`~fedgov.commands.config.CONFIGS`), so the command works from any
folder. Sweeps over many settings are ``python -m experiments.sweep``.
"""

from __future__ import annotations

import argparse
import logging
import sys

import hydra
from omegaconf import DictConfig

from coordinator.guard import RoundReport
from fedgov import protocol as p
from fedgov.commands.config import CONFIGS, build_job, register_schemas

__all__ = ["configure", "main"]

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


# An absolute path: Hydra resolves a relative config_path of a module that a
# console script imports as a package resource (pkg://), where configs/ is not.
@hydra.main(version_base="1.3", config_path=str(CONFIGS), config_name="train")
def main(cfg: DictConfig) -> None:
    job, engine = build_job(cfg)
    record = engine.run(job, on_round=_progress)
    for dept in record.departments:
        print(
            f"{dept.department:<28} epsilon job {dept.epsilon_job:.3f} "
            f"(lifetime {dept.epsilon_total:.3f} of {dept.epsilon_limit:.3f})"
        )


def configure(parser: argparse.ArgumentParser) -> None:
    """``fedgov train [OVERRIDES...]``: Hydra overrides pass straight through."""
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. privacy.epsilon=3"
    )

    def run(args: argparse.Namespace) -> int:
        sys.argv = [sys.argv[0], *args.overrides]
        main()
        return 0

    parser.set_defaults(func=run)
