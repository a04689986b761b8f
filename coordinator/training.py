"""The coordinator's job loop: Flower's strategy, guarded, with a run record.

The coordinator never opens a department's records. It builds the initial
model from the dataset *schema* (feature count, task), aggregates what
departments send, and evaluates centrally only on a public benchmark split
(Adult's official test file) where one exists. Every instruction carries the
digest of the coordinator's declaration, which each department checks
against its own copy (:attr:`fedgov.protocol.Instruction.DATASET_DIGEST`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import torch
from flwr.app import ArrayRecord, ConfigRecord, MetricRecord
from flwr.serverapp import Grid

from coordinator._membership import Membership
from coordinator.guard import GuardedStrategy, RoundReport
from coordinator.personalisation import personalise_departments
from coordinator.strategies import build_strategy
from coordinator.summary import round_to_json, summarize_departments
from fedgov import protocol as p
from fedgov.files import atomic_writer, private_dir, write_json_atomic
from fedgov.job import TrainJob
from fedgov.job_data import (
    dataset_spec,
    departments_for,
    model_spec,
    public_test_split,
    task_of,
)
from fedgov.metrics import evaluate_model, evaluation_metrics
from fedgov.models import build_model, numpy_to_state
from fedgov.run_record import PROGRESS_FILE, RUN_RECORD_FILE, RunRecord, run_dir_of

__all__ = [
    "central_evaluation",
    "finish_run",
    "instruction_config",
    "personalisation_extra",
    "progress_writer",
    "run_training",
]

logger = logging.getLogger(__name__)


def instruction_config(job: TrainJob) -> dict[str, str]:
    """What every instruction of ``job`` carries: the job and its declaration's digest."""
    return {
        p.Instruction.JOB_ID: job.job_id,
        p.Instruction.DATASET_DIGEST: dataset_spec(job).digest,
    }


def central_evaluation(
    job: TrainJob,
) -> Callable[[int, ArrayRecord], MetricRecord | None] | None:
    """The coordinator's evaluation on the dataset's public test split, if any."""
    dataset = dataset_spec(job)
    split = public_test_split(dataset)
    if split is None:
        return None
    features, labels = split
    spec = model_spec(job, dataset)
    task = task_of(dataset)

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model = build_model(spec)
        numpy_to_state(model, p.arrays_to_numpy(arrays))
        result = evaluate_model(
            model, features, labels, task=task.kind, decode=task.decode
        )
        metrics: dict[str, int | float | list[int] | list[float]] = {
            **evaluation_metrics(result, task.kind, scope="test")
        }
        return MetricRecord(metrics)

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
        max_examples=job.max_examples,
        membership=Membership(
            roster=len(departments), minimum=job.min_departments, wait=job.round_timeout
        ),
        on_round=progress_writer(job, then=on_round),
        min_departments=min(job.min_departments, len(departments)),
    )
    model = build_model(model_spec(job), seed=job.seed)
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(model.state_dict()),
        num_rounds=job.num_rounds,
        timeout=job.round_timeout,
        train_config=ConfigRecord(dict(instruction_config(job))),
        evaluate_config=ConfigRecord(dict(instruction_config(job))),
        evaluate_fn=central_evaluation(job),
    )
    return finish_run(
        job,
        engine=engine,
        started=started,
        reports=strategy.reports,
        final=result.arrays,
        extra=personalisation_extra(grid, job, result.arrays),
    )


def personalisation_extra(
    grid: Grid, job: TrainJob, final: ArrayRecord
) -> dict[str, Any]:
    """The run record's ``personalisation`` entry: each department's answer to
    the last message (:mod:`coordinator.personalisation`); empty without it."""
    if not job.personalise:
        return {}
    outcomes = personalise_departments(
        grid,
        final,
        instruction=instruction_config(job),
        server_round=job.num_rounds + 1,
        timeout=job.round_timeout,
        max_examples=job.max_examples,
    )
    return {"personalisation": [o.to_json() for o in outcomes]}


def progress_writer(
    job: TrainJob, *, then: Callable[[RoundReport], None] | None = None
) -> Callable[[RoundReport], None]:
    """An ``on_round`` that rewrites the run folder's progress file, then calls ``then``.

    The file holds every round so far, so that a job can be followed while it
    runs (the county portal does), before its run record exists; it is
    rewritten whole and atomically, so a reader never sees half a round.
    """
    path = run_dir_of(job) / PROGRESS_FILE
    rounds: list[dict[str, Any]] = []

    def on_round(report: RoundReport) -> None:
        rounds.append(round_to_json(report))
        write_json_atomic(path, {"job-id": job.job_id, "rounds": rounds})
        if then is not None:
            then(report)

    return on_round


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
    run_dir = run_dir_of(job)
    private_dir(run_dir)
    checkpoint = run_dir / "final_model.pt"
    with atomic_writer(checkpoint) as out:
        torch.save(final.to_torch_state_dict(), out)
    spec = dataset_spec(job)
    record = RunRecord(
        job=job.to_run_config(),
        dataset={"name": spec.id, "digest": spec.digest, "task": str(spec.task_kind)},
        engine=engine,
        started_at=started,
        finished_at=time.time(),
        rounds=[round_to_json(r) for r in reports],
        departments=summarize_departments(reports),
        checkpoint=str(checkpoint),
        extra=extra or {},
    )
    write_json_atomic(run_dir / RUN_RECORD_FILE, record)
    logger.info("run record written to %s", run_dir / RUN_RECORD_FILE)
    return record
