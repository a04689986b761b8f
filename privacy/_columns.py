"""What the data-protection checks need to know about a dataset's columns.

The catalog's ``fedgov.data.schema.ColumnSpec`` satisfies :class:`ColumnInfo`
(so does a ``DatasetSchema``, iterated); tests and callers with no catalog
entry can pass any object with these three attributes.
"""

from __future__ import annotations

from typing import Protocol

from fedgov.data import Classification, ColumnRole

__all__ = ["ColumnInfo", "leaves_only_privately", "may_be_aggregated"]

_NEVER_EXACT = frozenset({Classification.SENSITIVE, Classification.CORE})


class ColumnInfo(Protocol):
    """A column's name, data-protection class and roles."""

    @property
    def name(self) -> str: ...

    @property
    def classification(self) -> Classification: ...

    @property
    def roles(self) -> frozenset[ColumnRole]: ...


def leaves_only_privately(column: ColumnInfo) -> bool:
    """SENSITIVE and CORE columns: never named, never an exact value or aggregate."""
    return column.classification in _NEVER_EXACT


def may_be_aggregated(column: ColumnInfo) -> bool:
    """PUBLIC and INTERNAL columns that identify nobody on their own."""
    return (
        not leaves_only_privately(column)
        and ColumnRole.DIRECT_IDENTIFIER not in column.roles
    )
