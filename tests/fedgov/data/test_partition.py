"""Natural and Dirichlet partitions: sizes, coverage, disjointness, determinism."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedgov.data import (
    DirichletPartition,
    EmptyPartitionError,
    PartitionSpec,
    UnknownDepartmentError,
    department_ids,
    load_department,
)
from fedgov.errors import ConfigurationError

RANDHIE_SITES = {
    "health-site-1": 4_462,
    "health-site-2": 4_036,
    "health-site-3": 2_436,
    "health-site-4": 3_090,
    "health-site-5": 2_595,
    "health-site-6": 3_571,
}
ADULT_WORKCLASSES = {
    "civil-affairs-federal-gov": 960,
    "civil-affairs-local-gov": 2_093,
    "civil-affairs-private": 22_696,
    "civil-affairs-self-emp-inc": 1_116,
    "civil-affairs-self-emp-not-inc": 2_541,
    "civil-affairs-state-gov": 1_298,
    "civil-affairs-unpaid-or-unknown": 1_857,
}


def _labels(dataset: str, partition: PartitionSpec) -> dict[str, pd.Index]:
    """Each department's row labels, train and held-out together."""
    labels: dict[str, pd.Index] = {}
    for department in department_ids(dataset, partition):
        data = load_department(dataset, department, partition=partition, seed=0)
        labels[department] = data.train.records.index.append(
            data.held_out.records.index
        )
    return labels


def _assert_disjoint_cover(labels: dict[str, pd.Index], total: int) -> None:
    every = pd.Index([]).append(list(labels.values()))
    assert every.is_unique
    assert len(every) == total


@pytest.mark.parametrize(
    ("dataset", "sizes", "total"),
    [("randhie", RANDHIE_SITES, 20_190), ("adult", ADULT_WORKCLASSES, 32_561)],
)
def test_natural_partition_sizes(
    dataset: str, sizes: dict[str, int], total: int
) -> None:
    labels = _labels(dataset, "natural")

    assert department_ids(dataset) == tuple(sorted(sizes))
    assert {d: len(rows) for d, rows in labels.items()} == sizes
    _assert_disjoint_cover(labels, total)


def test_a_natural_department_holds_only_its_own_records() -> None:
    site = load_department("randhie", "health-site-5", seed=0)
    merged = load_department("adult", "civil-affairs-unpaid-or-unknown", seed=0)

    assert set(site.train.records["site"]) == {5}
    assert set(merged.train.records["workclass"]) == {
        "Without-pay",
        "Never-worked",
        "Unknown",
    }


@settings(max_examples=8, deadline=None)
@given(
    num_departments=st.integers(min_value=2, max_value=8),
    alpha=st.sampled_from([0.3, 1.0, 5.0]),
    seed=st.integers(min_value=0, max_value=1_000),
)
def test_dirichlet_partitions_cover_every_record_once(
    num_departments: int, alpha: float, seed: int
) -> None:
    partition = DirichletPartition(
        num_departments=num_departments, alpha=alpha, seed=seed, min_partition_size=5
    )

    labels = _labels("randhie", partition)

    assert tuple(labels) == tuple(f"dept-{k}" for k in range(num_departments))
    assert all(len(rows) >= 5 for rows in labels.values())
    _assert_disjoint_cover(labels, 20_190)


def test_dirichlet_partitions_are_deterministic_and_label_skewed() -> None:
    partition = DirichletPartition(num_departments=5, alpha=0.3, seed=4)
    again = DirichletPartition(num_departments=5, alpha=0.3, seed=4)
    other = DirichletPartition(num_departments=5, alpha=0.3, seed=5)

    first = load_department("adult", "dept-2", partition=partition, seed=0)
    second = load_department("adult", "dept-2", partition=again, seed=0)
    shifted = load_department("adult", "dept-2", partition=other, seed=0)
    shares = [
        load_department("adult", d, partition=partition, seed=0).train.y.mean()
        for d in department_ids("adult", partition)
    ]

    assert first.train.records.index.equals(second.train.records.index)
    assert not first.train.records.index.equals(shifted.train.records.index)
    # Pooled share of >50K is 0.24; alpha = 0.3 skews departments far from it.
    assert max(shares) - min(shares) > 0.3


def test_an_empty_department_is_an_error() -> None:
    partition = DirichletPartition(
        num_departments=60, alpha=0.05, seed=0, min_partition_size=0
    )
    empty = []
    for department in department_ids("randhie", partition):
        try:
            load_department("randhie", department, partition=partition, seed=0)
        except EmptyPartitionError as e:
            empty.append(e)
            break

    assert empty
    assert empty[0].dataset == "randhie"
    assert "holds no records" in str(empty[0])


def test_unknown_department() -> None:
    with pytest.raises(UnknownDepartmentError) as caught:
        load_department("randhie", "health-site-7", seed=0)

    assert caught.value.department == "health-site-7"
    assert "health-site-1" in caught.value.known
    with pytest.raises(UnknownDepartmentError):
        load_department(
            "randhie",
            "dept-3",
            partition=DirichletPartition(num_departments=3, alpha=1, seed=0),
            seed=0,
        )


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"num_departments": 0, "alpha": 1.0, "seed": 0}, "num_departments"),
        ({"num_departments": 2, "alpha": 0.0, "seed": 0}, "alpha"),
        ({"num_departments": 2, "alpha": float("nan"), "seed": 0}, "alpha"),
        ({"num_departments": 2, "alpha": 1.0, "seed": -1}, "seed"),
        (
            {"num_departments": 2, "alpha": 1.0, "seed": 0, "min_partition_size": -1},
            "min_partition_size",
        ),
    ],
)
def test_bad_dirichlet_arguments(arguments: dict[str, float], argument: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        DirichletPartition(**arguments)  # type: ignore[arg-type]

    assert caught.value.argument == argument


def test_an_impossible_dirichlet_draw_is_a_configuration_error() -> None:
    partition = DirichletPartition(
        num_departments=50, alpha=0.01, seed=0, min_partition_size=300
    )

    with pytest.raises(ConfigurationError, match="cannot be drawn"):
        load_department("randhie", "dept-0", partition=partition, seed=0)


def test_an_unknown_partition_scheme_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="'natural' or a DirichletPartition"):
        department_ids("randhie", "by-county")  # type: ignore[arg-type]
