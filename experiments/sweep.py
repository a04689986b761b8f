"""``python -m experiments.sweep -m +sweep=<name>``: one report point per Hydra job.

Each Hydra job is one point of the experiments report: a federated run
(through the in-process engine or Flower's simulation) or a baseline on the
same split (``baseline=centralized`` or ``baseline=local``). Its result is
written to ``<output>/runs/<run_id>.json.gz`` (:mod:`experiments.results`),
``run_id`` being derived from the configuration, so a point already on disk
is not run again unless ``force=true``: an interrupted sweep resumes where
it stopped, and two sweeps sharing a point compute it once.

The sweeps themselves are Hydra configs (``configs/sweep/*.yaml``) that set
``hydra.sweeper.params``; the tuned hyperparameters of each dataset are
``configs/experiment/*.yaml``. Examples::

    python -m experiments.sweep -m +sweep=epsilon experiment=adult
    python -m experiments.sweep experiment=randhie privacy.epsilon=2 seed=1
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from experiments.baselines import (
    centralized_baseline,
    local_only_baseline,
)
from experiments.results import RESULT_FORMAT, RunResult, result_path, write_result
from fedgov.commands.config import CONFIGS, TrainConf, build_job, register_schemas
from fedgov.commands.reference import BaselineResult
from fedgov.data import load_pooled, load_public_test
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob
from fedgov.job_data import dataset_spec, model_spec, task_of
from fedgov.metrics import Evaluation, evaluate_model
from fedgov.models import build_model
from fedgov.run_record import RunRecord

__all__ = ["BASELINES", "SweepConf", "main", "run_id_for", "run_point"]

logger = logging.getLogger(__name__)

BASELINES = ("", "centralized", "local")
# Keys of a job that do not change what it computes.
_BOOKKEEPING = ("job-id", "run-dir", "state-dir")


@dataclass(kw_only=True)
class SweepConf(TrainConf):
    """A report point: a training configuration plus where and how to run it."""

    defaults: list[Any] = field(
        default_factory=lambda: [
            {"dataset": "randhie"},
            {"partition": "natural"},
            {"model": "logreg"},
            {"strategy": "fedavg"},
            {"privacy": "dp"},
            {"engine": "inprocess"},
            "_self_",
        ]
    )
    # "" federated; "centralized" or "local" for a baseline on the same split.
    baseline: str = ""
    # Plain SGD has no clipping to bound its steps, so non-private points
    # (epsilon null) may need a smaller learning rate; null: learning_rate.
    non_private_learning_rate: float | None = None
    sweep_name: str = "adhoc"
    output: str = "reports/data"
    force: bool = False
    # Name each point (and whether it is on disk) without running it.
    dry_run: bool = False


_OWN_KEYS = (
    "baseline",
    "non_private_learning_rate",
    "sweep_name",
    "output",
    "force",
    "dry_run",
)


def register_sweep_schema() -> None:
    """``sweep_schema`` in Hydra's ConfigStore, next to the training schemas."""
    register_schemas()
    ConfigStore.instance().store(name="sweep_schema", node=SweepConf)


def run_id_for(job: TrainJob, *, baseline: str, engine: str) -> str:
    """A readable, stable name for what a point computes.

    The readable part names the swept axes; the hash covers every other
    parameter, so two points differing only in, say, the learning rate never
    share a file. It covers the dataset's declaration too: a built-in one is
    named by its id alone, and a point encoded under an edited declaration
    (new bins, bounds or categories) is another point.
    """
    config = {k: v for k, v in job.to_run_config().items() if k not in _BOOKKEEPING}
    digest = hashlib.sha256(
        json.dumps(
            {
                "job": config,
                "declaration": dataset_spec(job).digest,
                "baseline": baseline,
                "engine": engine,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:10]
    partition = (
        "natural"
        if job.partition == "natural"
        else f"dir{job.dirichlet_alpha:g}x{job.num_departments}"
    )
    epsilon = "nodp" if job.epsilon is None else f"eps{job.epsilon:g}"
    kind = baseline or (
        f"{job.strategy}{'-secagg' if job.secure_aggregation else ''}"
        f"{'-personal' if job.personalise else ''}-{engine}"
    )
    return f"{job.dataset}-{partition}-{kind}-{epsilon}-s{job.seed}-{digest}"


def _evaluation(result: Evaluation | None) -> dict[str, float] | None:
    return None if result is None else asdict(result)


def _final_model_evaluations(
    job: TrainJob, record: RunRecord
) -> dict[str, dict[str, float] | None]:
    # Experiments may look at pooled records; the product never does.
    assert record.checkpoint is not None
    spec = dataset_spec(job)
    task = task_of(spec)
    model = build_model(model_spec(job, spec))
    model.load_state_dict(torch.load(record.checkpoint, weights_only=True))
    pooled = load_pooled(job.dataset, seed=job.seed)
    test = None
    if spec.has_public_test:
        public = load_public_test(job.dataset).test
        test = evaluate_model(
            model, public.X, public.y, task=task.kind, decode=task.decode
        )
    held_out = evaluate_model(
        model,
        pooled.held_out.X,
        pooled.held_out.y,
        task=task.kind,
        decode=task.decode,
    )
    return {"pooled_held_out": _evaluation(held_out), "test": _evaluation(test)}


def _baseline_json(result: BaselineResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "held_out": _evaluation(result.held_out),
        "test": _evaluation(result.test),
    }


def run_point(
    job: TrainJob,
    engine: Any,
    *,
    baseline: str,
    sweep: str,
    output: Path,
    force: bool,
    overrides: list[str] | None = None,
    dry_run: bool = False,
) -> Path:
    """Compute one point (unless already on disk) and return its result file."""
    if baseline not in BASELINES:
        raise ConfigurationError("baseline", f"must be one of {BASELINES}")
    engine_name = "" if baseline else _engine_name(engine)
    run_id = run_id_for(job, baseline=baseline, engine=engine_name)
    path = result_path(output, run_id)
    if dry_run:
        logger.info("%s: %s", run_id, "on disk" if path.exists() else "to run")
        return path
    if path.exists() and not force:
        # Touched, so that the report keeps it (experiments.report prunes the rest).
        os.utime(path)
        logger.info("%s: already computed, reused", run_id)
        return path
    logger.info("%s: running", run_id)
    cpu, wall = time.process_time(), time.perf_counter()
    record: RunRecord | None = None
    final: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="fedgov-sweep-") as scratch:
        # A research point, not a county's job: nothing to audit or anchor
        # (its state is a scratch folder); fedgov says so once per command.
        job = replace(
            job,
            job_id=run_id,
            run_dir=str(Path(scratch) / "run"),
            state_dir=str(Path(scratch) / "state"),
            audit=False,
        )
        if baseline == "centralized":
            final["centralized"] = _baseline_json(
                centralized_baseline(job, private=job.private)
            )
        elif baseline == "local":
            final["local"] = {
                department: _baseline_json(result)
                for department, result in local_only_baseline(
                    job, private=job.private
                ).items()
            }
        else:
            record = engine.run(job)
            final.update(_final_model_evaluations(job, record))
    result = RunResult(
        format=RESULT_FORMAT,
        run_id=run_id,
        sweep=sweep,
        kind=baseline or "federated",
        engine=engine_name,
        job=job.to_run_config(),
        cpu_seconds=time.process_time() - cpu,
        wall_seconds=time.perf_counter() - wall,
        final=final,
        record=None if record is None else asdict(record),
        overrides=list(overrides or []),
    )
    write_result(path, result)
    logger.info("%s: done in %.1f s", run_id, result.wall_seconds)
    return path


def _engine_name(engine: Any) -> str:
    name = type(engine).__name__
    return {"InProcessEngine": "inprocess", "SimulationEngine": "simulation"}.get(
        name, name.lower()
    )


def _quiet_libraries() -> None:
    # Flower logs every strategy step, fedgov every department's data load, at
    # INFO; a sweep logs one line per point.
    for name in ("flwr", "ray", "opacus", "datasets", "fedgov.data", "coordinator"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Every point is reproducible on purpose (secure_rng=false); the report
    # says so once instead of every job warning about it.
    warnings.filterwarnings("ignore", message="secure_rng=False")


register_sweep_schema()


# Absolute, so that Hydra finds it however this module was imported.
@hydra.main(version_base="1.3", config_path=str(CONFIGS), config_name="report")
def main(cfg: DictConfig) -> None:
    _quiet_libraries()
    own = {key: cfg[key] for key in _OWN_KEYS}
    train_cfg = OmegaConf.masked_copy(cfg, [str(k) for k in cfg if k not in _OWN_KEYS])
    # Non-private points are baselines; the engine must allow them, loudly.
    non_private = train_cfg.privacy.epsilon is None
    OmegaConf.update(train_cfg, "engine.allow_non_private", non_private, force_add=True)
    if non_private and own["non_private_learning_rate"] is not None:
        train_cfg.learning_rate = own["non_private_learning_rate"]
    job, engine = build_job(train_cfg)
    sweep = str(own["sweep_name"])
    overrides: list[str] = []
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        # hydra.job.num exists in multiruns only; a single point has none.
        number = hydra_cfg.job.num if hydra_cfg.mode == RunMode.MULTIRUN else "-"
        logger.info("job %s of sweep %s", number, sweep)
        overrides = [str(o) for o in HydraConfig.get().overrides.task]
    run_point(
        job,
        engine,
        baseline=str(own["baseline"]),
        sweep=sweep,
        output=Path(str(own["output"])),
        force=bool(own["force"]),
        overrides=overrides,
        dry_run=bool(own["dry_run"]),
    )


if __name__ == "__main__":
    main()
