"""Cleaning applies only declared rules and counts every change."""

from __future__ import annotations

import math

import pandas as pd

from fedgov.data import (
    CleaningAction,
    CleaningReport,
    clean,
    get_dataset,
    load_pooled,
    load_public_test,
)
from fedgov.types import DatasetId

RANDHIE = get_dataset("randhie").schema
ADULT = get_dataset("adult").schema


def test_imputes_declared_values_and_counts_them(randhie_raw: pd.DataFrame) -> None:
    frame = randhie_raw.iloc[:10].copy()
    frame.iloc[[2, 5], frame.columns.get_loc("educdec")] = math.nan  # type: ignore[index]
    before = frame.copy()

    cleaned, report = clean(RANDHIE, frame)

    assert cleaned["educdec"].iloc[2] == 12.0
    assert cleaned["educdec"].iloc[5] == 12.0
    assert report.count("educdec") == 2
    assert report.total == 2
    pd.testing.assert_frame_equal(frame, before)


def test_keep_policy_leaves_missing_values(randhie_raw: pd.DataFrame) -> None:
    cleaned, report = clean(RANDHIE, randhie_raw)

    assert cleaned["ghindx"].isna().sum() == 5_223
    assert cleaned["lnmeddol"].isna().sum() == (randhie_raw["meddol"] == 0).sum()
    assert report.count("ghindx") == 0


def test_randhie_cleaning_counts() -> None:
    report = load_pooled("randhie", seed=0).cleaning

    assert {(a.column, a.count) for a in report.actions} == {
        ("educdec", 4),
        ("mdeoff", 5),
        ("pioff", 5),
    }


def test_adult_cleaning_counts() -> None:
    train = load_pooled("adult", seed=0).cleaning
    test = load_public_test("adult").cleaning

    assert {(a.column, a.count) for a in train.actions} == {
        ("workclass", 1_836),
        ("occupation", 1_843),
        ("native_country", 583),
    }
    assert {(a.column, a.count) for a in test.actions} == {
        ("income", 16_281),
        ("workclass", 963),
        ("occupation", 966),
        ("native_country", 274),
    }


def test_reports_combine_rule_by_rule() -> None:
    dataset = DatasetId("t")
    first = CleaningReport(
        dataset, (CleaningAction("a", "r", 2), CleaningAction("b", "r", 1))
    )
    second = CleaningReport(dataset, (CleaningAction("a", "r", 3),))

    combined = CleaningReport.combine(dataset, [first, second])

    assert combined.count("a", "r") == 5
    assert combined.count("b") == 1
    assert combined.total == 6
    assert "a: r x5" in str(combined)
