"""The data-sources benchmark runs end to end on a tiny table."""

from __future__ import annotations

import pytest

from experiments.bench import data_sources


@pytest.mark.slow
def test_the_benchmark_runs_tiny(capsys: pytest.CaptureFixture[str]) -> None:
    assert data_sources.main(["--rows", "5000"]) == 0

    out = capsys.readouterr().out
    assert "5,000 rows x 20 columns" in out
    for label in (
        "read + check Parquet (DuckDB)",
        "read + check CSV (DuckDB)",
        "pandas read_csv + the same checks",
        "grouped DP histogram at the source (Parquet)",
    ):
        assert label in out
