"""The keyed-hash train / held-out split: deterministic, per key, near the fraction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedgov.data import held_out_mask, load_department, load_pooled
from fedgov.errors import ConfigurationError


@settings(max_examples=50, deadline=None)
@given(
    keys=st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=200),
    seed=st.integers(min_value=0, max_value=2**64),
    fraction=st.floats(min_value=0.01, max_value=0.99),
)
def test_the_decision_depends_only_on_seed_and_key(
    keys: list[int], seed: int, fraction: float
) -> None:
    whole = held_out_mask(pd.Series(keys), seed=seed, fraction=fraction)
    reversed_ = held_out_mask(pd.Series(keys[::-1]), seed=seed, fraction=fraction)
    alone = [
        held_out_mask(pd.Series([k]), seed=seed, fraction=fraction)[0] for k in keys
    ]

    assert whole.tolist() == reversed_[::-1].tolist() == alone


def test_the_held_out_share_is_near_the_fraction() -> None:
    keys = pd.Series(np.arange(20_000))

    share = held_out_mask(keys, seed=7, fraction=0.2).mean()

    # Binomial(20000, 0.2): standard deviation 0.0028.
    assert share == pytest.approx(0.2, abs=0.015)


def test_seeds_give_different_splits() -> None:
    keys = pd.Series(np.arange(1_000))

    first = held_out_mask(keys, seed=0, fraction=0.5)
    second = held_out_mask(keys, seed=1, fraction=0.5)

    assert (first != second).any()


@pytest.mark.parametrize(
    ("seed", "fraction", "argument"),
    [(0, 0.0, "held_out_fraction"), (0, 1.0, "held_out_fraction"), (-1, 0.2, "seed")],
)
def test_bad_arguments_are_rejected(seed: int, fraction: float, argument: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        held_out_mask(pd.Series([1, 2]), seed=seed, fraction=fraction)

    assert caught.value.argument == argument


def test_no_person_sits_on_both_sides_in_the_pooled_randhie() -> None:
    pooled = load_pooled("randhie", seed=11)

    train_people = set(pooled.train.records["zper"])
    held_out_people = set(pooled.held_out.records["zper"])

    assert train_people.isdisjoint(held_out_people)
    assert len(train_people | held_out_people) == 5_912
    assert len(held_out_people) / 5_912 == pytest.approx(0.2, abs=0.03)


def test_no_person_sits_on_both_sides_in_a_department() -> None:
    department = load_department("randhie", "health-site-2", seed=11)

    train_people = set(department.train.records["zper"])
    held_out_people = set(department.held_out.records["zper"])

    assert train_people.isdisjoint(held_out_people)
    assert held_out_people


def test_the_same_seed_gives_the_same_department_split() -> None:
    first = load_department("randhie", "health-site-4", seed=5)
    second = load_department("randhie", "health-site-4", seed=5)
    other = load_department("randhie", "health-site-4", seed=6)

    assert first.held_out.records.index.equals(second.held_out.records.index)
    np.testing.assert_array_equal(first.train.X, second.train.X)
    assert not first.held_out.records.index.equals(other.held_out.records.index)
