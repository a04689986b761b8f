"""Load one department's records: validated, cleaned, split and encoded.

A department's node calls :func:`load_department` every round and gets only
the records its partition assigns it, split into local train and held-out
sides (:mod:`fedgov.data.splitting`) and encoded with the schema alone
(:mod:`fedgov.data.encoding`). Validation and cleaning run on the
department's own records, so its :class:`CleaningReport` counts only them.

Parsed files and partition assignments are cached per process; after the
first call a department's load costs tens of milliseconds.
:func:`load_pooled` (the union of every department's splits) exists only for
centralized baselines in experiments; :func:`load_public_test` returns public
benchmark records the coordinator may evaluate on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from fedgov.data.catalog import department_ids, get_dataset
from fedgov.data.cleaning import CleaningAction, CleaningReport, clean
from fedgov.data.encoding import Labels, encode_features, encode_labels
from fedgov.data.errors import (
    EmptyPartitionError,
    NoPublicTestSplitError,
    UnknownDepartmentError,
)
from fedgov.data.partition import (
    Assignment,
    PartitionSpec,
    as_dirichlet,
    dirichlet_assignment,
    natural_assignment,
)
from fedgov.data.reading import read_source
from fedgov.data.schema import MissingPolicy
from fedgov.data.splitting import held_out_mask
from fedgov.data.task import RegressionTarget
from fedgov.data.validation import validate, validate_column
from fedgov.errors import ConfigurationError
from fedgov.types import DatasetId, DepartmentId

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from fedgov.data.sources import Source
    from fedgov.data.spec import DatasetSpec, RawTable, Split

__all__ = [
    "DEFAULT_HELD_OUT_FRACTION",
    "DepartmentData",
    "EncodedSplit",
    "LoadedData",
    "PooledData",
    "PublicTestData",
    "load_department",
    "load_pooled",
    "load_public_test",
    "preload_records",
]

logger = logging.getLogger(__name__)

DEFAULT_HELD_OUT_FRACTION = 0.2


@dataclass(frozen=True, eq=False)
class EncodedSplit:
    """Records and their encoding: ``X`` float32 ``[n, d]``, ``y`` ``[n]``.

    ``y`` is int64 for a binary or multi-class task, float32 for regression
    (:data:`~fedgov.data.encoding.Labels`). ``records`` are the cleaned
    records, indexed by original row label, row ``i`` of ``records`` being
    row ``i`` of ``X`` and ``y``. They never leave the node: DP analytics
    read them there.
    """

    X: npt.NDArray[np.float32]
    y: Labels
    records: pd.DataFrame

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True, eq=False, kw_only=True)
class LoadedData:
    """What every load returns besides its splits."""

    dataset: DatasetId
    feature_names: tuple[str, ...]
    cleaning: CleaningReport

    @property
    def num_features(self) -> int:
        return len(self.feature_names)


@dataclass(frozen=True, eq=False, kw_only=True)
class DepartmentData(LoadedData):
    """One department's records under ``partition``, split under ``seed``."""

    department: DepartmentId
    partition: PartitionSpec
    seed: int
    train: EncodedSplit
    held_out: EncodedSplit


@dataclass(frozen=True, eq=False, kw_only=True)
class PooledData(LoadedData):
    """Every department's splits together. For centralized baselines only."""

    seed: int
    train: EncodedSplit
    held_out: EncodedSplit


@dataclass(frozen=True, eq=False, kw_only=True)
class PublicTestData(LoadedData):
    """A dataset's public test split, for evaluation by the coordinator."""

    test: EncodedSplit


def load_department(
    dataset_id: str,
    department_id: str,
    *,
    partition: PartitionSpec = "natural",
    seed: int,
    held_out_fraction: float = DEFAULT_HELD_OUT_FRACTION,
    source: Source | None = None,
    records: pd.DataFrame | None = None,
) -> DepartmentData:
    """The records ``department_id`` holds, split and encoded.

    ``source`` is the department's own table (a deployed node, or a
    simulation given :class:`~fedgov.data.sources.DepartmentSources`): it is
    checked in the database and read whole. ``records`` is that table
    already in memory (the copy a department sealed in its vault), validated
    again here. Without either, a built-in dataset's department is its share
    of the installed file under ``partition``.

    Deterministic: the same arguments (and records) always give the same
    records, split and encoding. Raises :class:`UnknownDatasetError` /
    :class:`UnknownDepartmentError` for ids not in the catalog or partition,
    :class:`EmptyPartitionError` for a department without records, a
    :class:`DataValidationError` for records that break the declaration and
    :class:`~fedgov.data.errors.SourceUnreadableError` /
    :class:`~fedgov.data.errors.SourceConnectionError` for a source that
    cannot be read.
    """
    spec = get_dataset(dataset_id)
    department = DepartmentId(department_id)
    if source is not None and records is not None:
        raise ConfigurationError("records", "give a source or its records, not both")
    if records is not None:
        if partition != "natural":
            raise ConfigurationError(
                "partition", "a department's own records are its whole table"
            )
        train, held_out, report = _prepare(
            spec, records, [], seed=seed, held_out_fraction=held_out_fraction
        )
    elif source is not None:
        if partition != "natural":
            raise ConfigurationError(
                "partition",
                "a department reading its own source holds its whole table; "
                "partitions split a built-in dataset's file",
            )
        frame, _check = read_source(
            spec.schema, source, department=department, dataset=spec.id
        )
        train, held_out, report = _prepare(
            spec,
            frame,
            [],
            seed=seed,
            held_out_fraction=held_out_fraction,
            validated=True,
        )
    else:
        known = department_ids(dataset_id, partition)
        if department not in known:
            raise UnknownDepartmentError(spec.id, department, known)
        positions = _assignment(dataset_id, partition).get(department)
        if positions is None or len(positions) == 0:
            dirichlet = as_dirichlet(partition)
            raise EmptyPartitionError(spec.id, department, str(dirichlet or "natural"))
        raw = _raw(dataset_id, "train")
        train, held_out, report = _prepare(
            spec,
            raw.frame.iloc[positions],
            raw.fixes_at(positions),
            seed=seed,
            held_out_fraction=held_out_fraction,
        )
    logger.info(
        "%s/%s: %d train + %d held-out records; %s",
        spec.id,
        department,
        len(train),
        len(held_out),
        report,
    )
    return DepartmentData(
        dataset=spec.id,
        department=department,
        partition=partition,
        seed=seed,
        feature_names=spec.schema.feature_names,
        cleaning=report,
        train=train,
        held_out=held_out,
    )


def load_pooled(
    dataset_id: str, *, seed: int, held_out_fraction: float = DEFAULT_HELD_OUT_FRACTION
) -> PooledData:
    """The union of all departments' train splits and of their held-out splits.

    Identical for every partition, since partitions cover every record once and
    the split is decided record by record. Only for centralized baselines in
    experiments: no federated component may call it.
    """
    spec = get_dataset(dataset_id)
    raw = _raw(dataset_id, "train")
    train, held_out, report = _prepare(
        spec, raw.frame, raw.fixes_at(), seed=seed, held_out_fraction=held_out_fraction
    )
    logger.info(
        "%s pooled: %d train + %d held-out; %s",
        spec.id,
        len(train),
        len(held_out),
        report,
    )
    return PooledData(
        dataset=spec.id,
        seed=seed,
        feature_names=spec.schema.feature_names,
        cleaning=report,
        train=train,
        held_out=held_out,
    )


def load_public_test(dataset_id: str) -> PublicTestData:
    """The dataset's official test split; :class:`NoPublicTestSplitError` if none."""
    spec = get_dataset(dataset_id)
    if not spec.has_public_test:
        raise NoPublicTestSplitError(spec.id)
    raw = _raw(dataset_id, "test")
    cleaned, report = _clean(spec, raw.frame, raw.fixes_at())
    logger.info("%s public test: %d records; %s", spec.id, len(cleaned), report)
    return PublicTestData(
        dataset=spec.id,
        feature_names=spec.schema.feature_names,
        cleaning=report,
        test=_encode(spec, cleaned),
    )


def _prepare(
    spec: DatasetSpec,
    frame: pd.DataFrame,
    fixes: list[CleaningAction],
    *,
    seed: int,
    held_out_fraction: float,
    validated: bool = False,
) -> tuple[EncodedSplit, EncodedSplit, CleaningReport]:
    cleaned, report = _clean(spec, frame, fixes, validated=validated)
    keys = cleaned.index if spec.split_key is None else cleaned[spec.split_key]
    held = held_out_mask(keys, seed=seed, fraction=held_out_fraction)
    return _encode(spec, cleaned[~held]), _encode(spec, cleaned[held]), report


def _clean(
    spec: DatasetSpec,
    frame: pd.DataFrame,
    fixes: list[CleaningAction],
    *,
    validated: bool = False,
) -> tuple[pd.DataFrame, CleaningReport]:
    """``validated``: checked at its source already, not again in memory."""
    if not validated:
        validate(spec.schema, frame)
    cleaned, report = clean(spec.schema, frame)
    return cleaned, CleaningReport(spec.id, (*fixes, *report.actions))


def _encode(spec: DatasetSpec, records: pd.DataFrame) -> EncodedSplit:
    return EncodedSplit(
        X=encode_features(spec.schema, records),
        y=encode_labels(spec.schema, records),
        records=records,
    )


@cache
def _raw(dataset_id: str, split: Split) -> RawTable:
    """A parsed file, read once per process. Callers never modify its frame."""
    reader = get_dataset(dataset_id).reader
    if reader is None:
        raise ConfigurationError(
            "source",
            f"dataset {dataset_id!r} has no built-in records: every department "
            "loads its own source (load_department(..., source=...))",
        )
    return reader(split)


def preload_records(dataset_id: str, partition: PartitionSpec = "natural") -> bool:
    """Read a built-in dataset's training file and split it by ``partition`` now.

    What a department's first :func:`load_department` of ``dataset_id``
    spends most of its time on, done ahead (a long-lived department process
    at start, not during its first message); later loads take its share from
    memory. Returns ``False`` (nothing read) for a dataset without built-in
    records, whose departments read their own sources.
    """
    if get_dataset(dataset_id).reader is None:
        return False
    _assignment(dataset_id, partition)
    return True


@lru_cache(maxsize=32)
def _assignment(dataset_id: str, partition: PartitionSpec) -> Assignment:
    """Which rows of the training file each department holds, computed once."""
    spec = get_dataset(dataset_id)
    frame = _raw(dataset_id, "train").frame
    schema = spec.schema
    dirichlet = as_dirichlet(partition)
    if dirichlet is not None:
        if isinstance(schema.label, RegressionTarget):
            raise ConfigurationError(
                "partition",
                f"a Dirichlet partition splits by class label; {spec.id!r} is a "
                "regression task",
            )
        # Every label must be valid before Flower splits by it.
        validate_column(schema, frame, schema.label.column)
        return dirichlet_assignment(schema.label.apply(frame), dirichlet)
    natural = spec.natural_partition
    assert natural is not None  # department_ids checked it
    column = schema.column(natural.column)
    validate_column(schema, frame, column.name)
    values = frame[column.name]
    if column.missing is MissingPolicy.IMPUTE:
        values = values.fillna(column.fill_value)
    departments = values.map(natural.department_of).to_numpy(dtype=str)
    return natural_assignment(departments)
