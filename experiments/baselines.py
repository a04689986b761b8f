"""Baselines on the same splits as a federated job.

*Centralized* pools every department's train split (something the product
never does: baselines exist only to tell a county what federating costs or
gains) and evaluates on the pooled held-out split, and on the public test
split where one exists. *Local-only* trains each department alone on its own
records and evaluates it on its own held-out split. Both use the job's model,
batch size, learning rate and number of passes (rounds x local epochs), and,
when private, the same DP-SGD at the job's (epsilon, delta), protecting the
same unit as the federated job (RandHIE: a person, unit-level DP-SGD).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray

from department_nodes.data_access import DepartmentDataAccess, bound_units
from department_nodes.training import plan_local_training, train_locally
from fedgov.commands.reference import BaselineResult
from fedgov.data import DatasetSpec, EncodedSplit, load_pooled, load_public_test
from fedgov.job import TrainJob
from fedgov.job_data import dataset_spec, departments_for, model_spec, task_of
from fedgov.metrics import Evaluation, evaluate_model
from fedgov.models import build_model

__all__ = ["centralized_baseline", "local_only_baseline"]


# Without clipping, plain SGD at DP-SGD's small batches oscillates; the
# non-private baselines use this batch size so that they are not handicapped.
NON_PRIVATE_BATCH = 256


def _training_set(
    spec: DatasetSpec, split: EncodedSplit, *, private: bool
) -> tuple[NDArray[np.float32], NDArray[Any], NDArray[np.int64] | None]:
    """The records DP-SGD trains on, bounded per unit of privacy, as a node does."""
    unit = spec.unit
    if not private or unit.column is None:
        return split.X, split.y, None
    keep, units = bound_units(
        pd.Series(split.records[unit.column].to_numpy()), unit.max_records_per_unit
    )
    return (
        split.X[keep],
        split.y[keep],
        units if unit.max_records_per_unit > 1 else None,
    )


def _evaluate(
    spec: DatasetSpec,
    model: torch.nn.Module,
    features: NDArray[np.float32],
    labels: NDArray[Any],
) -> Evaluation:
    task = task_of(spec)
    return evaluate_model(model, features, labels, task=task.kind, decode=task.decode)


def _fit(
    job: TrainJob,
    split: EncodedSplit,
    *,
    private: bool,
    seed: int,
) -> torch.nn.Module:
    torch.set_num_threads(1)
    spec = dataset_spec(job)
    features, labels, units = _training_set(spec, split, private=private)
    passes = job.num_rounds * job.local_epochs
    plan = plan_local_training(
        num_examples=len(labels),
        batch_size=job.batch_size
        if private
        else max(job.batch_size, NON_PRIVATE_BATCH),
        local_epochs=1,
        num_rounds=passes,
        epsilon=job.epsilon if private else None,
        delta=job.delta,
    )
    model = build_model(model_spec(job, spec), seed=job.seed)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(passes):
        train_locally(
            model,
            features,
            labels,
            plan=plan,
            learning_rate=job.learning_rate,
            momentum=job.momentum,
            max_grad_norm=job.max_grad_norm,
            generator=generator,
            task=spec.task_kind,
            units=units,
        )
    return model


def centralized_baseline(job: TrainJob, *, private: bool) -> BaselineResult:
    """Train on the pooled train splits (DP-SGD at the job's epsilon if ``private``)."""
    spec = dataset_spec(job)
    pooled = load_pooled(job.dataset, seed=job.seed)
    model = _fit(job, pooled.train, private=private, seed=job.seed)
    test = None
    if spec.has_public_test:
        public = load_public_test(job.dataset).test
        test = _evaluate(spec, model, public.X, public.y)
    name = f"centralized {'DP' if private else 'non-private'}"
    held_out = _evaluate(spec, model, pooled.held_out.X, pooled.held_out.y)
    return BaselineResult(name, held_out, test)


def local_only_baseline(
    job: TrainJob, *, private: bool = True
) -> dict[str, BaselineResult]:
    """Each department trained alone, evaluated on its own held-out split."""
    spec = dataset_spec(job)
    results = {}
    for index, department in enumerate(departments_for(job)):
        data = DepartmentDataAccess(job, department).data
        model = _fit(job, data.train, private=private, seed=job.seed + index)
        results[department] = BaselineResult(
            f"local-only {department}",
            _evaluate(spec, model, data.held_out.X, data.held_out.y),
            None,
        )
    return results
