"""Baselines on the same splits as a federated job.

*Centralized* pools every department's train split (something the product
never does: baselines exist only to tell a county what federating costs or
gains) and evaluates on the pooled held-out split, and on the public test
split where one exists. *Local-only* trains each department alone on its own
records and evaluates it on its own held-out split. Both use the job's model,
batch size, learning rate and number of passes (rounds x local epochs), and,
when private, the same DP-SGD at the job's (epsilon, delta).
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray

from department_nodes.data_access import DepartmentDataAccess
from department_nodes.training import plan_local_training, train_locally
from fedgov.commands.reference import BaselineResult
from fedgov.data import get_dataset, load_pooled, load_public_test
from fedgov.job import TrainJob
from fedgov.job_data import departments_for, model_spec
from fedgov.metrics import evaluate_model
from fedgov.models import build_model

__all__ = ["centralized_baseline", "local_only_baseline"]


# Without clipping, plain SGD at DP-SGD's small batches oscillates; the
# non-private baselines use this batch size so that they are not handicapped.
NON_PRIVATE_BATCH = 256


def _fit(
    job: TrainJob,
    features: NDArray[np.float32],
    labels: NDArray[np.int64],
    *,
    private: bool,
    seed: int,
) -> torch.nn.Module:
    torch.set_num_threads(1)
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
    model = build_model(model_spec(job), seed=job.seed)
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
        )
    return model


def centralized_baseline(job: TrainJob, *, private: bool) -> BaselineResult:
    """Train on the pooled train splits (DP-SGD at the job's epsilon if ``private``)."""
    pooled = load_pooled(job.dataset, seed=job.seed)
    model = _fit(job, pooled.train.X, pooled.train.y, private=private, seed=job.seed)
    test = None
    if get_dataset(job.dataset).has_public_test:
        public = load_public_test(job.dataset).test
        test = evaluate_model(model, public.X, public.y)
    name = f"centralized {'DP' if private else 'non-private'}"
    held_out = evaluate_model(model, pooled.held_out.X, pooled.held_out.y)
    return BaselineResult(name, held_out, test)


def local_only_baseline(
    job: TrainJob, *, private: bool = True
) -> dict[str, BaselineResult]:
    """Each department trained alone, evaluated on its own held-out split."""
    results = {}
    for index, department in enumerate(departments_for(job)):
        data = DepartmentDataAccess(job, department)
        features, labels = data.train_split()
        model = _fit(job, features, labels, private=private, seed=job.seed + index)
        held_x, held_y = data.heldout_split()
        results[department] = BaselineResult(
            f"local-only {department}", evaluate_model(model, held_x, held_y), None
        )
    return results
