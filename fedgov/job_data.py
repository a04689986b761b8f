"""What a job means in terms of the dataset catalog, for every party alike.

Which departments take part (in Flower partition-id order), how the records
are partitioned, how many encoded features a record has, the public test
split (where the dataset has one) and the model every party builds. These
are schema facts: none of them opens a department's records.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from fedgov.data import (
    DirichletPartition,
    PartitionSpec,
    department_ids,
    get_dataset,
    load_public_test,
)
from fedgov.job import TrainJob
from fedgov.models import ModelSpec, hidden_from_config

__all__ = [
    "departments_for",
    "model_spec",
    "num_features",
    "partition_of",
    "public_test_split",
    "training_columns",
]


def partition_of(job: TrainJob) -> PartitionSpec:
    """The catalog partition ``job`` asks for."""
    if job.partition == "natural":
        return "natural"
    return DirichletPartition(
        num_departments=job.num_departments, alpha=job.dirichlet_alpha, seed=job.seed
    )


def departments_for(job: TrainJob) -> list[str]:
    """The departments taking part, in Flower partition-id order."""
    return [str(d) for d in department_ids(job.dataset, partition_of(job))]


def num_features(dataset: str) -> int:
    """The encoded feature count, from the schema alone."""
    return len(get_dataset(dataset).schema.feature_names)


def public_test_split(
    dataset: str,
) -> tuple[NDArray[np.float32], NDArray[np.int64]] | None:
    """The public benchmark test split (Adult's official file), if the dataset has one."""
    if not get_dataset(dataset).has_public_test:
        return None
    test = load_public_test(dataset).test
    return test.X, test.y


def training_columns(dataset: str) -> tuple[str, ...]:
    """The columns a training job on ``dataset`` reads: its features and label."""
    schema = get_dataset(dataset).schema
    return tuple(sorted({*(c.name for c in schema.features), schema.label.column}))


def model_spec(job: TrainJob) -> ModelSpec:
    """The model every party builds for ``job``."""
    return ModelSpec(
        kind=job.model,
        num_features=num_features(job.dataset),
        hidden=hidden_from_config(job.hidden),
    )
