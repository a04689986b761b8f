"""Tests of privacy.watermark: the layout rules, what marking may change, the
exact binomial tail, and that a copy reads back its own marks."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedgov.data import get_dataset
from fedgov.errors import ConfigurationError
from privacy.release import ReleasePolicy, assess_release
from privacy.watermark import (
    Fingerprinter,
    MarkLayout,
    ReleaseId,
    binomial_log10_sf,
    publish,
)

ADULT = get_dataset("adult").schema
RANDHIE = get_dataset("randhie").schema
ADULT_COLUMNS = ("age", "sex", "relationship", "fnlwgt", "hours_per_week")
ADULT_LAYOUT = MarkLayout.plan(
    ADULT, ADULT_COLUMNS, steps={}, carriers=("fnlwgt", "hours_per_week")
)
RANDHIE_COLUMNS = ("xage", "female", "plan", "time", "mdeoff", "pioff")
RANDHIE_LAYOUT = MarkLayout.plan(
    RANDHIE,
    RANDHIE_COLUMNS,
    steps={"xage": "10", "time": "0.01", "mdeoff": "1", "pioff": "0.5"},
    carriers=("mdeoff", "pioff"),
)
KEY = bytes(range(32))


def _exact_log10_sf(n: int, m: int) -> float:
    tail = sum(Fraction(math.comb(n, k), 2**n) for k in range(max(m, 0), n + 1))
    return math.log10(tail) if tail else -math.inf


@pytest.mark.parametrize(
    ("n", "m", "expected"),
    [
        (10, 10, -10 * math.log10(2)),
        (4, 3, math.log10(5 / 16)),
        (7, 0, 0.0),
        (0, 0, 0.0),
        (3, 4, -math.inf),
        (5000, 5000, -5000 * math.log10(2)),
    ],
)
def test_binomial_tail_known_values(n: int, m: int, expected: float) -> None:
    assert binomial_log10_sf(n, m) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 80).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_binomial_tail_matches_exact_fractions(nm: tuple[int, int]) -> None:
    n, m = nm
    assert binomial_log10_sf(n, m) == pytest.approx(
        _exact_log10_sf(n, m), rel=1e-9, abs=1e-12
    )


def test_binomial_tail_refuses_impossible_counts() -> None:
    with pytest.raises(ConfigurationError, match="m <= n"):
        binomial_log10_sf(3, 5)


@pytest.mark.parametrize(
    ("columns", "steps", "carriers", "message"),
    [
        (("age", "fnlwgt"), {}, (), "at least one column"),
        (("age", "fnlwgt"), {}, ("age",), "quasi-identifier never carries"),
        (("sex", "fnlwgt"), {}, ("sex",), "categorical column cannot carry"),
        (("sex", "fnlwgt"), {"sex": "1"}, ("fnlwgt",), "published as is"),
        (("age", "fnlwgt"), {"fnlwgt": "0.5"}, ("fnlwgt",), "whole number"),
        (("age", "fnlwgt"), {"fnlwgt": "-1"}, ("fnlwgt",), "positive"),
        (("age", "fnlwgt"), {"fnlwgt": "ten"}, ("fnlwgt",), "not a decimal"),
        (("age", "fnlwgt"), {}, ("hours_per_week",), "not a column of the release"),
        (("age", "fnlwgt"), {"hours_per_week": "1"}, ("fnlwgt",), "not a column"),
        (("age", "zip"), {}, ("fnlwgt",), "not declared"),
        (("age", "age", "fnlwgt"), {}, ("fnlwgt",), "repeat"),
        (("fnlwgt", "hours_per_week"), {"hours_per_week": "10"}, ("hours_per_week",),
         "a carrier needs 20 or more"),
    ],
)  # fmt: skip
def test_layout_rules_name_the_column_and_rule(
    columns: tuple[str, ...],
    steps: dict[str, str],
    carriers: tuple[str, ...],
    message: str,
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        MarkLayout.plan(ADULT, columns, steps=steps, carriers=carriers)


def test_float_columns_need_a_step_and_binaries_take_none() -> None:
    with pytest.raises(ConfigurationError, match="float column needs a declared step"):
        MarkLayout.plan(RANDHIE, ("xage", "mdeoff"), steps={}, carriers=("mdeoff",))
    with pytest.raises(ConfigurationError, match="binary column cannot carry"):
        MarkLayout.plan(
            RANDHIE, ("female", "mdeoff"), steps={"mdeoff": "1"}, carriers=("female",)
        )


@pytest.mark.parametrize(
    ("fraction", "width", "message"),
    [(0.0, 2, "fraction"), (1.5, 2, "fraction"), (0.5, 0, "key_width"),
     (0.5, 9, "key_width")],
)  # fmt: skip
def test_layout_fraction_and_key_width_are_bounded(
    fraction: float, width: int, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        MarkLayout.plan(
            ADULT,
            ADULT_COLUMNS,
            steps={},
            carriers=("fnlwgt",),
            fraction=fraction,
            key_width=width,
        )


def test_layout_round_trips_through_json() -> None:
    assert MarkLayout.from_json(RANDHIE_LAYOUT.to_json()) == RANDHIE_LAYOUT
    assert RANDHIE_LAYOUT.step("pioff") == Decimal("0.5")
    assert RANDHIE_LAYOUT.step("female") is None
    assert ADULT_LAYOUT.step("fnlwgt") == Decimal(1)


def test_publish_rounds_to_the_step_inside_the_bounds() -> None:
    # Arrange: mdeoff is declared in [0, 1000], time in [0, 1].
    table = pd.DataFrame(
        {
            "xage": [23.79, 64.9, 5.0],
            "female": [0, 1, 1],
            "plan": [13, 1, 11],
            "time": [0.994, 1.0, 0.125],
            "mdeoff": [999.7, 450.2, 0.4],
            "pioff": [12.74, 1300.0, 0.2],
        }
    )

    # Act
    published = publish(table, RANDHIE, RANDHIE_LAYOUT)

    # Assert: 64.9 rounds to 60 since 70 is past xage's bound of 65; ties
    # (5.0 at step 10, 0.125 at step 0.01) go to the even step.
    assert published["xage"].tolist() == [20.0, 60.0, 0.0]
    assert published["time"].tolist() == pytest.approx([0.99, 1.0, 0.12])
    assert published["mdeoff"].tolist() == [1000.0, 450.0, 0.0]
    assert published["pioff"].tolist() == [12.5, 1300.0, 0.0]
    assert published[["female", "plan"]].equals(table[["female", "plan"]])


_ADULT_ROWS = st.fixed_dictionaries(
    {
        "age": st.sampled_from([17, 20, 30, 40, 50, 60, 70, 80, 90]),
        "sex": st.sampled_from(["Female", "Male"]),
        "relationship": st.sampled_from(["Wife", "Husband", "Own-child"]),
        "fnlwgt": st.integers(1, 1_500_000),
        "hours_per_week": st.integers(1, 99),
    }
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(_ADULT_ROWS, min_size=1, max_size=40),
    fraction=st.floats(0.05, 1.0),
    width=st.integers(1, 4),
)
def test_marks_move_only_carriers_by_one_step_within_bounds_and_decade(
    rows: list[dict[str, object]], fraction: float, width: int
) -> None:
    # Arrange
    table = pd.DataFrame(rows)
    layout = MarkLayout.plan(
        ADULT,
        ADULT_COLUMNS,
        steps={},
        carriers=("fnlwgt", "hours_per_week"),
        fraction=fraction,
        key_width=width,
    )
    policy = ReleasePolicy.from_schema(ADULT, k=2)

    # Act
    marked, stats = Fingerprinter(KEY).embed(table, ADULT, layout, ReleaseId("r1"))

    # Assert
    assert list(marked.columns) == list(ADULT_COLUMNS)
    assert marked[["age", "sex", "relationship"]].equals(
        table[["age", "sex", "relationship"]]
    )
    changed = 0
    for name in ("fnlwgt", "hours_per_week"):
        low, high = ADULT.column(name).bounds or (0, 0)
        before, after = table[name].to_numpy(), marked[name].to_numpy()
        assert np.all(np.abs(after - before) <= 1)
        assert np.all((after >= low) & (after <= high))
        assert np.array_equal(after // 10, before // 10)
        changed += int((after != before).sum())
    assert changed == stats.changed <= stats.selected <= stats.cells
    assert assess_release(marked, policy=policy, recipient="x") == assess_release(
        table, policy=policy, recipient="x"
    )


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(_ADULT_ROWS, min_size=1, max_size=40))
def test_an_unedited_copy_carries_every_bit_of_its_release(
    rows: list[dict[str, object]],
) -> None:
    fingerprinter = Fingerprinter(KEY)
    marked, stats = fingerprinter.embed(
        pd.DataFrame(rows), ADULT, ADULT_LAYOUT, ReleaseId("r1")
    )

    evidence = fingerprinter.evidence(
        fingerprinter.observe(marked, ADULT, ADULT_LAYOUT), ReleaseId("r1")
    )

    assert evidence.matches == evidence.positions <= stats.selected
    assert evidence.log10_p == pytest.approx(-evidence.positions * math.log10(2))


@settings(max_examples=40, deadline=None)
@given(
    xage=st.lists(st.floats(0, 65), min_size=1, max_size=30),
    money=st.floats(0, 1000),
    time=st.floats(0, 1),
)
def test_float_carriers_stay_on_their_published_step(
    xage: list[float], money: float, time: float
) -> None:
    # Arrange
    n = len(xage)
    table = pd.DataFrame(
        {
            "xage": xage,
            "female": [i % 2 for i in range(n)],
            "plan": [13] * n,
            "time": [time] * n,
            "mdeoff": [money + i for i in range(n)],
            "pioff": [money / 2 + i for i in range(n)],
        }
    ).clip(upper=pd.Series({"mdeoff": 1000.0, "pioff": 1300.0}), axis=1)
    published = publish(table, RANDHIE, RANDHIE_LAYOUT)

    # Act
    marked, _ = Fingerprinter(KEY).embed(table, RANDHIE, RANDHIE_LAYOUT, ReleaseId("r"))

    # Assert
    for name, step in (("mdeoff", 1.0), ("pioff", 0.5)):
        low, high = RANDHIE.column(name).bounds or (0, 0)
        after = marked[name].to_numpy()
        assert np.all(np.abs(after - published[name].to_numpy()) <= step + 1e-9)
        assert np.all((after >= low) & (after <= high))
        assert np.allclose(after / step, np.rint(after / step))
    assert marked[["xage", "female", "plan", "time"]].equals(
        published[["xage", "female", "plan", "time"]]
    )


def test_marks_depend_on_the_key_and_the_release_only() -> None:
    table = pd.DataFrame(
        {
            "age": [30] * 200,
            "sex": ["Male"] * 200,
            "relationship": ["Husband"] * 200,
            "fnlwgt": np.arange(100_000, 300_000, 1000),
            "hours_per_week": [40] * 200,
        }
    )

    def mark(key: bytes, release: str) -> pd.DataFrame:
        return Fingerprinter(key).embed(table, ADULT, ADULT_LAYOUT, ReleaseId(release))[
            0
        ]

    assert mark(KEY, "a").equals(mark(KEY, "a"))
    assert not mark(KEY, "a").equals(mark(KEY, "b"))
    assert not mark(KEY, "a").equals(mark(bytes(32), "a"))


def test_a_copy_without_the_carriers_holds_no_evidence() -> None:
    table = pd.DataFrame(
        {"age": [30, 40], "sex": ["Male", "Female"], "relationship": ["Wife"] * 2}
    )
    fingerprinter = Fingerprinter(KEY)

    observations = fingerprinter.observe(table, ADULT, ADULT_LAYOUT)
    evidence = fingerprinter.evidence(observations, ReleaseId("r"))

    assert (len(observations), evidence.positions, evidence.log10_p) == (0, 0, 0.0)


def test_publish_needs_every_column_of_the_layout() -> None:
    with pytest.raises(ConfigurationError, match=r"no column 'sex', .*'fnlwgt'"):
        publish(pd.DataFrame({"age": [30]}), ADULT, ADULT_LAYOUT)
