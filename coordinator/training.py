"""The coordinator's job loop: Flower's strategy, guarded, with a run record.

The coordinator never opens a department's records. It builds the initial
model from the dataset *schema* (feature count), aggregates what departments
send, and evaluates centrally only on a public benchmark split (Adult's
official test file) where one exists.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from flwr.app import ArrayRecord, ConfigRecord, MetricRecord
from flwr.serverapp import Grid

from coordinator.guard import GuardedStrategy, RoundReport
from coordinator.run_record import (
    RunRecord,
    round_to_json,
    summarize_departments,
    write_json_atomic,
)
from coordinator.strategies import build_strategy
from department_nodes.data_access import (
    departments_for,
    num_features,
    public_test_split,
)
from fedgov import protocol as p
from fedgov.job import TrainJob
from fedgov.metrics import evaluate_model
from fedgov.models import ModelSpec, build_model, hidden_from_config, numpy_to_state

__all__ = ["central_evaluation", "finish_run", "model_spec", "run_training"]

logger = logging.getLogger(__name__)


def model_spec(job: TrainJob) -> ModelSpec:
    """The model every party builds for ``job``."""
    return ModelSpec(
        kind=job.model,
        num_features=num_features(job.dataset),
        hidden=hidden_from_config(job.hidden),
    )


def central_evaluation(
    job: TrainJob,
) -> Callable[[int, ArrayRecord], MetricRecord | None] | None:
    split = public_test_split(job.dataset)
    if split is None:
        return None
    features, labels = split
    spec = model_spec(job)

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model = build_model(spec)
        numpy_to_state(model, p.arrays_to_numpy(arrays))
        result = evaluate_model(model, features, labels)
        return MetricRecord(
            {
                "test-loss": result.loss,
                "test-accuracy": result.accuracy,
                "test-auc": result.auc,
            }
        )

    return evaluate


def run_training(
    grid: Grid,
    job: TrainJob,
    *,
    engine: str,
    on_round: Callable[[RoundReport], None] | None = None,
) -> RunRecord:
    """Run ``job`` over the departments reachable through ``grid``."""
    started = time.time()
    departments = departments_for(job)
    strategy = GuardedStrategy(
        build_strategy(job, num_departments=len(departments)),
        max_update_norm=job.max_update_norm,
        on_round=on_round,
    )
    model = build_model(model_spec(job), seed=job.seed)
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(model.state_dict()),
        num_rounds=job.num_rounds,
        timeout=job.round_timeout,
        train_config=ConfigRecord({"job-id": job.job_id}),
        evaluate_config=ConfigRecord({"job-id": job.job_id}),
        evaluate_fn=central_evaluation(job),
    )
    return finish_run(
        job,
        engine=engine,
        started=started,
        reports=strategy.reports,
        final=result.arrays,
    )


def finish_run(
    job: TrainJob,
    *,
    engine: str,
    started: float,
    reports: list[RoundReport],
    final: ArrayRecord,
    extra: dict[str, Any] | None = None,
) -> RunRecord:
    """Save the final model and write the run record into the job's run folder."""
    run_dir = Path(job.run_dir) if job.run_dir else Path("runs") / job.job_id
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / "final_model.pt"
    torch.save(final.to_torch_state_dict(), checkpoint)
    record = RunRecord(
        job=job.to_run_config(),
        engine=engine,
        started_at=started,
        finished_at=time.time(),
        rounds=[round_to_json(r) for r in reports],
        departments=summarize_departments(reports),
        checkpoint=str(checkpoint),
        extra=extra or {},
    )
    write_json_atomic(run_dir / "run_record.json", record)
    logger.info("run record written to %s", run_dir / "run_record.json")
    return record
