"""Counts at the source equal the DP analytics' exact answer on the same records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from fedgov.data import get_dataset, load_department
from fedgov.data.aggregates import grouped_counts
from fedgov.data.sources import Source
from privacy.mechanisms import Query, exact_answer

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[Source]:
    folder = tmp_path_factory.mktemp("site3")
    raw = get_dataset("randhie").reader("train").frame  # type: ignore[misc]
    site3 = raw[raw["site"] == 3]
    site3.to_csv(folder / "site3.csv", index=False)
    site3.to_parquet(folder / "site3.parquet", index=False)
    return [
        Source.parse(f"csv:{folder / 'site3.csv'}"),
        Source.parse(f"parquet:{folder / 'site3.parquet'}"),
    ]


@pytest.mark.parametrize(
    "query",
    [
        # Numeric bins, at most 2 of a person's 5 study years.
        {
            "column": "xage",
            "bins": (0, 10, 20.5, 40, 65),
            "group_by": "female",
            "rows_per_person": 2,
        },
        # Declared categories, grouped by a binary column.
        {"column": "plan", "group_by": "tookphys"},
        # A binary column's levels, one year per person.
        {"column": "female", "group_by": "plan", "rows_per_person": 1},
        {"column": "coins", "bins": (0, 25, 50, 100)},
    ],
)
def test_counts_at_the_source_equal_the_exact_answer(
    query: dict[str, Any], sources: list[Source], tmp_path: Path
) -> None:
    asked = Query(kind="histogram", dataset="randhie", epsilon=1.0, delta=1e-6, **query)
    data = load_department("randhie", "health-site-3", seed=0, source=sources[0])
    records = pd.concat([data.train.records, data.held_out.records]).sort_index()
    expected = exact_answer(asked, records)

    for source in sources:
        counts = grouped_counts(
            get_dataset("randhie").schema,
            source,
            column=str(asked.column),
            edges=asked.bins,
            group_by=asked.group_by,
            unit_column="zper",
            max_per_unit=int(asked.rows_per_person or 1),
        )
        np.testing.assert_array_equal(counts, expected)
