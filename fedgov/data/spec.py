"""What the catalog knows about a dataset: schema, provenance, task, departments.

A :class:`DatasetSpec` is metadata plus a reader of the files an installed
package ships. Readers only parse: they never validate, clean or drop; a fix
they must make to a file's format to read it (Adult's test labels end in a
``.``) is a :class:`SourceFix`, counted per row like any cleaning rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from fedgov.data.cleaning import CleaningAction
from fedgov.data.schema import Category, ColumnKind, ColumnRole, DatasetSchema
from fedgov.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from fedgov.types import DatasetId, DepartmentId

__all__ = [
    "DatasetSpec",
    "DepartmentGroup",
    "NaturalPartition",
    "RawTable",
    "SourceFix",
    "Split",
]

Split = Literal["train", "test"]
"""A file of a dataset: the records departments hold, or the public test split."""


@dataclass(frozen=True, eq=False)
class SourceFix:
    """A format fix a reader made to ``column`` in the rows flagged by ``rows``."""

    column: str
    rule: str
    rows: npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class RawTable:
    """A parsed file: every record, labelled by its original row label."""

    frame: pd.DataFrame
    fixes: tuple[SourceFix, ...] = ()

    def fixes_at(
        self, positions: npt.NDArray[np.int64] | None = None
    ) -> list[CleaningAction]:
        """The fixes made to the rows at ``positions`` (``None``: all), counted."""
        actions = []
        for fix in self.fixes:
            flagged = fix.rows if positions is None else fix.rows[positions]
            count = int(np.count_nonzero(flagged))
            if count:
                actions.append(CleaningAction(fix.column, fix.rule, count))
        return actions


@dataclass(frozen=True)
class DepartmentGroup:
    """The values of the partition column whose records ``department`` holds."""

    department: DepartmentId
    values: tuple[Category, ...]


@dataclass(frozen=True)
class NaturalPartition:
    """A dataset's real departments: groups of values of one column.

    ``groups`` are sorted by department id, the order in which Flower's
    ``NaturalIdPartitioner`` numbers them; ``description`` says why the
    grouping is what it is (which small categories were merged).
    """

    column: str
    groups: tuple[DepartmentGroup, ...]
    description: str

    def __post_init__(self) -> None:
        departments = [g.department for g in self.groups]
        if not departments or departments != sorted(set(departments)):
            raise ConfigurationError(
                "natural_partition",
                "needs unique department ids listed in sorted order",
            )
        values = [v for g in self.groups for v in g.values]
        if len(values) != len(set(values)):
            raise ConfigurationError(
                "natural_partition",
                "a value of the partition column maps to one department",
            )

    @property
    def departments(self) -> tuple[DepartmentId, ...]:
        return tuple(g.department for g in self.groups)

    @property
    def department_of(self) -> dict[Category, DepartmentId]:
        return {v: g.department for g in self.groups for v in g.values}


@dataclass(frozen=True, kw_only=True)
class DatasetSpec:
    """One dataset of the catalog.

    ``split_key`` names the column whose value decides a record's train /
    held-out side (``None``: the record's own row label), see
    :mod:`fedgov.data.splitting`. ``reader`` parses one of the dataset's files.
    """

    id: DatasetId
    title: str
    schema: DatasetSchema
    source: str
    licence: str
    task: str
    natural_partition: NaturalPartition
    split_key: str | None
    has_public_test: bool
    reader: Callable[[Split], RawTable] = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"dataset {self.id!r}"
        if self.schema.dataset != self.id:
            raise ConfigurationError(where, "its schema is another dataset's")
        natural = self.natural_partition
        if natural.column not in self.schema:
            raise ConfigurationError(
                where, f"partition column {natural.column!r} is undeclared"
            )
        column = self.schema.column(natural.column)
        if (
            not column.has_role(ColumnRole.PARTITION)
            or column.kind is not ColumnKind.CATEGORICAL
        ):
            raise ConfigurationError(
                where,
                f"partition column {column.name!r} must be categorical, role PARTITION",
            )
        if set(natural.department_of) != set(column.categories):
            raise ConfigurationError(
                where,
                f"the natural partition must cover every category of {column.name!r}",
            )
        if self.split_key is not None and self.split_key not in self.schema:
            raise ConfigurationError(
                where, f"split key {self.split_key!r} is undeclared"
            )

    @property
    def departments(self) -> tuple[DepartmentId, ...]:
        """The natural departments, in order: department ``k`` is partition id ``k``."""
        return self.natural_partition.departments

    @property
    def label_definition(self) -> str:
        return self.schema.label.description
