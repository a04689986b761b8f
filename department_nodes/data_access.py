"""A department's own records for a job: its own declaration, its own source.

The department, never the coordinator, decides what its columns are and
where its records are:

* **its declaration** is the department's own copy of the dataset's
  declaration file (``dataset-declaration`` in its node config), or the
  built-in declaration shipped with its own fedgov. Every instruction
  carries the digest of the coordinator's copy
  (:attr:`fedgov.protocol.Instruction.DATASET_DIGEST`); a job whose dataset
  or digest is not the department's own is refused before a record is read
  (:class:`DatasetMismatchError`), so a coordinator can neither redefine a
  column's class or role (what the boundary guard lets leave) nor its
  bounds (what sensitivity rests on);
* **its source** (``data-source`` in its node config; in a simulation, the
  operator's mapping of departments to sources) is read, checked against
  that declaration in the database, and loaded once per source state: a
  long-lived process (the department service) keeps the records between
  jobs while the source's files are unchanged (path, size, mtime, inode; a
  PostgreSQL source is read once per job, its changes being invisible), and
  every round of a job reads the source as the job's first round found it,
  so every round trains on the records the job's noise was calibrated for.

Every read goes through the department's vault for the dataset
(:mod:`privacy.vault`) when the department keeps state: a destroyed dataset
is never read again, the first read starts the retention clock, and a copy
the department imported (``fedgov data import``) is read from the vault,
sealed under its data key.

The schema facts both sides share (department ids, partition, feature count,
the public test split) are :mod:`fedgov.job_data`.
"""

from __future__ import annotations

import glob
import io
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from fedgov.data import (
    DataErrorReason,
    DatasetSpec,
    DepartmentData,
    PartitionSpec,
    Source,
    SourceKind,
    get_dataset,
    list_datasets,
    load_department,
)
from fedgov.errors import ConfigurationError, FedgovError
from fedgov.job import TrainJob
from fedgov.job_data import num_features, partition_of
from privacy.boundary import BoundaryPolicy
from privacy.vault import RECORDS, DatasetVault

__all__ = [
    "JOB_DATA_CACHE_SIZE",
    "DatasetMismatchError",
    "DepartmentDataAccess",
    "DepartmentDataset",
    "UnitSplit",
    "bound_units",
    "check_department_name",
    "source_state",
    "vault_records",
]

JOB_DATA_CACHE_SIZE = 16
"""Departments' loaded records a process keeps (most recently used first):
enough for every department of a simulated job, bounded for sweeps."""


class DatasetMismatchError(FedgovError):
    """A job names a dataset, or a declaration, that is not the department's own."""

    reason_class = DataErrorReason.INVALID_DECLARATION


@dataclass(frozen=True, eq=False)
class DepartmentDataset:
    """The dataset a department holds: its own declaration and its own source.

    ``reference`` is what the catalog reads the declaration from (a built-in
    id, or the department's own declaration file); ``source`` is its table
    (``None``: its share of a built-in dataset's installed file).
    """

    spec: DatasetSpec
    reference: str
    source: Source | None = None

    @classmethod
    def resolve(
        cls, dataset: str, *, declaration: str = "", source: Source | None = None
    ) -> DepartmentDataset:
        """The department's dataset for a job naming ``dataset``.

        ``declaration`` is the department's own copy (a file, or a built-in
        id); without one, only a built-in dataset can be held. Raises
        :class:`DatasetMismatchError` when it declares another dataset.
        """
        if not declaration:
            if dataset not in list_datasets():
                raise DatasetMismatchError(
                    f"the job's dataset {dataset!r} is not built in, and this "
                    "department names no declaration of its own: set "
                    "dataset-declaration in its node config"
                )
            declaration = dataset
        spec = get_dataset(declaration)
        if spec.id != dataset:
            raise DatasetMismatchError(
                f"the job's dataset is {dataset!r}; this department holds "
                f"{spec.id!r} ({declaration})"
            )
        return cls(spec=spec, reference=declaration, source=source)

    def check_digest(self, digest: str | None) -> None:
        """Refuse an instruction whose declaration digest is not this department's.

        A built-in dataset's instruction may carry none (its declaration ships
        with fedgov); a declared dataset's must.
        """
        if digest == self.spec.digest:
            return
        if not digest and self.spec.reader is not None:
            return
        theirs = f"digest {digest[:12]}" if digest else "no digest"
        raise DatasetMismatchError(
            f"the coordinator's declaration of {self.spec.id!r} ({theirs}) is not "
            f"this department's ({self.reference}, digest {self.spec.digest[:12]}): "
            "nothing read, nothing spent"
        )


def check_department_name(department: str, spec: DatasetSpec) -> None:
    """Refuse a department id that names a SENSITIVE or CORE column of ``spec``.

    Every reply carries the department's id, and the boundary guard refuses
    any reply naming such a column, word for word: a department called
    ``health-west`` could send nothing about a dataset with a SENSITIVE
    ``health`` column.
    """
    named = BoundaryPolicy(parameters={}, columns=tuple(spec.schema)).mentions(
        department
    )
    if named:
        raise ConfigurationError(
            "department",
            f"{department!r} names the column {named[0]!r} of {spec.id}, which is "
            f"{spec.schema.column(named[0]).classification.value.upper()}: the "
            "boundary guard refuses every reply carrying it; rename the department",
        )


@dataclass(frozen=True, eq=False)
class UnitSplit:
    """Train records grouped by unit of privacy, at most ``max_records`` each.

    ``units[i]`` is the unit (0 .. ``num_units`` - 1) of row ``i`` of
    ``features`` and ``labels``.
    """

    features: NDArray[np.float32]
    labels: NDArray[np.generic]
    units: NDArray[np.int64]
    num_units: int
    max_records: int
    dropped: int
    """Records beyond ``max_records`` of their unit, left out of training."""


def bound_units(
    keys: pd.Series, max_records: int
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Which records to keep, at most ``max_records`` per unit, and their unit index.

    The first ``max_records`` records of each unit in the department's record
    order are kept, as DP analytics keep them
    (:func:`privacy.mechanisms.exact_answer`): a choice that looks at no
    label. Units are numbered in order of first appearance.
    """
    rank = keys.groupby(keys, sort=False).cumcount().to_numpy()
    keep = rank < max_records
    codes, _ = pd.factorize(keys[keep], sort=False)
    return keep, np.asarray(codes, dtype=np.int64)


def source_state(source: Source | None, job_id: str) -> tuple[object, ...]:
    """What identifies the records ``source`` holds now.

    A file source's files (every match of a glob; SQLite's write-ahead log
    too) by path, size, modification time and inode; a built-in dataset's
    installed files never change under a process (``()``); a PostgreSQL
    table can change unseen, so it is ``job_id``: read once per job.
    """
    if source is None:
        return ()
    if source.kind is SourceKind.POSTGRESQL:
        return (job_id,)
    paths = sorted(glob.glob(source.location)) or [source.location]
    if source.kind is SourceKind.SQLITE:
        paths += [f"{source.location}-wal"]
    state: list[object] = []
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            state.append((path, None))
            continue
        state.append((path, stat.st_size, stat.st_mtime_ns, stat.st_ino))
    return tuple(state)


@lru_cache(maxsize=4 * JOB_DATA_CACHE_SIZE)
def _pinned_state(job_id: str, source: Source | None) -> tuple[object, ...]:
    # The state a job's first round found: its later rounds read the same
    # records even if the source changes meanwhile.
    return source_state(source, job_id)


@lru_cache(maxsize=JOB_DATA_CACHE_SIZE)
def _load(
    reference: str,
    digest: str,
    source: Source | None,
    state: tuple[object, ...],
    department: str,
    partition: PartitionSpec,
    seed: int,
) -> DepartmentData:
    # Keyed by the declaration's digest and the source's state: a changed
    # declaration or source is read again, an unchanged one is not.
    del digest, state
    return load_department(
        reference,
        department,
        partition="natural" if source is not None else partition,
        seed=seed,
        source=source,
    )


def vault_records(
    state_dir: Path | None,
    department: str,
    dataset: str,
    *,
    key_dir: Path | None = None,
) -> pd.DataFrame | None:
    """The copy of its records ``department`` sealed in its vault of ``dataset``
    (``None``: it imported none, or keeps no state).

    Raises :class:`~privacy.errors.DatasetDestroyedError` once the department
    destroyed them; the first call starts the dataset's retention clock.
    """
    if state_dir is None:
        return None
    vault = DatasetVault(state_dir, department, dataset, key_dir=key_dir)
    vault.open_or_create()
    if not vault.has(RECORDS):
        return None
    return pd.read_parquet(io.BytesIO(vault.open(RECORDS)))


class DepartmentDataAccess:
    """One department's records for one job, loaded on first use, once per job,
    through its vault under ``state_dir`` (``None``: vault-less: experiments'
    baselines, which read outside any department's state)."""

    def __init__(
        self,
        job: TrainJob,
        department: str,
        dataset: DepartmentDataset | None = None,
        *,
        state_dir: Path | None = None,
        key_dir: Path | None = None,
    ) -> None:
        self.job = job
        self.department = department
        self.state_dir = state_dir
        self.key_dir = key_dir
        # Without one: the job's, read in this process (a built-in dataset,
        # or the job's own declaration file).
        self.dataset = dataset or DepartmentDataset.resolve(
            job.dataset, declaration=job.declaration
        )

    @property
    def data(self) -> DepartmentData:
        """The department's records for the job, split and encoded (read once;
        the vault is asked every time, so a destruction stops the next round)."""
        sealed = vault_records(
            self.state_dir,
            self.department,
            self.dataset.spec.id,
            key_dir=self.key_dir,
        )
        if sealed is not None:
            return load_department(
                self.dataset.reference,
                self.department,
                partition="natural",
                seed=self.job.seed,
                records=sealed,
            )
        return _load(
            self.dataset.reference,
            self.dataset.spec.digest,
            self.dataset.source,
            _pinned_state(self.job.job_id, self.dataset.source),
            self.department,
            partition_of(self.job),
            self.job.seed,
        )

    @property
    def num_features(self) -> int:
        return num_features(self.dataset.spec)

    def num_train_examples(self) -> int:
        return len(self.data.train)

    def train_split(self) -> tuple[NDArray[np.float32], NDArray[np.generic]]:
        return self.data.train.X, self.data.train.y

    def heldout_split(self) -> tuple[NDArray[np.float32], NDArray[np.generic]]:
        return self.data.held_out.X, self.data.held_out.y

    def train_units(self) -> UnitSplit:
        """The train split by unit of privacy (a dataset declaring a person column)."""
        unit = self.dataset.spec.unit
        train = self.data.train
        if unit.column is None:
            raise FedgovError(
                f"dataset {self.dataset.spec.id!r} holds one record per person"
            )
        keep, units = bound_units(train.records[unit.column], unit.max_records_per_unit)
        return UnitSplit(
            features=train.X[keep],
            labels=train.y[keep],
            units=units,
            num_units=int(units.max()) + 1 if len(units) else 0,
            max_records=unit.max_records_per_unit,
            dropped=int(np.count_nonzero(~keep)),
        )
