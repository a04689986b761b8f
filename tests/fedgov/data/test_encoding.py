"""Encoding uses declared bounds and categories only, never statistics of the data."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pytest

from fedgov.data import (
    DataValidationError,
    clean,
    encode_features,
    get_dataset,
    load_department,
    load_pooled,
)

if TYPE_CHECKING:
    import pandas as pd

ADULT = get_dataset("adult").schema
RANDHIE = get_dataset("randhie").schema


def test_known_values_encode_to_fixed_numbers(adult_raw: pd.DataFrame) -> None:
    frame = adult_raw.iloc[:2].copy()
    frame["age"] = [17, 90]
    frame["capital_gain"] = [0, 999]
    frame["workclass"] = ["State-gov", "Unknown"]
    names = ADULT.feature_names

    encoded = encode_features(ADULT, frame)

    assert encoded.dtype == np.float32
    assert encoded.shape == (2, 116)
    assert encoded[:, names.index("age")].tolist() == [0.0, 1.0]
    gain = encoded[1, names.index("capital_gain")]
    assert gain == pytest.approx(math.log1p(999) / math.log1p(99_999), rel=1e-6)
    workclass = [i for i, n in enumerate(names) if n.startswith("workclass=")]
    assert [names[i] for i in workclass][-1] == "workclass=Unknown"
    assert encoded[0, workclass].tolist() == [0, 0, 0, 0, 0, 1, 0, 0, 0]
    assert encoded[1, workclass].tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 1]


def test_binned_columns_add_one_indicator_per_declared_interval(
    adult_raw: pd.DataFrame,
) -> None:
    frame = adult_raw.iloc[:4].copy()
    frame["age"] = [17, 20, 64, 90]
    frame["capital_gain"] = [0, 1, 7_499, 99_999]
    names = ADULT.feature_names

    encoded = encode_features(ADULT, frame)

    ages = [i for i, n in enumerate(names) if n.startswith("age in ")]
    assert [names[i] for i in (ages[0], ages[1], ages[-1])] == [
        "age in [17, 20)",
        "age in [20, 25)",
        "age in [65, 90]",
    ]
    # An edge opens its interval: 20 falls in [20, 25), 64 in [60, 65).
    assert [int(np.flatnonzero(row)[0]) for row in encoded[:, ages]] == [0, 1, 9, 10]
    assert encoded[:, ages].sum(axis=1).tolist() == [1, 1, 1, 1]
    gains = [i for i, n in enumerate(names) if n.startswith("capital_gain in ")]
    # Binned on the raw dollars, not on their log1p.
    assert [int(np.flatnonzero(row)[0]) for row in encoded[:, gains]] == [0, 1, 3, 6]
    assert encoded[:, names.index("age")].tolist() == pytest.approx(
        [0.0, 3 / 73, 47 / 73, 1.0]
    )


@pytest.mark.parametrize("dataset", ["randhie", "adult"])
def test_every_encoded_value_lies_in_the_unit_interval(dataset: str) -> None:
    pooled = load_pooled(dataset, seed=0)

    for split in (pooled.train, pooled.held_out):
        assert split.X.shape[1] == pooled.num_features
        assert split.X.min() >= 0.0
        assert split.X.max() <= 1.0
        assert split.y.dtype == np.int64
        assert set(np.unique(split.y)) == {0, 1}


def test_a_single_record_encodes_as_in_the_pooled_data(
    randhie_raw: pd.DataFrame,
) -> None:
    # Prepare: the record holding the largest income, alone and among all records.
    position = int(np.argmax(randhie_raw["income"].to_numpy()))
    alone, _ = clean(RANDHIE, randhie_raw.iloc[[position]])
    everyone, _ = clean(RANDHIE, randhie_raw)

    # Execute
    alone_encoded = encode_features(RANDHIE, alone)
    pooled_encoded = encode_features(RANDHIE, everyone)[[position]]

    # Assert: min-max scaling from the data would give 0 (or NaN) alone.
    np.testing.assert_array_equal(alone_encoded, pooled_encoded)
    income = RANDHIE.feature_names.index("income")
    assert 0.0 < alone_encoded[0, income] < 1.0


def test_departments_encode_their_records_as_the_pooled_data_does() -> None:
    department = load_department("adult", "civil-affairs-federal-gov", seed=3)
    pooled = load_pooled("adult", seed=3)
    rows = pooled.train.records.index.get_indexer(department.train.records.index)

    np.testing.assert_array_equal(department.train.X, pooled.train.X[rows])
    np.testing.assert_array_equal(department.train.y, pooled.train.y[rows])


def test_labels_follow_the_declared_rules() -> None:
    randhie = load_pooled("randhie", seed=0).train
    adult = load_pooled("adult", seed=0).train

    np.testing.assert_array_equal(
        randhie.y, (randhie.records["mdvis"] > 0).astype(np.int64)
    )
    np.testing.assert_array_equal(
        adult.y, (adult.records["income"] == ">50K").astype(np.int64)
    )


def test_an_uncleaned_feature_cannot_be_encoded(randhie_raw: pd.DataFrame) -> None:
    frame = randhie_raw.iloc[:5].copy()
    frame.iloc[1, frame.columns.get_loc("educdec")] = math.nan  # type: ignore[index]

    with pytest.raises(DataValidationError) as caught:
        encode_features(RANDHIE, frame)

    assert (caught.value.column, caught.value.row) == ("educdec", randhie_raw.index[1])
