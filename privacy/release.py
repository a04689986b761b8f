"""The release check: may this exact table leave the department?

Tables leave a department outside the DP mechanisms too: a report to the
county board, a count table for a grant. Before one does, three rules apply:

* **classification** (when the dataset's columns are known): CORE columns
  never leave; SENSITIVE columns leave only through a DP mechanism, so never
  in an exact table; INTERNAL columns leave only aggregated, so never in a
  record-level table, unless the table goes to a named ``recipient`` (another
  department), which :mod:`privacy.tracing` fingerprints and records; a
  column the schema does not declare (other than the count column) is
  refused, since nothing says what it may disclose.
* **minimum group size** (aggregated tables): every non-zero cell count is at
  least ``min_group_size``.
* **k-anonymity**: every combination of quasi-identifier values present in
  the table covers at least ``k`` people: ``k`` rows of a record-level table,
  or a total count of ``k`` over an aggregated table's cells. Quasi-identifiers
  the table does not contain are not released and not counted; a table with
  none is one group, the whole table.

A zero count is an absent combination, not a small group. Findings name the
rule, the columns and the offending rows by *position* in the checked table,
with the group's size: never the values, which are what must not leak (the
department's steward finds them locally, at those rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from fedgov.data import Classification, ColumnRole
from fedgov.errors import ConfigurationError
from privacy.errors import ReleaseRefusedError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from privacy._columns import ColumnInfo

__all__ = [
    "ReleasePolicy",
    "ReleaseReport",
    "ReleaseViolation",
    "assess_release",
    "check_release",
]

_ROWS_SHOWN = 10


@dataclass(frozen=True)
class ReleaseViolation:
    """One finding. ``rows`` are positions in the checked table."""

    rule: str
    columns: tuple[str, ...]
    detail: str
    rows: tuple[int, ...] = ()
    size: int | None = None
    threshold: int | None = None

    def __str__(self) -> str:
        where = f" at rows {list(self.rows)}" if self.rows else ""
        return f"{self.rule} on ({', '.join(self.columns)}){where}: {self.detail}"


@dataclass(frozen=True)
class ReleaseReport:
    """What :func:`assess_release` found; ``ok`` when nothing."""

    table: str
    groups: int
    violations: tuple[ReleaseViolation, ...]

    @property
    def ok(self) -> bool:
        """Whether the table may be released."""
        return not self.violations

    def raise_if_refused(self) -> None:
        """Raise :class:`~privacy.errors.ReleaseRefusedError` unless ``ok``."""
        if self.violations:
            raise ReleaseRefusedError(self.table, self.violations)


@dataclass(frozen=True, kw_only=True)
class ReleasePolicy:
    """Thresholds, quasi-identifiers and (optionally) every column's class.

    Defaults follow common statistical disclosure practice: k = 5, and no
    published cell below 10 people.
    """

    quasi_identifiers: tuple[str, ...]
    k: int = 5
    min_group_size: int = 10
    columns: tuple[ColumnInfo, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "quasi_identifiers", tuple(self.quasi_identifiers))
        object.__setattr__(self, "columns", tuple(self.columns))
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 2:
            raise ConfigurationError("k", f"must be an integer >= 2, got {self.k!r}")
        if (
            isinstance(self.min_group_size, bool)
            or not isinstance(self.min_group_size, int)
            or self.min_group_size < 1
        ):
            raise ConfigurationError(
                "min_group_size",
                f"must be an integer >= 1, got {self.min_group_size!r}",
            )
        if len(set(self.quasi_identifiers)) != len(self.quasi_identifiers):
            raise ConfigurationError("quasi_identifiers", "must not repeat a column")

    @classmethod
    def from_schema(
        cls, columns: Iterable[ColumnInfo], *, k: int = 5, min_group_size: int = 10
    ) -> ReleasePolicy:
        """Quasi-identifiers and classes from the dataset's declared columns."""
        declared = tuple(columns)
        return cls(
            quasi_identifiers=tuple(
                c.name for c in declared if ColumnRole.QUASI_IDENTIFIER in c.roles
            ),
            k=k,
            min_group_size=min_group_size,
            columns=declared,
        )


def assess_release(
    table: pd.DataFrame | pd.Series | Mapping[Any, int],
    *,
    policy: ReleasePolicy,
    count_column: str | None = None,
    group_columns: Sequence[str] = (),
    name: str = "table",
    recipient: str | None = None,
) -> ReleaseReport:
    """Check ``table`` against ``policy`` and report every finding.

    ``table`` is a record-level DataFrame (one row per person), an aggregated
    DataFrame whose ``count_column`` counts the people in each row's group, a
    Series of counts indexed by named group levels (``groupby(...).size()``),
    or a mapping from group keys (tuples in ``group_columns`` order, or single
    values) to counts. ``recipient`` names the one department a record-level
    table goes to; only then may it hold INTERNAL columns (the release is made
    with :func:`privacy.tracing.make_release`, which fingerprints it).
    """
    frame, counts = _normalise(table, count_column, group_columns)
    violations = list(_classification(frame, counts, policy, recipient))
    weights: npt.NDArray[np.int64]
    if counts is None:
        weights = np.ones(len(frame), dtype=np.int64)
    else:
        weights = frame[counts].to_numpy(dtype=np.int64)
        violations.extend(_small_cells(frame, counts, weights, policy.min_group_size))
    groups, k_violations = _k_anonymity(frame, weights, policy)
    violations.extend(k_violations)
    return ReleaseReport(table=name, groups=groups, violations=tuple(violations))


def check_release(
    table: pd.DataFrame | pd.Series | Mapping[Any, int],
    *,
    policy: ReleasePolicy,
    count_column: str | None = None,
    group_columns: Sequence[str] = (),
    name: str = "table",
    recipient: str | None = None,
) -> ReleaseReport:
    """:func:`assess_release`, raising ``ReleaseRefusedError`` on any finding."""
    report = assess_release(
        table,
        policy=policy,
        count_column=count_column,
        group_columns=group_columns,
        name=name,
        recipient=recipient,
    )
    report.raise_if_refused()
    return report


def _normalise(
    table: pd.DataFrame | pd.Series | Mapping[Any, int],
    count_column: str | None,
    group_columns: Sequence[str],
) -> tuple[pd.DataFrame, str | None]:
    if isinstance(table, pd.DataFrame):
        frame = table.reset_index(drop=True)
    elif isinstance(table, pd.Series):
        levels = list(table.index.names)
        if any(level is None for level in levels):
            raise ConfigurationError(
                "table", "a Series of counts needs named index levels"
            )
        count_column = count_column or str(table.name or "count")
        if count_column in levels:
            raise ConfigurationError(
                "count_column", f"{count_column!r} is also a group level"
            )
        frame = table.rename(count_column).reset_index()
    else:
        if not group_columns:
            raise ConfigurationError(
                "group_columns", "a mapping of counts needs its key columns"
            )
        count_column = count_column or "count"
        rows = [
            (*(key if isinstance(key, tuple) else (key,)), value)
            for key, value in table.items()
        ]
        if any(len(row) != len(group_columns) + 1 for row in rows):
            raise ConfigurationError(
                "group_columns", f"every key must have {len(group_columns)} values"
            )
        frame = pd.DataFrame(rows, columns=[*group_columns, count_column])
    if count_column is not None:
        _check_counts(frame, count_column)
    return frame, count_column


def _check_counts(frame: pd.DataFrame, count_column: str) -> None:
    if count_column not in frame.columns:
        raise ConfigurationError(
            "count_column", f"{count_column!r} is not a column of the table"
        )
    values = pd.to_numeric(frame[count_column], errors="coerce").to_numpy(
        dtype=np.float64
    )
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        raise ConfigurationError(
            "count_column",
            f"{count_column!r} must hold non-negative whole counts "
            f"(row {int(np.flatnonzero(bad)[0])} does not)",
        )


def _classification(
    frame: pd.DataFrame,
    counts: str | None,
    policy: ReleasePolicy,
    recipient: str | None,
) -> Iterable[ReleaseViolation]:
    if not policy.columns:
        return
    declared = {c.name: c for c in policy.columns}
    for column in frame.columns:
        if column == counts:
            continue
        info = declared.get(str(column))
        if info is None:
            reason = (
                "not declared in the dataset's schema, so nothing says it may leave"
            )
        elif info.classification is Classification.CORE:
            reason = "CORE column: never leaves the node in any form"
        elif info.classification is Classification.SENSITIVE:
            reason = (
                "SENSITIVE column: leaves only through a DP mechanism, never exactly"
            )
        elif (
            info.classification is Classification.INTERNAL
            and counts is None
            and recipient is None
        ):
            reason = (
                "INTERNAL column in a record-level table: it leaves only aggregated, "
                "or in a fingerprinted extract for a named recipient"
            )
        else:
            continue
        yield ReleaseViolation(
            rule="classification", columns=(str(column),), detail=reason
        )


def _small_cells(
    frame: pd.DataFrame, counts: str, weights: npt.NDArray[np.int64], minimum: int
) -> Iterable[ReleaseViolation]:
    groups = tuple(str(c) for c in frame.columns if c != counts)
    for position in np.flatnonzero((weights > 0) & (weights < minimum)):
        size = int(weights[position])
        yield ReleaseViolation(
            rule="min-group-size",
            columns=groups,
            detail=f"a cell counts {size} < {minimum} people",
            rows=(int(position),),
            size=size,
            threshold=minimum,
        )


def _k_anonymity(
    frame: pd.DataFrame, weights: npt.NDArray[np.int64], policy: ReleasePolicy
) -> tuple[int, list[ReleaseViolation]]:
    present = [c for c in policy.quasi_identifiers if c in frame.columns]
    if not len(frame):
        return 0, []
    codes: npt.NDArray[np.int64]
    if present:
        groups = frame.groupby(present, dropna=False, sort=False).ngroup()
        codes = np.asarray(groups, dtype=np.int64)
    else:
        codes = np.zeros(len(frame), dtype=np.int64)
    sizes = np.bincount(codes, weights=weights).astype(np.int64)
    violations = []
    for group in np.flatnonzero((sizes > 0) & (sizes < policy.k)):
        size = int(sizes[group])
        rows = np.flatnonzero(codes == group)
        shown = tuple(int(r) for r in rows[:_ROWS_SHOWN])
        more = (
            f" (first {_ROWS_SHOWN} of {len(rows)} rows shown)"
            if len(rows) > _ROWS_SHOWN
            else ""
        )
        violations.append(
            ReleaseViolation(
                rule="k-anonymity",
                columns=tuple(present) or ("<whole table>",),
                detail=f"a quasi-identifier group covers {size} < k={policy.k} "
                f"people{more}",
                rows=shown,
                size=size,
                threshold=policy.k,
            )
        )
    return int(np.count_nonzero(sizes)), violations
