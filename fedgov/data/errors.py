"""The data layer's errors: one root, :class:`DataError`, and its kinds.

Every problem found in the records themselves (a missing column, a value out
of its declared range, an unknown category, an empty table) is a
:class:`DataValidationError` carrying ``dataset``, ``department``,
``source``, ``column``, ``row`` and ``reason`` as attributes, so that a caller
can act on the data rather than parse the message. ``row`` is the record's
original label (RandHIE's R row name, ``"adult.data:17"`` for line 17 of
Adult's training file, the record's 1-based position in a department's
source), never a position that shifts once a frame is sliced.

Every error class has a stable :attr:`DataError.reason_class`, a
:class:`DataErrorReason` that a department node can put in a refusal reply
without sending the message itself. Messages never hold a password (sources
are shown redacted) nor the value of a SENSITIVE or CORE column.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from fedgov.errors import ConfigurationError, FedgovError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "DataError",
    "DataErrorReason",
    "DataSourceUnavailableError",
    "DataValidationError",
    "DeclarationError",
    "EmptyPartitionError",
    "EmptyTableError",
    "MissingColumnError",
    "MissingValueError",
    "NoPublicTestSplitError",
    "NonFiniteValueError",
    "OutOfRangeError",
    "RowLabel",
    "SchemaRuleError",
    "SourceConnectionError",
    "SourceSpecError",
    "SourceUnreadableError",
    "UndeclaredColumnError",
    "UnknownCategoryError",
    "UnknownDatasetError",
    "UnknownDepartmentError",
    "WrongTypeError",
]

RowLabel = str | int
"""A record's original label: an R row name, ``"<file>:<line>"`` or a position."""


class DataErrorReason(StrEnum):
    """Why records were refused, in a form stable enough for a protocol reply."""

    INVALID_DECLARATION = "invalid-declaration"
    INVALID_SOURCE = "invalid-source"
    UNKNOWN_DATASET = "unknown-dataset"
    UNKNOWN_DEPARTMENT = "unknown-department"
    SOURCE_UNAVAILABLE = "source-unavailable"
    SOURCE_UNREADABLE = "source-unreadable"
    SOURCE_UNREACHABLE = "source-unreachable"
    NO_PUBLIC_TEST = "no-public-test"
    MISSING_COLUMN = "missing-column"
    UNDECLARED_COLUMN = "undeclared-column"
    EMPTY_TABLE = "empty-table"
    WRONG_TYPE = "wrong-type"
    MISSING_VALUE = "missing-value"
    NON_FINITE = "non-finite"
    OUT_OF_RANGE = "out-of-range"
    UNKNOWN_CATEGORY = "unknown-category"
    INVALID_RECORDS = "invalid-records"


class DataError(FedgovError):
    """Base class of every error raised by :mod:`fedgov.data`."""

    reason_class: ClassVar[DataErrorReason] = DataErrorReason.INVALID_RECORDS


class SchemaRuleError(ConfigurationError):
    """A schema object breaks a rule; ``field`` names the offending field.

    Raised by the dataclasses of :mod:`fedgov.data.schema` and
    :mod:`fedgov.data.spec`; the declaration loader turns ``field`` into the
    key path of the file (``columns[3].bounds``).
    """

    def __init__(self, argument: str, rule: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(argument, rule)


class DeclarationError(ConfigurationError, DataError):
    """A dataset declaration file breaks a rule.

    ``file`` is the file (or ``"<text>"``), ``key`` the key path in it
    (``columns[3].bounds``; empty for the whole document), ``line`` its line
    (1-based, ``None`` when unknown) and ``rule`` what is wrong.
    """

    reason_class = DataErrorReason.INVALID_DECLARATION

    def __init__(self, file: str, key: str, rule: str, *, line: int | None) -> None:
        self.file = file
        self.key = key
        self.line = line
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {key}" if key else where, rule)


class SourceSpecError(ConfigurationError, DataError):
    """A department's source string is malformed (shown with its password redacted)."""

    reason_class = DataErrorReason.INVALID_SOURCE


class DataValidationError(DataError, ValueError):
    """Records, or a request for records, break a rule of the dataset's schema.

    ``column`` and ``row`` are ``None`` where the problem is not tied to one
    (a missing column has no row; an unknown dataset has neither);
    ``department`` and ``source`` (redacted) where they are known.
    """

    def __init__(
        self,
        dataset: str,
        column: str | None,
        row: RowLabel | None,
        reason: str,
        *,
        department: str | None = None,
        source: str | None = None,
    ) -> None:
        # Labels read off a pandas index may be NumPy scalars; show them plainly.
        plain_row = row.item() if isinstance(row, np.generic) else row
        self.dataset = dataset
        self.department = department
        self.source = source
        self.column = column
        self.row: RowLabel | None = plain_row
        self.reason = reason
        where = [f"dataset {dataset!r}"]
        if department is not None:
            where.append(f"department {department!r}")
        if source is not None:
            where.append(f"source {source}")
        if column is not None:
            where.append(f"column {column!r}")
        if plain_row is not None:
            where.append(f"row {plain_row!r}")
        super().__init__(f"{', '.join(where)}: {reason}")


class MissingColumnError(DataValidationError):
    """A declared column is absent from the records."""

    reason_class = DataErrorReason.MISSING_COLUMN


class UndeclaredColumnError(DataValidationError):
    """The records hold a column the declaration does not list."""

    reason_class = DataErrorReason.UNDECLARED_COLUMN


class EmptyTableError(DataValidationError):
    """The records hold no row at all."""

    reason_class = DataErrorReason.EMPTY_TABLE


class WrongTypeError(DataValidationError):
    """A value, or a whole typed column, is not of the declared kind."""

    reason_class = DataErrorReason.WRONG_TYPE


class MissingValueError(DataValidationError):
    """A value is missing where the column's policy is ``error``."""

    reason_class = DataErrorReason.MISSING_VALUE


class NonFiniteValueError(DataValidationError):
    """A number is NaN or infinite."""

    reason_class = DataErrorReason.NON_FINITE


class OutOfRangeError(DataValidationError):
    """A number lies outside the declared bounds (or a binary is not 0 or 1)."""

    reason_class = DataErrorReason.OUT_OF_RANGE


class UnknownCategoryError(DataValidationError):
    """A value is none of the column's declared categories."""

    reason_class = DataErrorReason.UNKNOWN_CATEGORY


class UnknownDatasetError(DataValidationError, LookupError):
    """No dataset of that id is in the catalog; ``known`` lists those that are."""

    reason_class = DataErrorReason.UNKNOWN_DATASET

    def __init__(self, dataset: str, known: Iterable[str]) -> None:
        self.known = tuple(sorted(known))
        super().__init__(
            dataset,
            None,
            None,
            f"unknown dataset; known: {', '.join(self.known)} "
            "(or give the path of a declaration file, ending in .yaml)",
        )


class UnknownDepartmentError(DataValidationError, LookupError):
    """The partition has no department of that id; ``known`` lists its departments."""

    reason_class = DataErrorReason.UNKNOWN_DEPARTMENT

    def __init__(self, dataset: str, department: str, known: Iterable[str]) -> None:
        self.known = tuple(known)
        super().__init__(
            dataset,
            None,
            None,
            f"unknown department {department!r} in this partition; "
            f"known: {', '.join(self.known)}",
        )
        # After super(): the base sets ``department`` to None for its message.
        self.department = department


class EmptyPartitionError(EmptyTableError):
    """A department's partition holds no records at all."""

    def __init__(self, dataset: str, department: str, partition: str) -> None:
        self.partition = partition
        super().__init__(
            dataset,
            None,
            None,
            f"department {department!r} holds no records under the {partition} "
            "partition; a department must hold at least one record",
        )
        self.department = department


class NoPublicTestSplitError(DataError, LookupError):
    """The dataset ships no public test split for the coordinator to evaluate on."""

    reason_class = DataErrorReason.NO_PUBLIC_TEST

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        super().__init__(
            f"dataset {dataset!r} has no public test split; evaluate on the "
            "departments' held-out splits instead"
        )


class DataSourceUnavailableError(DataError):
    """An installed package that fedgov reads records with is missing or broken.

    ``package`` is the package, ``install`` the command that makes it available.
    """

    reason_class = DataErrorReason.SOURCE_UNAVAILABLE

    def __init__(self, dataset: str, package: str, install: str, detail: str) -> None:
        self.dataset = dataset
        self.package = package
        self.install = install
        self.detail = detail
        super().__init__(
            f"dataset {dataset!r} is read from the package {package!r}, which "
            f"{detail}; install it with: {install}"
        )


class _SourceError(DataError):
    """A department's source could not be read: ``source`` is shown redacted."""

    def __init__(
        self, source: str, detail: str, *, department: str | None = None
    ) -> None:
        self.source = source
        self.department = department
        self.detail = detail
        who = "" if department is None else f"department {department!r}, "
        super().__init__(f"{who}source {source}: {detail}")


class SourceUnreadableError(_SourceError):
    """The file or table does not exist, cannot be opened or is not what it claims."""

    reason_class = DataErrorReason.SOURCE_UNREADABLE


class SourceConnectionError(_SourceError):
    """The database refused the connection (down, wrong host, port or credentials)."""

    reason_class = DataErrorReason.SOURCE_UNREACHABLE
