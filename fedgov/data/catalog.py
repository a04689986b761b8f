"""The dataset catalog: which datasets exist and who their departments are."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedgov.data import _adult, _randhie
from fedgov.data.errors import UnknownDatasetError
from fedgov.data.partition import PartitionSpec, as_dirichlet
from fedgov.types import DatasetId, DepartmentId

if TYPE_CHECKING:
    from fedgov.data.spec import DatasetSpec

__all__ = ["department_ids", "get_dataset", "list_datasets"]

_CATALOG: dict[DatasetId, DatasetSpec] = {
    spec.id: spec for spec in (_randhie.SPEC, _adult.SPEC)
}


def list_datasets() -> tuple[DatasetId, ...]:
    """The ids of every dataset in the catalog, sorted."""
    return tuple(sorted(_CATALOG))


def get_dataset(dataset_id: str) -> DatasetSpec:
    """The catalog entry of ``dataset_id``; :class:`UnknownDatasetError` if none."""
    try:
        return _CATALOG[DatasetId(dataset_id)]
    except KeyError:
        raise UnknownDatasetError(dataset_id, _CATALOG) from None


def department_ids(
    dataset_id: str, partition: PartitionSpec = "natural"
) -> tuple[DepartmentId, ...]:
    """The departments of ``partition``, in order: department ``k`` is Flower's
    partition id ``k``."""
    spec = get_dataset(dataset_id)
    dirichlet = as_dirichlet(partition)
    return spec.departments if dirichlet is None else dirichlet.department_ids
