"""What a dataset declaration says: schema, task, unit of privacy, provenance, departments.

A :class:`DatasetSpec` is read from a declaration file
(:mod:`fedgov.data.declaration`); a built-in dataset adds a reader of the
files an installed package ships. Readers only parse: they never validate, clean or drop; a fix
they must make to a file's format to read it (Adult's test labels end in a
``.``) is a :class:`SourceFix`, counted per row like any cleaning rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from fedgov.data.cleaning import CleaningAction
from fedgov.data.errors import SchemaRuleError
from fedgov.data.schema import Category, ColumnKind, ColumnRole, DatasetSchema

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from fedgov.data.task import TaskKind
    from fedgov.types import DatasetId, DepartmentId

__all__ = [
    "DatasetSpec",
    "DepartmentGroup",
    "NaturalPartition",
    "RawTable",
    "Reader",
    "Retention",
    "SourceFix",
    "Split",
    "UnitOfPrivacy",
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
            raise SchemaRuleError(
                "natural_partition",
                "needs unique department ids listed in sorted order",
                field="natural_partition.departments",
            )
        values = [v for g in self.groups for v in g.values]
        if len(values) != len(set(values)):
            raise SchemaRuleError(
                "natural_partition",
                "a value of the partition column maps to one department",
                field="natural_partition.departments",
            )

    @property
    def departments(self) -> tuple[DepartmentId, ...]:
        return tuple(g.department for g in self.groups)

    @property
    def department_of(self) -> dict[Category, DepartmentId]:
        return {v: g.department for g in self.groups for v in g.values}


@dataclass(frozen=True, kw_only=True)
class Retention:
    """How long a department may keep the dataset's records: ``days`` from when
    it first holds them; past that they are destroyed (``fedgov data destroy``).
    ``description`` cites the rule (a records schedule, a data-sharing agreement).
    """

    days: int
    description: str

    def __post_init__(self) -> None:
        if (
            isinstance(self.days, bool)
            or not isinstance(self.days, int)
            or self.days < 1
        ):
            raise SchemaRuleError(
                "retention",
                f"days must be an integer >= 1, got {self.days!r}",
                field="retention.days",
            )
        if not self.description.strip():
            raise SchemaRuleError(
                "retention",
                "say which rule sets the period",
                field="retention.description",
            )


@dataclass(frozen=True, kw_only=True)
class UnitOfPrivacy:
    """Who differential privacy protects: one person.

    ``column`` identifies a person (a DIRECT_IDENTIFIER column) when a person
    may have several records, at most ``max_records_per_unit`` of which any
    aggregate counts; ``None`` declares one record per person.
    """

    column: str | None
    max_records_per_unit: int = 1

    def __post_init__(self) -> None:
        records = self.max_records_per_unit
        if isinstance(records, bool) or not isinstance(records, int) or records < 1:
            raise SchemaRuleError(
                "unit_of_privacy",
                f"max_records_per_unit must be an integer >= 1, got {records!r}",
                field="unit_of_privacy.max_records_per_unit",
            )
        if self.column is None and records != 1:
            raise SchemaRuleError(
                "unit_of_privacy",
                "one record per person means max_records_per_unit 1",
                field="unit_of_privacy.max_records_per_unit",
            )

    @property
    def one_record_per_person(self) -> bool:
        return self.column is None


Reader = Callable[[Split], RawTable]
"""Parses one of a built-in dataset's files, as an installed package ships it."""


@dataclass(frozen=True, kw_only=True)
class DatasetSpec:
    """One declared dataset: schema, task, unit of privacy, provenance, departments.

    ``split_key`` names the column whose value decides a record's train /
    held-out side (``None``: the record's own row label), see
    :mod:`fedgov.data.splitting`; with a person column in ``unit`` it must be
    that column, so that one person's records are never on both sides.
    ``natural_partition`` is the dataset's own grouping into departments, if it
    has one. ``reader`` parses a built-in dataset's files (``None``: every
    department reads its own source). ``declaration`` is the file the spec was
    read from; ``digest`` is the SHA-256 of what it declares
    (:func:`~fedgov.data.declaration.declaration_digest`), by which the
    coordinator and each department check that they hold the same contract.
    """

    id: DatasetId
    title: str
    schema: DatasetSchema
    source: str
    licence: str
    task: str
    unit: UnitOfPrivacy
    natural_partition: NaturalPartition | None
    split_key: str | None
    has_public_test: bool
    retention: Retention | None = None
    """How long departments may keep the records (``None``: no period declared)."""
    reader: Reader | None = field(default=None, repr=False, compare=False)
    declaration: Path | None = field(default=None, compare=False)
    digest: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        where = f"dataset {self.id!r}"
        if self.schema.dataset != self.id:
            raise SchemaRuleError(
                where, "its schema is another dataset's", field="name"
            )
        if self.natural_partition is not None:
            self._check_partition(self.natural_partition)
        if self.split_key is not None and self.split_key not in self.schema:
            raise SchemaRuleError(
                where, f"split key {self.split_key!r} is undeclared", field="split_key"
            )
        person = self.unit.column
        if person is not None:
            if person not in self.schema:
                raise SchemaRuleError(
                    where,
                    f"the unit of privacy's column {person!r} is undeclared",
                    field="unit_of_privacy.column",
                )
            if not self.schema.column(person).has_role(ColumnRole.DIRECT_IDENTIFIER):
                raise SchemaRuleError(
                    where,
                    f"the unit of privacy's column {person!r} identifies a person: "
                    "its role is direct_identifier",
                    field="unit_of_privacy.column",
                )
            if self.split_key != person:
                raise SchemaRuleError(
                    where,
                    f"the split key must be the person column {person!r}, so that one "
                    "person's records are never on both sides of the split",
                    field="split_key",
                )
        if self.has_public_test and self.reader is None:
            raise SchemaRuleError(
                where,
                "only a built-in dataset read from an installed package has a public "
                "test split",
                field="public_test",
            )

    def _check_partition(self, natural: NaturalPartition) -> None:
        where = f"dataset {self.id!r}"
        if natural.column not in self.schema:
            raise SchemaRuleError(
                where,
                f"partition column {natural.column!r} is undeclared",
                field="natural_partition.column",
            )
        column = self.schema.column(natural.column)
        if (
            not column.has_role(ColumnRole.PARTITION)
            or column.kind is not ColumnKind.CATEGORICAL
        ):
            raise SchemaRuleError(
                where,
                f"partition column {column.name!r} must be categorical, role PARTITION",
                field="natural_partition.column",
            )
        if set(natural.department_of) != set(column.categories):
            raise SchemaRuleError(
                where,
                f"the natural partition must cover every category of {column.name!r}",
                field="natural_partition.departments",
            )

    @property
    def departments(self) -> tuple[DepartmentId, ...]:
        """The natural departments, in order: department ``k`` is partition id ``k``.

        Empty when the dataset has no natural partition (its departments are
        those given sources).
        """
        if self.natural_partition is None:
            return ()
        return self.natural_partition.departments

    @property
    def task_kind(self) -> TaskKind:
        return self.schema.label.kind

    @property
    def label_definition(self) -> str:
        return self.schema.label.description
