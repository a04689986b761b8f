"""Which department holds which record: Flower's partitioners over the raw rows.

Two schemes. ``"natural"``: a dataset's declared grouping of a real column
(RandHIE's study site, Adult's class of worker), assigned with Flower's
``NaturalIdPartitioner``. :class:`DirichletPartition`: a label-skewed split
into ``dept-0`` ... ``dept-{n-1}`` with Flower's ``DirichletPartitioner``
(per label, department shares are drawn from Dirichlet(alpha); small alpha
means strongly skewed departments). Both are deterministic: natural ids are
sorted, and the Dirichlet draw is seeded.

Department ``k`` of a partition is Flower's partition id ``k``, so a
simulated node with ``partition-id`` ``k`` loads ``department_ids[k]``.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from fedgov.errors import ConfigurationError
from fedgov.types import DepartmentId

__all__ = [
    "DirichletPartition",
    "PartitionSpec",
    "as_dirichlet",
    "dirichlet_assignment",
    "flower_partitioners",
    "natural_assignment",
]

logger = logging.getLogger(__name__)

Assignment = dict[DepartmentId, npt.NDArray[np.int64]]
"""Department id -> sorted row positions (``iloc``) of its records."""

_POSITION = "position"


@dataclass(frozen=True, kw_only=True)
class DirichletPartition:
    """A label-skewed partition into ``num_departments`` synthetic departments.

    ``seed`` fixes the draw, so the same spec always yields the same
    departments; it is independent of the train/held-out split seed. Flower
    redraws (at most 10 times) until every department holds at least
    ``min_partition_size`` records; ``self_balancing`` stops feeding a
    department once it holds its even share.
    """

    num_departments: int
    alpha: float
    seed: int
    min_partition_size: int = 10
    self_balancing: bool = False

    def __post_init__(self) -> None:
        if self.num_departments < 1:
            raise ConfigurationError("num_departments", "must be at least 1")
        if not (math.isfinite(self.alpha) and self.alpha > 0):
            raise ConfigurationError(
                "alpha", f"must be a finite number > 0, got {self.alpha}"
            )
        if self.seed < 0:
            raise ConfigurationError("seed", f"must be >= 0, got {self.seed}")
        if self.min_partition_size < 0:
            raise ConfigurationError("min_partition_size", "must be >= 0")

    @property
    def department_ids(self) -> tuple[DepartmentId, ...]:
        return tuple(DepartmentId(f"dept-{k}") for k in range(self.num_departments))

    def __str__(self) -> str:
        return (
            f"dirichlet(num_departments={self.num_departments}, alpha={self.alpha:g}, "
            f"seed={self.seed}, min_partition_size={self.min_partition_size})"
        )


PartitionSpec = Literal["natural"] | DirichletPartition
"""``"natural"`` (the dataset's own departments) or a :class:`DirichletPartition`."""


def as_dirichlet(partition: PartitionSpec) -> DirichletPartition | None:
    """``partition`` if it is a Dirichlet one, ``None`` if natural; else an error."""
    if isinstance(partition, DirichletPartition):
        return partition
    if partition == "natural":
        return None
    raise ConfigurationError(
        "partition", f"must be 'natural' or a DirichletPartition, got {partition!r}"
    )


def natural_assignment(department_of_row: npt.NDArray[np.str_]) -> Assignment:
    """Group rows by their department id with Flower's ``NaturalIdPartitioner``.

    Departments with no row are absent from the result.
    """
    partitioner = flower_partitioners().NaturalIdPartitioner(partition_by="department")
    partitioner.dataset = _positions_dataset(department=department_of_row.astype(str))
    # Flower fills the id mapping lazily; num_partitions triggers it.
    count = int(partitioner.num_partitions)
    natural_ids: dict[int, str] = partitioner.partition_id_to_natural_id
    return {
        DepartmentId(str(natural_ids[k])): _positions(partitioner.load_partition(k))
        for k in range(count)
    }


def dirichlet_assignment(
    labels: npt.NDArray[np.int64], spec: DirichletPartition
) -> Assignment:
    """Split rows by label with Flower's ``DirichletPartitioner`` as ``spec`` says."""
    try:
        partitioner = flower_partitioners().DirichletPartitioner(
            num_partitions=spec.num_departments,
            partition_by="label",
            alpha=float(spec.alpha),
            min_partition_size=spec.min_partition_size,
            self_balancing=spec.self_balancing,
            shuffle=True,
            seed=spec.seed,
        )
        partitioner.dataset = _positions_dataset(label=labels)
        # Flower warns on every redraw; one log line says it instead.
        with warnings.catch_warnings(record=True) as redraws:
            warnings.simplefilter("always")
            assignment = {
                department: _positions(partitioner.load_partition(k))
                for k, department in enumerate(spec.department_ids)
            }
    except ValueError as e:
        raise ConfigurationError(
            "partition",
            f"{spec} cannot be drawn over {len(labels)} records: {e} "
            "(raise alpha, lower min_partition_size or use fewer departments)",
        ) from e
    if redraws:
        logger.info(
            "%s: Flower redrew the Dirichlet split %d times", spec, len(redraws)
        )
    return assignment


def flower_partitioners() -> Any:
    """Flower's partitioners, imported on first use (``datasets`` takes seconds).

    A long-lived process that will split records (a department service) calls
    it at start, so that its first message does not pay the import.
    """
    import flwr_datasets.partitioner  # type: ignore[import-untyped]

    return flwr_datasets.partitioner


def _positions_dataset(**columns: npt.NDArray[Any]) -> Any:
    """A Hugging Face ``Dataset`` of one partitioning column and each row's position."""
    from datasets import Dataset  # type: ignore[import-untyped]

    size = len(next(iter(columns.values())))
    return Dataset.from_dict({**columns, _POSITION: np.arange(size, dtype=np.int64)})


def _positions(partition: Any) -> npt.NDArray[np.int64]:
    positions = np.sort(np.asarray(partition[_POSITION], dtype=np.int64))
    positions.flags.writeable = False
    return positions
