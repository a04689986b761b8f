"""Apply a schema's declared cleaning rules, counting every change.

Nothing is dropped or changed silently: each rule applied is a
:class:`CleaningAction` (column, rule, count) in the :class:`CleaningReport`
returned with the records, and the report is logged. The only cleaning rule a
schema can declare is :attr:`~fedgov.data.schema.MissingPolicy.IMPUTE` (replace
a missing value with the declared ``fill_value``); source-format fixes made
while reading a file (Adult's test labels ending in ``.``) are reported the
same way by the loader.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fedgov.data.schema import ColumnKind, DatasetSchema, MissingPolicy

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd

    from fedgov.types import DatasetId

__all__ = ["CleaningAction", "CleaningReport", "clean"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CleaningAction:
    """``rule`` changed ``count`` values of ``column``."""

    column: str
    rule: str
    count: int


@dataclass(frozen=True)
class CleaningReport:
    """Every cleaning rule applied to one load of records, with its count."""

    dataset: DatasetId
    actions: tuple[CleaningAction, ...] = ()

    @property
    def total(self) -> int:
        """How many values were changed in all."""
        return sum(a.count for a in self.actions)

    def count(self, column: str, rule: str | None = None) -> int:
        """How many values of ``column`` were changed (by ``rule``, if given)."""
        return sum(
            a.count
            for a in self.actions
            if a.column == column and (rule is None or a.rule == rule)
        )

    @classmethod
    def combine(
        cls, dataset: DatasetId, reports: Iterable[CleaningReport]
    ) -> CleaningReport:
        """One report summing the counts of ``reports`` rule by rule."""
        counts: Counter[tuple[str, str]] = Counter()
        for report in reports:
            for action in report.actions:
                counts[action.column, action.rule] += action.count
        return cls(
            dataset,
            tuple(CleaningAction(c, r, n) for (c, r), n in counts.items() if n),
        )

    def __str__(self) -> str:
        if not self.actions:
            return f"{self.dataset}: no cleaning needed"
        parts = "; ".join(f"{a.column}: {a.rule} x{a.count}" for a in self.actions)
        return f"{self.dataset}: {parts}"


def impute_rule(fill_value: object) -> str:
    """The report's wording of the impute rule, shared by every caller."""
    return f"impute declared value {fill_value!r} for a missing value"


def clean(
    schema: DatasetSchema, frame: pd.DataFrame
) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply ``schema``'s impute rules to a validated ``frame``.

    Returns a new frame (``frame`` is left unchanged) and the report of what
    was replaced. Integer and binary columns that held a missing value come
    back with an integer dtype.
    """
    cleaned = frame.copy()
    actions: list[CleaningAction] = []
    for column in schema:
        if column.missing is not MissingPolicy.IMPUTE:
            continue
        missing = cleaned[column.name].isna()
        count = int(missing.sum())
        if not count:
            continue
        cleaned[column.name] = cleaned[column.name].fillna(column.fill_value)
        if column.kind in (ColumnKind.INTEGER, ColumnKind.BINARY):
            cleaned[column.name] = cleaned[column.name].astype("int64")
        actions.append(
            CleaningAction(column.name, impute_rule(column.fill_value), count)
        )
    return cleaned, CleaningReport(schema.dataset, tuple(actions))
