"""The data layer's errors: one root, :class:`DataError`, and its kinds.

Every problem found in the records themselves (a missing column, a value out
of its declared range, an unknown category, an empty partition, an unknown
dataset or department) is a :class:`DataValidationError` carrying ``dataset``,
``column``, ``row`` and ``reason`` as attributes, so that a caller can act on
the data rather than parse the message. ``row`` is the record's original label
(RandHIE's R row name, ``"adult.data:17"`` for line 17 of Adult's training
file), never a position that shifts once a frame is sliced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fedgov.errors import FedgovError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "DataError",
    "DataSourceUnavailableError",
    "DataValidationError",
    "EmptyPartitionError",
    "NoPublicTestSplitError",
    "RowLabel",
    "UnknownDatasetError",
    "UnknownDepartmentError",
]

RowLabel = str | int
"""A record's original label: an R row name or ``"<file>:<line>"``."""


class DataError(FedgovError):
    """Base class of every error raised by :mod:`fedgov.data`."""


class DataValidationError(DataError, ValueError):
    """Records, or a request for records, break a rule of the dataset's schema.

    ``column`` and ``row`` are ``None`` where the problem is not tied to one
    (a missing column has no row; an unknown dataset has neither).
    """

    def __init__(
        self,
        dataset: str,
        column: str | None,
        row: RowLabel | None,
        reason: str,
    ) -> None:
        # Labels read off a pandas index may be NumPy scalars; show them plainly.
        plain_row = row.item() if isinstance(row, np.generic) else row
        self.dataset = dataset
        self.column = column
        self.row: RowLabel | None = plain_row
        self.reason = reason
        where = [f"dataset {dataset!r}"]
        if column is not None:
            where.append(f"column {column!r}")
        if plain_row is not None:
            where.append(f"row {plain_row!r}")
        super().__init__(f"{', '.join(where)}: {reason}")


class UnknownDatasetError(DataValidationError, LookupError):
    """No dataset of that id is in the catalog; ``known`` lists those that are."""

    def __init__(self, dataset: str, known: Iterable[str]) -> None:
        self.known = tuple(sorted(known))
        super().__init__(
            dataset, None, None, f"unknown dataset; known: {', '.join(self.known)}"
        )


class UnknownDepartmentError(DataValidationError, LookupError):
    """The partition has no department of that id; ``known`` lists its departments."""

    def __init__(self, dataset: str, department: str, known: Iterable[str]) -> None:
        self.department = department
        self.known = tuple(known)
        super().__init__(
            dataset,
            None,
            None,
            f"unknown department {department!r} in this partition; "
            f"known: {', '.join(self.known)}",
        )


class EmptyPartitionError(DataValidationError):
    """A department's partition holds no records at all."""

    def __init__(self, dataset: str, department: str, partition: str) -> None:
        self.department = department
        self.partition = partition
        super().__init__(
            dataset,
            None,
            None,
            f"department {department!r} holds no records under the {partition} "
            "partition; a department must hold at least one record",
        )


class NoPublicTestSplitError(DataError, LookupError):
    """The dataset ships no public test split for the coordinator to evaluate on."""

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        super().__init__(
            f"dataset {dataset!r} has no public test split; evaluate on the "
            "departments' held-out splits instead"
        )


class DataSourceUnavailableError(DataError):
    """The installed package that ships a dataset's files is missing or broken.

    ``install`` is the command that makes it available.
    """

    def __init__(self, dataset: str, package: str, install: str, detail: str) -> None:
        self.dataset = dataset
        self.package = package
        self.install = install
        self.detail = detail
        super().__init__(
            f"dataset {dataset!r} is read from the package {package!r}, which "
            f"{detail}; install it with: {install}"
        )
