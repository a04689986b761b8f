"""The dataset catalog: the built-in declarations and any declaration file.

A dataset is named by a built-in id (``randhie``, ``adult``: declarations
shipped in ``fedgov/data/declarations/`` with readers of the files an
installed package ships) or by the path of a declaration file (``*.yaml``),
whose departments read their own sources. Both give the same typed
:class:`~fedgov.data.spec.DatasetSpec`.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Final

from fedgov.data import _adult, _randhie
from fedgov.data.declaration import load_declaration
from fedgov.data.errors import SchemaRuleError, UnknownDatasetError
from fedgov.data.partition import PartitionSpec, as_dirichlet
from fedgov.types import DatasetId, DepartmentId

if TYPE_CHECKING:
    from fedgov.data.spec import DatasetSpec, Reader

__all__ = ["BUILT_IN_DECLARATIONS", "department_ids", "get_dataset", "list_datasets"]

BUILT_IN_DECLARATIONS: Final = Path(__file__).with_name("declarations")
"""The folder of the built-in declarations, ``<id>.yaml`` each."""

_READERS: Final[dict[DatasetId, Reader]] = {
    DatasetId("randhie"): _randhie.read,
    DatasetId("adult"): _adult.read,
}
_DECLARATION_SUFFIXES: Final = (".yaml", ".yml")


def list_datasets() -> tuple[DatasetId, ...]:
    """The ids of the built-in datasets, sorted."""
    return tuple(sorted(_READERS))


def get_dataset(dataset: str) -> DatasetSpec:
    """The dataset ``dataset`` names: a built-in id or a declaration file's path.

    :class:`UnknownDatasetError` if it is neither; a
    :class:`~fedgov.data.errors.DeclarationError` if the file breaks a rule.
    """
    if dataset in _READERS:
        return _built_in(DatasetId(dataset))
    if dataset.endswith(_DECLARATION_SUFFIXES):
        path = Path(dataset).expanduser()
        try:
            stat = path.stat()
        except OSError:
            # load_declaration reports the unreadable file with its reason.
            return load_declaration(path)
        # Re-read when the file changes: a data officer edits and re-checks.
        return _declared(path, path.resolve(), stat.st_mtime_ns, stat.st_size)
    raise UnknownDatasetError(dataset, _READERS)


def department_ids(
    dataset: str, partition: PartitionSpec = "natural"
) -> tuple[DepartmentId, ...]:
    """The departments of ``partition``, in order: department ``k`` is Flower's
    partition id ``k``."""
    spec = get_dataset(dataset)
    dirichlet = as_dirichlet(partition)
    if dirichlet is not None:
        return dirichlet.department_ids
    if spec.natural_partition is None:
        raise SchemaRuleError(
            "partition",
            f"dataset {spec.id!r} declares no natural partition: its departments "
            "are the ones given sources",
        )
    return spec.departments


@cache
def _built_in(dataset: DatasetId) -> DatasetSpec:
    spec = load_declaration(
        BUILT_IN_DECLARATIONS / f"{dataset}.yaml", reader=_READERS[dataset]
    )
    if spec.id != dataset:
        raise SchemaRuleError(
            str(spec.declaration), f"declares {spec.id!r}, expected {dataset!r}"
        )
    return spec


@lru_cache(maxsize=64)
def _declared(path: Path, resolved: Path, mtime_ns: int, size: int) -> DatasetSpec:
    """``path`` as given (errors name it so); the other arguments key the cache."""
    del resolved, mtime_ns, size
    return load_declaration(path)
