"""The report's sentences, on hand-made rows."""

from __future__ import annotations

import math

import pandas as pd

from experiments._report_text import _seed_noise


def _row(gain: float, se: float, seeds: int = 3) -> pd.Series:
    return pd.Series({"gain": gain, "gain_se": se, "seeds": seeds})


def test_a_miss_within_one_standard_error_is_said_to_be_so() -> None:
    text = _seed_noise(_row(-0.0004, 0.0007))

    assert "standard error of 0.0007" in text
    assert text.endswith("within one standard error of level")


def test_a_margin_beyond_seed_noise_is_counted_in_standard_errors() -> None:
    assert _seed_noise(_row(-0.003, 0.001)).endswith("3.0 standard errors below level")
    assert _seed_noise(_row(0.005, 0.002)).endswith("2.5 standard errors above level")


def test_one_seed_says_nothing_of_noise() -> None:
    assert _seed_noise(_row(0.01, math.nan, seeds=1)) == ""
