"""The YAML declarations load exactly the records, splits and encodings the
code-declared catalog loaded: digests computed on main at 17bccb0, before the
datasets became declaration files, so that the experiments report cannot move
unnoticed. Adult's encodings were computed again when its age and capital
columns gained declared bins (docs/experiments.md, "Binned features"); its
cleaned records and splits kept the 17bccb0 digests."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np
import pytest

from fedgov.data import (
    DirichletPartition,
    department_ids,
    load_department,
    load_pooled,
    load_public_test,
)

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd


def _digest(*arrays: npt.NDArray[np.generic]) -> str:
    h = hashlib.sha256()
    for array in arrays:
        h.update(str(array.dtype).encode())
        h.update(str(array.shape).encode())
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]


def _records(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame.to_csv().encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    ("dataset", "department", "train", "held_out", "sizes"),
    [
        (
            "randhie",
            "health-site-1",
            "a2ec653e0bc46642",
            "78dfe93ec619c3c7",
            (3588, 874),
        ),
        (
            "randhie",
            "health-site-5",
            "1903351c7de56314",
            "db9efc0f3dd25e66",
            (2089, 506),
        ),
        (
            "adult",
            "civil-affairs-private",
            "e2af28055bf2fe45",
            "011484b96611b5a4",
            (18148, 4548),
        ),
        (
            "adult",
            "civil-affairs-unpaid-or-unknown",
            "d9b676828a477c81",
            "bdeb17d2d4528224",
            (1501, 356),
        ),
    ],
)
def test_natural_departments_encode_as_before(
    dataset: str, department: str, train: str, held_out: str, sizes: tuple[int, int]
) -> None:
    data = load_department(dataset, department, seed=42)

    assert (len(data.train), len(data.held_out)) == sizes
    assert _digest(data.train.X, data.train.y) == train
    assert _digest(data.held_out.X, data.held_out.y) == held_out


@pytest.mark.parametrize(
    ("dataset", "train", "held_out"),
    [
        ("randhie", "cd3342bfccdc8802", "397ac66b4a64461f"),
        ("adult", "a97fed5b6ed84f97", "39ca5f6323cd812d"),
    ],
)
def test_dirichlet_departments_encode_as_before(
    dataset: str, train: str, held_out: str
) -> None:
    partition = DirichletPartition(num_departments=4, alpha=0.5, seed=3)
    department = department_ids(dataset, partition)[1]

    data = load_department(dataset, department, partition=partition, seed=7)

    assert _digest(data.train.X, data.train.y) == train
    assert _digest(data.held_out.X, data.held_out.y) == held_out


@pytest.mark.parametrize(
    ("dataset", "department", "train", "held_out"),
    [
        ("randhie", "health-site-3", "7d3252e6c170b318", "84408a822c7823af"),
        ("adult", "civil-affairs-state-gov", "f7a32878fa3f9789", "a916dd87cc26cc99"),
    ],
)
def test_cleaned_records_are_as_before(
    dataset: str, department: str, train: str, held_out: str
) -> None:
    data = load_department(dataset, department, seed=42)

    assert _records(data.train.records) == train
    assert _records(data.held_out.records) == held_out


@pytest.mark.parametrize(
    ("dataset", "digest"),
    [("randhie", "3cbc30f3d08718f1"), ("adult", "3794ca24521810eb")],
)
def test_pooled_baseline_data_is_as_before(dataset: str, digest: str) -> None:
    pooled = load_pooled(dataset, seed=0)
    h = hashlib.sha256()
    for array in (pooled.train.X, pooled.train.y, pooled.held_out.X, pooled.held_out.y):
        h.update(array.tobytes())

    assert h.hexdigest()[:16] == digest


def test_adult_public_test_is_as_before() -> None:
    test = load_public_test("adult").test

    assert _digest(test.X, test.y) == "6472c3d387fc45b8"
