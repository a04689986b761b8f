"""``fedgov train``: one federated DP training job, configured by Hydra.

Examples::

    fedgov train dataset=adult privacy.epsilon=3 strategy=fedprox
    fedgov train dataset=clinics.yaml data.sources=departments/

The configuration is ``configs/train.yaml`` and its groups, found by absolute
path (:data:`~fedgov.commands.config.CONFIGS`), so the command works from any
folder. ``dataset=`` takes a built-in dataset or a declaration file
(``*.yaml``: read as ``dataset.name=FILE``); ``data.sources=`` a folder of
per-department files. Each round prints the task's metrics on the
departments' held-out records (or the public test split) and every
department that refused, with its reason. Sweeps over many settings are
``python -m experiments.sweep``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

import hydra
from omegaconf import DictConfig

from coordinator.guard import RoundReport
from fedgov import protocol as p
from fedgov.commands.config import CONFIGS, build_job, build_sources, register_schemas
from fedgov.data import TaskKind
from fedgov.job_data import dataset_spec
from fedgov.metrics import headline_metrics

__all__ = ["configure", "main", "round_line"]

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


# An absolute path: Hydra resolves a relative config_path of a module that a
# console script imports as a package resource (pkg://), where configs/ is not.
@hydra.main(version_base="1.3", config_path=str(CONFIGS), config_name="train")
def main(cfg: DictConfig) -> None:
    job, engine = build_job(cfg)
    task = dataset_spec(job).task_kind
    record = engine.run(job, on_round=_progress(task), sources=build_sources(cfg))
    for dept in record.departments:
        print(
            f"{dept.department:<28} epsilon job {dept.epsilon_job:.3f} "
            f"(lifetime {dept.epsilon_total:.3f} of {dept.epsilon_limit:.3f})"
        )


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
    """``fedgov train [OVERRIDES...]``: Hydra overrides pass straight through."""
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. privacy.epsilon=3"
    )

    def run(args: argparse.Namespace) -> int:
        sys.argv = [sys.argv[0], *_overrides(args.overrides)]
        main()
        return 0

    parser.set_defaults(func=run)
