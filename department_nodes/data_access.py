"""A department's own records for a job, loaded on first use.

The schema facts both sides share (department ids, partition, feature count,
the public test split) are :mod:`fedgov.job_data`; only a department opens
its records, through :func:`open_records` (and :class:`DepartmentDataAccess`
for a job). Every read goes through the department's vault for the dataset
(:mod:`privacy.vault`): a destroyed dataset is never read again, the first
read starts the retention clock, and a copy the department imported
(``fedgov data import``) is read from the vault, sealed under its data key.
"""

from __future__ import annotations

import io
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from fedgov.data import DepartmentData, PartitionSpec, load_department
from fedgov.job import TrainJob
from fedgov.job_data import num_features, partition_of
from privacy.vault import RECORDS, DatasetVault

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["DepartmentDataAccess", "open_records"]


def open_records(
    dataset: str,
    department: str,
    *,
    partition: PartitionSpec,
    seed: int,
    state_dir: Path | None,
    key_dir: Path | None = None,
) -> DepartmentData:
    """The records ``department`` holds of ``dataset``, through its vault.

    Raises :class:`~privacy.errors.DatasetDestroyedError` once the department
    destroyed them. ``state_dir=None`` reads a built-in dataset's share
    outside any department's state (experiments' baselines), vault-less.
    """
    if state_dir is None:
        return load_department(dataset, department, partition=partition, seed=seed)
    vault = DatasetVault(state_dir, department, dataset, key_dir=key_dir)
    vault.open_or_create()
    if vault.has(RECORDS):
        records = pd.read_parquet(io.BytesIO(vault.open(RECORDS)))
        return load_department(
            dataset, department, partition=partition, seed=seed, records=records
        )
    return load_department(dataset, department, partition=partition, seed=seed)


class DepartmentDataAccess:
    """One department's records for one job, loaded on first use, through its
    vault under ``state_dir`` (``None``: vault-less, see :func:`open_records`)."""

    def __init__(
        self,
        job: TrainJob,
        department: str,
        *,
        state_dir: Path | None = None,
        key_dir: Path | None = None,
    ) -> None:
        self.job = job
        self.department = department
        self.state_dir = state_dir
        self.key_dir = key_dir

    @cached_property
    def _data(self) -> DepartmentData:
        return open_records(
            self.job.dataset,
            self.department,
            partition=partition_of(self.job),
            seed=self.job.seed,
            state_dir=self.state_dir,
            key_dir=self.key_dir,
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
