"""Validation rejects every kind of bad record, naming dataset, column, row and rule.

Bad frames are built from real rows of the published files.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedgov.data import (
    DataError,
    DatasetSchema,
    DataValidationError,
    UnknownDatasetError,
    WrongTypeError,
    get_dataset,
    validate,
)
from fedgov.errors import FedgovError

RANDHIE = get_dataset("randhie").schema
ADULT = get_dataset("adult").schema


def _rows(raw: pd.DataFrame, count: int = 20) -> pd.DataFrame:
    return raw.iloc[:count].copy()


def _with_value(
    frame: pd.DataFrame, column: str, position: int, value: float | str
) -> pd.DataFrame:
    """``frame`` with one value replaced; the column is widened to hold it."""
    changed = frame.copy()
    if isinstance(value, str) and pd.api.types.is_numeric_dtype(changed[column]):
        changed[column] = changed[column].astype(object)
    elif isinstance(value, float) and pd.api.types.is_integer_dtype(changed[column]):
        changed[column] = changed[column].astype(np.float64)
    elif isinstance(value, int) and pd.api.types.is_string_dtype(changed[column]):
        changed[column] = changed[column].astype(object)
    changed.loc[changed.index[position], column] = value
    return changed


def _rejection(schema: DatasetSchema, frame: pd.DataFrame) -> DataValidationError:
    with pytest.raises(DataValidationError) as caught:
        validate(schema, frame)
    return caught.value


def test_real_rows_pass(randhie_raw: pd.DataFrame, adult_raw: pd.DataFrame) -> None:
    validate(RANDHIE, randhie_raw)
    validate(ADULT, adult_raw)


def test_missing_column(randhie_raw: pd.DataFrame) -> None:
    frame = _rows(randhie_raw).drop(columns="xage")

    error = _rejection(RANDHIE, frame)

    assert (error.dataset, error.column, error.row) == ("randhie", "xage", None)
    assert "missing" in error.reason


def test_extra_column(randhie_raw: pd.DataFrame) -> None:
    frame = _rows(randhie_raw).assign(postcode="12345")

    error = _rejection(RANDHIE, frame)

    assert error.column == "postcode"
    assert "not declared" in error.reason


def test_empty_frame(randhie_raw: pd.DataFrame) -> None:
    error = _rejection(RANDHIE, randhie_raw.iloc[:0])

    assert error.column is None
    assert "no records" in error.reason


def test_text_in_a_numeric_column(randhie_raw: pd.DataFrame) -> None:
    frame = _with_value(_rows(randhie_raw), "income", 7, "lots")

    error = _rejection(RANDHIE, frame)

    assert (error.column, error.row) == ("income", randhie_raw.index[7])
    assert isinstance(error, WrongTypeError)
    assert error.reason_class == "wrong-type"
    assert error.reason.startswith("wrong type")
    # income is SENSITIVE: its value never appears in a message.
    assert "lots" not in str(error)
    assert "withheld" in error.reason


def test_an_internal_columns_value_is_named(randhie_raw: pd.DataFrame) -> None:
    frame = _with_value(_rows(randhie_raw), "xage", 7, "old")

    error = _rejection(RANDHIE, frame)

    assert "'old'" in error.reason


def test_number_in_a_text_column(adult_raw: pd.DataFrame) -> None:
    frame = _rows(adult_raw)
    frame["sex"] = 1

    error = _rejection(ADULT, frame)

    assert (error.column, error.row) == ("sex", "adult.data:1")
    assert "expected text" in error.reason


def test_missing_value_where_the_policy_is_error(randhie_raw: pd.DataFrame) -> None:
    frame = _with_value(_rows(randhie_raw), "xage", 3, math.nan)

    error = _rejection(RANDHIE, frame)

    assert (error.column, error.row) == ("xage", randhie_raw.index[3])
    assert "policy is 'error'" in error.reason


def test_missing_value_where_the_policy_imputes_passes(
    randhie_raw: pd.DataFrame,
) -> None:
    frame = _with_value(_rows(randhie_raw), "educdec", 3, math.nan)

    validate(RANDHIE, frame)


def test_infinite_value(randhie_raw: pd.DataFrame) -> None:
    frame = _with_value(_rows(randhie_raw), "time", 2, math.inf)

    error = _rejection(RANDHIE, frame)

    assert (error.column, error.row) == ("time", randhie_raw.index[2])
    assert "non-finite" in error.reason


def test_out_of_range_value(randhie_raw: pd.DataFrame) -> None:
    frame = _with_value(_rows(randhie_raw), "xage", 5, 70.0)

    error = _rejection(RANDHIE, frame)

    assert (error.column, error.row) == ("xage", randhie_raw.index[5])
    assert error.reason == "value 70.0 is outside the declared range [0, 65]"
    assert str(error) == (
        "dataset 'randhie', column 'xage', row 6: "
        "value 70.0 is outside the declared range [0, 65]"
    )
    assert type(error.row) is int


def test_fraction_in_an_integer_column(randhie_raw: pd.DataFrame) -> None:
    frame = _with_value(_rows(randhie_raw), "year", 1, 2.5)

    error = _rejection(RANDHIE, frame)

    assert error.column == "year"
    assert "not an integer" in error.reason


def test_non_binary_value(randhie_raw: pd.DataFrame) -> None:
    frame = _with_value(_rows(randhie_raw), "female", 0, 2)

    error = _rejection(RANDHIE, frame)

    assert (error.column, error.row) == ("female", randhie_raw.index[0])
    assert "not binary" in error.reason


def test_unknown_text_category(adult_raw: pd.DataFrame) -> None:
    frame = _with_value(_rows(adult_raw), "workclass", 4, "Astronaut")

    error = _rejection(ADULT, frame)

    assert (error.column, error.row) == ("workclass", "adult.data:5")
    assert "unknown category 'Astronaut'" in error.reason
    assert "'Private'" in error.reason


def test_unknown_integer_category(randhie_raw: pd.DataFrame) -> None:
    frame = _with_value(_rows(randhie_raw), "site", 6, 7)

    error = _rejection(RANDHIE, frame)

    assert (error.column, error.row) == ("site", randhie_raw.index[6])
    assert "unknown category 7" in error.reason


def test_unknown_dataset_lists_the_known_ones() -> None:
    with pytest.raises(UnknownDatasetError) as caught:
        get_dataset("census2020")

    error = caught.value
    assert isinstance(error, DataValidationError)
    assert isinstance(error, DataError)
    assert isinstance(error, FedgovError)
    assert error.dataset == "census2020"
    assert error.known == ("adult", "randhie")
    assert "known: adult, randhie" in str(error)


_BOUNDED = [c.name for c in RANDHIE if c.kind.value in ("integer", "float")]


@settings(max_examples=60, deadline=None)
@given(
    column=st.sampled_from(_BOUNDED),
    position=st.integers(min_value=0, max_value=19),
    above=st.booleans(),
    distance=st.floats(min_value=1e-6, max_value=1e12),
)
def test_any_value_outside_the_declared_bounds_is_rejected(
    randhie_raw: pd.DataFrame, column: str, position: int, above: bool, distance: float
) -> None:
    low, high = RANDHIE.column(column).bounds or (0.0, 0.0)
    value = high + distance if above else low - distance
    frame = _with_value(_rows(randhie_raw), column, position, float(value))

    error = _rejection(RANDHIE, frame)

    assert (error.column, error.row) == (column, randhie_raw.index[position])
    assert (
        "outside the declared range" in error.reason or "not an integer" in error.reason
    )
