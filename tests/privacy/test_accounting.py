"""Pure accounting: composition, calibration, analytics spends."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedgov.errors import ConfigurationError
from privacy.accounting import (
    GaussianSpend,
    calibrate_noise_multiplier,
    epsilon_spent,
    gaussian_query_spend,
)


def test_empty_history_costs_nothing() -> None:
    assert epsilon_spent([], delta=1e-5) == 0.0


def test_full_batch_gaussian_matches_closed_form_rdp() -> None:
    # Prepare: for q = 1 the RDP of the Gaussian mechanism is alpha / (2 sigma^2),
    # and epsilon = min over orders of rdp + log(1/delta)/(alpha-1) (Mironov 2017)
    # with Opacus' tighter conversion; the classic bound is an upper bound.
    sigma, delta = 5.0, 1e-5
    spend = gaussian_query_spend(sensitivity=1.0, noise_std=sigma)
    # Execute
    eps = epsilon_spent([spend], delta=delta)
    # Assert: below the classic conversion's optimum, and within 20% of it.
    classic = min(
        a / (2 * sigma**2) + math.log(1 / delta) / (a - 1)
        for a in [1 + x / 10 for x in range(1, 2000)]
    )
    assert eps <= classic + 1e-9
    assert eps > 0.8 * classic


def test_history_composes_like_one_long_run() -> None:
    spend = GaussianSpend(noise_multiplier=2.0, sample_rate=0.05, steps=10)
    ten_rounds = [spend] * 10
    one_run = [GaussianSpend(noise_multiplier=2.0, sample_rate=0.05, steps=100)]
    assert epsilon_spent(ten_rounds, delta=1e-5) == pytest.approx(
        epsilon_spent(one_run, delta=1e-5), rel=1e-9
    )


def test_calibration_meets_the_target_over_all_steps() -> None:
    noise = calibrate_noise_multiplier(
        epsilon=1.0, delta=1e-5, sample_rate=0.08, steps=120
    )
    eps = epsilon_spent(
        [GaussianSpend(noise_multiplier=noise, sample_rate=0.08, steps=120)], delta=1e-5
    )
    assert 0.98 <= eps <= 1.0


@settings(max_examples=15, deadline=None)
@given(
    first=st.integers(min_value=1, max_value=50),
    second=st.integers(min_value=1, max_value=50),
)
def test_more_steps_never_cost_less(first: int, second: int) -> None:
    a = GaussianSpend(noise_multiplier=1.5, sample_rate=0.1, steps=first)
    b = GaussianSpend(noise_multiplier=1.5, sample_rate=0.1, steps=second)
    assert epsilon_spent([a, b], delta=1e-5) >= epsilon_spent([a], delta=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"noise_multiplier": 0.0, "sample_rate": 0.1, "steps": 1}, "noise_multiplier"),
        ({"noise_multiplier": 1.0, "sample_rate": 0.0, "steps": 1}, "sample_rate"),
        ({"noise_multiplier": 1.0, "sample_rate": 1.5, "steps": 1}, "sample_rate"),
        ({"noise_multiplier": 1.0, "sample_rate": 0.1, "steps": 0}, "steps"),
    ],
)
def test_invalid_spends_name_the_argument(
    kwargs: dict[str, float], argument: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        GaussianSpend(**kwargs)  # type: ignore[arg-type]
    assert info.value.argument == argument


@pytest.mark.parametrize("epsilon", [0.0, -1.0, float("inf"), float("nan")])
def test_calibration_rejects_bad_epsilon(epsilon: float) -> None:
    with pytest.raises(ConfigurationError, match="epsilon"):
        calibrate_noise_multiplier(
            epsilon=epsilon, delta=1e-5, sample_rate=0.1, steps=10
        )


@pytest.mark.parametrize("delta", [0.0, 1.0, -0.1])
def test_bad_delta_is_rejected(delta: float) -> None:
    with pytest.raises(ConfigurationError, match="delta"):
        epsilon_spent([], delta=delta)
