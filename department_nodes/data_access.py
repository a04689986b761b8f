"""How a job's parameters map onto the dataset catalog.

The department side opens its own partition through :class:`DepartmentDataAccess`;
the coordinator side uses only schema facts (department ids, feature count)
and the public test split, never a department's records.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from fedgov.data import (
    DepartmentData,
    DirichletPartition,
    PartitionSpec,
    department_ids,
    get_dataset,
    load_department,
    load_public_test,
)
from fedgov.job import TrainJob

__all__ = [
    "DepartmentDataAccess",
    "departments_for",
    "num_features",
    "partition_of",
    "public_test_split",
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


class DepartmentDataAccess:
    """One department's records for one job, loaded on first use."""

    def __init__(self, job: TrainJob, department: str) -> None:
        self.job = job
        self.department = department

    @cached_property
    def _data(self) -> DepartmentData:
        return load_department(
            self.job.dataset,
            self.department,
            partition=partition_of(self.job),
            seed=self.job.seed,
        )

    @property
    def num_features(self) -> int:
        return num_features(self.job.dataset)

    def num_train_examples(self) -> int:
        return len(self._data.train)

    def train_split(self) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        return self._data.train.X, self._data.train.y

    def heldout_split(self) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        return self._data.held_out.X, self._data.held_out.y
