"""A department's exact local answer to a :class:`Query` and its noise plan.

Every query's local answer is one fixed-length vector whose *sum* over the
departments is what the coordinator needs (group-major: group 0's cells,
then group 1's, ...), so the sum can be taken by secure aggregation as well
as in the clear:

============  =====================================  ========================
kind          vector                                 L2 sensitivity (m rows)
============  =====================================  ========================
count         counts per group                       ``m``
histogram     counts per group and bin/category      ``m``
quantiles     counts per group and bin               ``m``
sum           clipped sums per group                 ``m * max(|lo|, |hi|)``
mean          centred sums per group, then counts    ``m * (hi - lo) / 2``,
                                                     ``m``
============  =====================================  ========================

``m`` is the query's ``rows_per_person``: the first ``m`` matching records of
each person (in the department's record order) are kept, the rest dropped,
so adding or removing one person changes the vector by at most the table's
sensitivity however the records fall into groups and bins. A mean's sums are
centred on the middle of the bounds, which halves their sensitivity; the
coordinator adds ``middle * count`` back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from privacy._mechanisms_gaussian import GaussianPlan, NoiseBlock, plan_gaussian
from privacy._mechanisms_query import Predicate, Query, privacy_unit

if TYPE_CHECKING:
    from fedgov.data import Category

__all__ = ["answer_length", "exact_answer", "noise_blocks", "plan_answer"]


def noise_blocks(query: Query) -> tuple[NoiseBlock, ...]:
    """The blocks of ``query``'s answer vector and their L2 sensitivities."""
    rows = int(query.rows_per_person or 1)
    groups = len(query.group_levels)
    if query.kind in ("count", "histogram", "quantiles"):
        cells = 1 if query.kind == "count" else _cells_per_group(query)
        return (NoiseBlock(size=groups * cells, sensitivity=rows, integer=True),)
    low, high = query.bounds
    if query.kind == "sum":
        return (
            NoiseBlock(
                size=groups, sensitivity=rows * max(abs(low), abs(high)), integer=False
            ),
        )
    return (
        NoiseBlock(size=groups, sensitivity=rows * (high - low) / 2.0, integer=False),
        NoiseBlock(size=groups, sensitivity=rows, integer=True),
    )


def answer_length(query: Query) -> int:
    """How many numbers a department's answer to ``query`` holds."""
    return sum(block.size for block in noise_blocks(query))


def plan_answer(query: Query) -> GaussianPlan:
    """The noise and spend of one department's answer; needs no data."""
    return plan_gaussian(
        noise_blocks(query),
        epsilon=query.epsilon,
        delta=query.delta,
        accountant=query.accountant,
    )


def _cells_per_group(query: Query) -> int:
    return len(query.categories) if query.categories else len(query.bins) - 1


def _matches(frame: pd.DataFrame, predicate: Predicate) -> NDArray[np.bool_]:
    values = frame[predicate.column]
    present = values.notna().to_numpy()
    compare = {
        "==": values.eq,
        "!=": values.ne,
        "<": values.lt,
        "<=": values.le,
        ">": values.gt,
        ">=": values.ge,
    }[predicate.op]
    # A missing value matches no predicate, "!=" included.
    return present & compare(predicate.value).to_numpy(dtype=bool)


def _codes(values: pd.Series, levels: tuple[Category, ...]) -> NDArray[np.int64]:
    """Position of each value among ``levels``; -1 where it is none of them."""
    codes = pd.Index(list(levels)).get_indexer(pd.Index(values))
    return np.asarray(codes, dtype=np.int64)


def _first_rows_per_person(
    frame: pd.DataFrame, person_key: str | None, rows: int
) -> pd.DataFrame:
    if person_key is None:
        return frame
    rank = frame.groupby(person_key, sort=False).cumcount().to_numpy()
    return frame[rank < rows]


def exact_answer(query: Query, records: pd.DataFrame) -> NDArray[np.float64]:
    """The exact (noise-free) local answer vector of ``query`` over ``records``.

    Records matching the filter, with a present measured value and a declared
    group level, are bounded per person and aggregated; values are clipped to
    the declared bounds (the data layer has already validated them, clipping
    makes the sensitivity hold whatever the input).
    """
    keep = np.ones(len(records), dtype=bool)
    for predicate in query.where:
        keep &= _matches(records, predicate)
    if query.column is not None:
        keep &= records[query.column].notna().to_numpy()
    if query.categories:
        keep &= _codes(records[query.column], query.categories) >= 0
    levels = query.group_levels
    if query.group_by is not None:
        keep &= _codes(records[query.group_by], levels) >= 0
    frame = _first_rows_per_person(
        records[keep],
        privacy_unit(query.spec).person_key,
        int(query.rows_per_person or 1),
    )
    groups = (
        _codes(frame[query.group_by], levels)
        if query.group_by is not None
        else np.zeros(len(frame), dtype=np.int64)
    )
    size = len(levels)
    if query.kind == "count":
        return np.bincount(groups, minlength=size).astype(np.float64)
    assert query.column is not None
    if query.categories:
        cells = _codes(frame[query.column], query.categories)
        return _grid_counts(groups, cells, size, len(query.categories))
    low, high = query.bounds
    values = np.clip(frame[query.column].to_numpy(dtype=np.float64), low, high)
    if query.kind in ("histogram", "quantiles"):
        edges = np.asarray(query.bins)
        cells = np.searchsorted(edges, values, side="right") - 1
        # The last bin is closed: its right edge belongs to it.
        cells = np.clip(cells, 0, len(edges) - 2)
        return _grid_counts(groups, cells, size, len(edges) - 1)
    if query.kind == "sum":
        return np.bincount(groups, weights=values, minlength=size).astype(np.float64)
    middle = (low + high) / 2.0
    sums = np.bincount(groups, weights=values - middle, minlength=size)
    counts = np.bincount(groups, minlength=size)
    return np.concatenate([sums, counts]).astype(np.float64)


def _grid_counts(
    groups: NDArray[np.int64], cells: NDArray[np.int64], num_groups: int, num_cells: int
) -> NDArray[np.float64]:
    flat = groups * num_cells + cells
    return np.bincount(flat, minlength=num_groups * num_cells).astype(np.float64)
