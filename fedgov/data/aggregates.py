"""Exact grouped counts computed at a department's source, in the database.

What a DP histogram needs from a department is one table of counts: records
per group level and per cell (a bin of a numeric column, or a declared
category), with every person counted over at most ``max_per_unit`` records.
DuckDB computes it where the records are; only the counts come back, for
the caller to add noise to (``privacy.mechanisms``). The rules are those of
``privacy._mechanisms_answer.exact_answer`` for a histogram, so both give
the same counts: a record counts when its measured value is present (and a
declared category) and its group value is a declared level; a person's
first ``max_per_unit`` such records, in the source's order, are kept;
numbers are clipped to the column's declared bounds and fall in half-open
bins ``[a, b)``, the last one closed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from fedgov.data._engine import RAW, Engine, identifier, literal
from fedgov.data.checking import csv_types, stored_types, value_sql
from fedgov.data.schema import ColumnKind
from fedgov.data.sources import SourceKind
from fedgov.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fedgov.data.schema import Category, ColumnSpec, DatasetSchema
    from fedgov.data.sources import Source

__all__ = ["grouped_counts"]


def grouped_counts(
    schema: DatasetSchema,
    source: Source,
    *,
    column: str,
    edges: Sequence[float] = (),
    group_by: str | None = None,
    unit_column: str | None = None,
    max_per_unit: int = 1,
    department: str | None = None,
) -> npt.NDArray[np.float64]:
    """Counts ``[levels of group_by (1 without), cells]``, flattened group-major.

    Cells are the bins between ``edges`` for a numeric ``column`` and its
    declared categories (``(0, 1)`` for a binary one) when ``edges`` is empty.
    The source is read as it is: check it first
    (:func:`~fedgov.data.checking.check_source`).
    """
    measured = schema.column(column)
    levels: tuple[Category, ...] = ("all",)
    if group_by is not None:
        levels = _levels(schema.column(group_by))
    if max_per_unit < 1:
        raise ConfigurationError("max_per_unit", f"must be >= 1, got {max_per_unit}")
    types = csv_types(schema) if source.kind is SourceKind.CSV else None
    with Engine(source, department=department, csv_types=types) as engine:
        stored = stored_types(engine)
        value = value_sql(measured, stored[column])
        keep = [f"{value} IS NOT NULL"]
        if edges:
            cell, cells = _bins(measured, value, edges)
        else:
            categories = _levels(measured)
            cell = f"list_position({_list(measured, categories)}, {value}) - 1"
            cells = len(categories)
            keep.append(f"{cell} IS NOT NULL")
        group = "0"
        if group_by is not None:
            group_spec = schema.column(group_by)
            group_value = value_sql(group_spec, stored[group_by])
            group = f"list_position({_list(group_spec, levels)}, {group_value}) - 1"
            keep.append(f"{group} IS NOT NULL")
        where = " AND ".join(keep)
        if unit_column is None:
            rows = engine.sql(
                f"SELECT {group} AS g, {cell} AS c, count(*) FROM {RAW} "
                f"WHERE {where} GROUP BY ALL"
            ).fetchall()
        else:
            rows = _per_unit(engine, where, group, cell, unit_column, max_per_unit)
    counts = np.zeros((len(levels), cells), dtype=np.float64)
    for g, c, n in rows:
        counts[int(g), int(c)] = n
    return counts.reshape(-1)


def _per_unit(
    engine: Engine, where: str, group: str, cell: str, unit_column: str, most: int
) -> list[tuple[int, int, int]]:
    """``(group, cell, count)`` rows with each unit over at most ``most`` records.

    Ordering every person's records is a sort of the whole table; only
    persons with more than ``most`` kept records need it, and a table that
    keeps to its declaration has none. One scan counts the cells and finds
    such persons at once; only if there are any is the bounded count run.
    """
    unit = identifier(unit_column)
    found = engine.sql(
        f"SELECT GROUPING(u) = 0 AS per_unit, g, c, count(*) FROM ("
        f"SELECT {unit} AS u, {group} AS g, {cell} AS c FROM {RAW} WHERE {where}) "
        f"GROUP BY GROUPING SETS ((u), (g, c)) "
        f"HAVING (GROUPING(u) = 0 AND count(*) > {int(most)}) OR GROUPING(g) = 0"
    ).fetchall()
    if any(per_unit for per_unit, *_ in found):
        return engine.sql(_bounded(where, group, cell, unit, most)).fetchall()
    return [(g, c, n) for _, g, c, n in found]


def _bounded(where: str, group: str, cell: str, unit: str, most: int) -> str:
    """Counts with each unit's first ``most`` kept records, in the source's order.

    Only the units over the bound are ordered; the others are counted by a
    plain aggregation.
    """
    return f"""
        WITH kept AS MATERIALIZED (
            SELECT row_number() OVER () AS r, {unit} AS u, {group} AS g, {cell} AS c
            FROM {RAW} WHERE {where}),
        heavy AS (SELECT u FROM kept GROUP BY u HAVING count(*) > {int(most)})
        SELECT g, c, count(*) FROM (
            SELECT g, c FROM kept ANTI JOIN heavy USING (u)
            UNION ALL
            SELECT g, c FROM (
                SELECT g, c, row_number() OVER (PARTITION BY u ORDER BY r) AS k
                FROM kept SEMI JOIN heavy USING (u))
            WHERE k <= {int(most)})
        GROUP BY g, c"""


def _levels(spec: ColumnSpec) -> tuple[Category, ...]:
    if spec.kind is ColumnKind.BINARY:
        return (0, 1)
    if spec.kind is not ColumnKind.CATEGORICAL:
        raise ConfigurationError(
            spec.name, "counted by level only when categorical or binary"
        )
    return spec.categories


def _list(spec: ColumnSpec, levels: Sequence[Category]) -> str:
    if spec.kind is ColumnKind.CATEGORICAL and isinstance(levels[0], str):
        return "[" + ", ".join(literal(str(v)) for v in levels) + "]::VARCHAR[]"
    return "[" + ", ".join(repr(float(v)) for v in levels) + "]::DOUBLE[]"


def _bins(spec: ColumnSpec, value: str, edges: Sequence[float]) -> tuple[str, int]:
    if spec.bounds is None or len(edges) < 2:
        raise ConfigurationError("edges", "bin a numeric column with >= 2 edges")
    low, high = spec.bounds
    clipped = f"least(greatest({value}, {low!r}), {high!r})"
    # searchsorted(right) - 1, clipped to the last bin: [a, b) bins, last closed.
    whens = " ".join(
        f"WHEN {clipped} < {float(edge)!r} THEN {i}"
        for i, edge in enumerate(edges[1:-1])
    )
    last = len(edges) - 2
    return (f"CASE {whens} ELSE {last} END" if whens else "0"), last + 1
