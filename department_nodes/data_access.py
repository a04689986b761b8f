"""A department's own records for a job, loaded on first use.

The schema facts both sides share (department ids, partition, feature count,
the public test split) are :mod:`fedgov.job_data`; only a department opens
its partition, through :class:`DepartmentDataAccess`.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from fedgov.data import DepartmentData, load_department
from fedgov.job import TrainJob
from fedgov.job_data import num_features, partition_of

__all__ = ["DepartmentDataAccess"]


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
