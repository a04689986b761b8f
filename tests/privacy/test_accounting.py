"""Pure accounting: composition, calibration, analytics spends, both accountants.

The PLD accountant (dp-accounting) is checked against independent
implementations on fixed cases: the analytic Gaussian mechanism's exact
epsilon (Balle & Wang 2018, computed here from the normal CDF) for sampling
rate 1, and Opacus' PRV accountant (Gopi et al. 2021), an independent
numerical method, for Poisson-subsampled DP-SGD.
"""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opacus.accountants import PRVAccountant
from scipy import optimize
from scipy.stats import norm

from fedgov.errors import ConfigurationError
from fedgov.job import Accountant
from privacy.accounting import (
    GaussianSpend,
    _exact_gaussian_noise_multiplier,
    calibrate_noise_multiplier,
    epsilon_spent,
    gaussian_query_spend,
    history_epsilon,
)

PLD, RDP = Accountant.PLD, Accountant.RDP
BOTH = pytest.mark.parametrize("accountant", [PLD, RDP])


def _exact_gaussian_epsilon(sigma: float, delta: float) -> float:
    """Balle & Wang (2018), Theorem 8: the Gaussian mechanism with noise
    multiplier ``sigma`` is (eps, delta)-DP exactly when
    Phi(1/(2 sigma) - eps sigma) - e^eps Phi(-1/(2 sigma) - eps sigma) <= delta."""

    def excess(eps: float) -> float:
        tight = norm.cdf(0.5 / sigma - eps * sigma)
        return float(tight - math.exp(eps) * norm.cdf(-0.5 / sigma - eps * sigma)) - (
            delta
        )

    return float(optimize.brentq(excess, 0.0, 100.0, xtol=1e-12))


def _prv_epsilon(sigma: float, q: float, steps: int, delta: float) -> float:
    """Opacus' PRV accountant: an upper bound within ``eps_error`` of the truth."""
    accountant = PRVAccountant()
    accountant.history = [(sigma, q, steps)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(accountant.get_epsilon(delta, eps_error=PRV_ERROR))


PRV_ERROR = 2e-3
# dp-accounting rounds privacy losses up to a 1e-4 grid (pessimistic): its
# epsilon sits above the exact one by about that much, a little more after
# hundreds of compositions.
PLD_SLACK = 2e-3


def test_empty_history_costs_nothing() -> None:
    assert epsilon_spent([], delta=1e-5) == 0.0
    assert history_epsilon([], delta=1e-5) == 0.0


def test_the_default_accountant_is_pld() -> None:
    spend = GaussianSpend(noise_multiplier=2.0, sample_rate=0.05, steps=10)
    assert epsilon_spent([spend], delta=1e-5) == epsilon_spent(
        [spend], delta=1e-5, accountant=PLD
    )


def test_full_batch_gaussian_matches_closed_form_rdp() -> None:
    # Prepare: for q = 1 the RDP of the Gaussian mechanism is alpha / (2 sigma^2),
    # and epsilon = min over orders of rdp + log(1/delta)/(alpha-1) (Mironov 2017)
    # with Opacus' tighter conversion; the classic bound is an upper bound.
    sigma, delta = 5.0, 1e-5
    spend = gaussian_query_spend(sensitivity=1.0, noise_std=sigma)
    # Execute
    eps = epsilon_spent([spend], delta=delta, accountant=RDP)
    # Assert: below the classic conversion's optimum, and within 20% of it.
    classic = min(
        a / (2 * sigma**2) + math.log(1 / delta) / (a - 1)
        for a in [1 + x / 10 for x in range(1, 2000)]
    )
    assert eps <= classic + 1e-9
    assert eps > 0.8 * classic


@pytest.mark.parametrize(
    ("sigma", "steps", "delta"),
    [
        (3.73, 1, 1e-5),  # one analytics answer at about epsilon 1
        (0.5, 1, 1e-5),  # weak noise: epsilon about 10
        (20.0, 1, 1e-5),  # strong noise: epsilon about 0.16
        (8.0, 4, 1e-6),  # four answers: one Gaussian of noise 8 / sqrt(4)
    ],
)
def test_pld_meets_the_analytic_gaussian_from_above(
    sigma: float, steps: int, delta: float
) -> None:
    # Prepare: k Gaussian answers compose exactly to one of noise sigma / sqrt(k)
    exact = _exact_gaussian_epsilon(sigma / math.sqrt(steps), delta)
    spend = GaussianSpend(noise_multiplier=sigma, sample_rate=1.0, steps=steps)

    # Act
    pld = epsilon_spent([spend], delta=delta, accountant=PLD)
    rdp = epsilon_spent([spend], delta=delta, accountant=RDP)

    # Assert: an upper bound, within the discretization; RDP is looser still
    assert exact <= pld <= exact + PLD_SLACK
    assert rdp > pld


def test_answers_of_different_noise_compose_to_the_exact_gaussian() -> None:
    # Prepare: answers at noise 3 and 4 are one Gaussian of noise 2.4 (their
    # inverse variances add), whose epsilon is known exactly
    answers = [GaussianSpend(3.0, 1.0, 1), GaussianSpend(4.0, 1.0, 1)]
    exact = _exact_gaussian_epsilon(1 / math.sqrt(1 / 9 + 1 / 16), 1e-5)

    # Act
    pld = epsilon_spent(answers, delta=1e-5, accountant=PLD)

    # Assert
    assert exact <= pld <= exact + PLD_SLACK


@pytest.mark.parametrize(
    ("q", "sigma", "steps", "delta"),
    [
        (0.02, 2.03, 500, 1e-5),  # the demo's job (issue 15): RDP 0.996
        (0.01, 1.0, 1000, 1e-5),
        (0.05, 5.0, 20, 1e-5),
        (0.5, 1.0, 3, 1e-8),
    ],
)
def test_pld_agrees_with_opacus_prv_on_dp_sgd(
    q: float, sigma: float, steps: int, delta: float
) -> None:
    # Prepare
    spend = GaussianSpend(noise_multiplier=sigma, sample_rate=q, steps=steps)

    # Act
    pld = epsilon_spent([spend], delta=delta, accountant=PLD)
    prv = _prv_epsilon(sigma, q, steps, delta)
    rdp = epsilon_spent([spend], delta=delta, accountant=RDP)

    # Assert: PRV's upper bound is at most 2 * PRV_ERROR above the truth, and
    # the truth is at most the PLD's slack below the PLD
    assert prv - 2 * PRV_ERROR <= pld <= prv + PLD_SLACK
    assert rdp > pld


def test_the_demo_job_costs_a_tenth_less_under_pld() -> None:
    spend = GaussianSpend(noise_multiplier=2.03, sample_rate=0.02, steps=500)
    pld = epsilon_spent([spend], delta=1e-5, accountant=PLD)
    rdp = epsilon_spent([spend], delta=1e-5, accountant=RDP)
    assert pld == pytest.approx(0.903, abs=2e-3)
    assert rdp == pytest.approx(0.996, abs=2e-3)


@BOTH
def test_history_composes_like_one_long_run(accountant: Accountant) -> None:
    spend = GaussianSpend(noise_multiplier=2.0, sample_rate=0.05, steps=10)
    ten_rounds = [spend] * 10
    one_run = [GaussianSpend(noise_multiplier=2.0, sample_rate=0.05, steps=100)]
    assert epsilon_spent(
        ten_rounds, delta=1e-5, accountant=accountant
    ) == pytest.approx(
        epsilon_spent(one_run, delta=1e-5, accountant=accountant), rel=1e-9
    )


@BOTH
@pytest.mark.parametrize(
    ("epsilon", "q", "steps"),
    [(1.0, 0.08, 120), (0.5, 0.02, 500), (2.0, 1.0, 1), (0.1, 1.0, 1)],
)
def test_calibration_round_trips_just_below_the_target(
    accountant: Accountant, epsilon: float, q: float, steps: int
) -> None:
    # Act
    noise = calibrate_noise_multiplier(
        epsilon=epsilon, delta=1e-5, sample_rate=q, steps=steps, accountant=accountant
    )

    # Assert: meets the target, wastes at most a thousandth of it, and a
    # thousandth less noise would not meet it
    def cost(sigma: float) -> float:
        spend = GaussianSpend(noise_multiplier=sigma, sample_rate=q, steps=steps)
        return epsilon_spent([spend], delta=1e-5, accountant=accountant)

    assert epsilon * (1 - 1e-3) <= cost(noise) <= epsilon
    assert cost(noise * (1 - 1e-3)) > epsilon


def test_pld_calibrates_less_noise_than_rdp_for_the_same_epsilon() -> None:
    pld, rdp = (
        calibrate_noise_multiplier(
            epsilon=1.0, delta=1e-5, sample_rate=0.02, steps=500, accountant=a
        )
        for a in (PLD, RDP)
    )
    assert pld < 0.95 * rdp


_SIGMA = st.floats(min_value=0.8, max_value=6.0)
_RATE = st.floats(min_value=0.005, max_value=0.2)


@settings(max_examples=5, deadline=None)
@given(
    first=st.integers(min_value=1, max_value=50),
    second=st.integers(min_value=1, max_value=50),
    sigma=_SIGMA,
    q=_RATE,
)
def test_more_steps_never_cost_less(
    first: int, second: int, sigma: float, q: float
) -> None:
    a = GaussianSpend(noise_multiplier=sigma, sample_rate=q, steps=first)
    b = GaussianSpend(noise_multiplier=sigma, sample_rate=q, steps=second)
    for accountant in Accountant:
        more = epsilon_spent([a, b], delta=1e-5, accountant=accountant)
        assert more >= epsilon_spent([a], delta=1e-5, accountant=accountant)


@settings(max_examples=5, deadline=None)
@given(low=_SIGMA, factor=st.floats(min_value=1.01, max_value=2.0), q=_RATE)
def test_more_noise_never_costs_more(low: float, factor: float, q: float) -> None:
    weak = GaussianSpend(noise_multiplier=low, sample_rate=q, steps=20)
    strong = GaussianSpend(noise_multiplier=low * factor, sample_rate=q, steps=20)
    for accountant in Accountant:
        assert epsilon_spent(
            [strong], delta=1e-5, accountant=accountant
        ) <= epsilon_spent([weak], delta=1e-5, accountant=accountant)


@settings(max_examples=5, deadline=None)
@given(sigma=_SIGMA, low=_RATE, factor=st.floats(min_value=1.01, max_value=4.0))
def test_sampling_more_never_costs_less(
    sigma: float, low: float, factor: float
) -> None:
    rare = GaussianSpend(noise_multiplier=sigma, sample_rate=low, steps=20)
    often = GaussianSpend(
        noise_multiplier=sigma, sample_rate=min(1.0, low * factor), steps=20
    )
    for accountant in Accountant:
        assert epsilon_spent(
            [often], delta=1e-5, accountant=accountant
        ) >= epsilon_spent([rare], delta=1e-5, accountant=accountant)


@settings(max_examples=5, deadline=None)
@given(
    sigmas=st.lists(_SIGMA, min_size=1, max_size=3),
    q=_RATE,
    names=st.lists(st.sampled_from(list(Accountant)), min_size=3, max_size=3),
)
def test_a_mixed_history_costs_the_least_its_accountants_compose(
    sigmas: list[float], q: float, names: list[Accountant]
) -> None:
    # Prepare: spends, each naming an accountant
    history = [
        (GaussianSpend(noise_multiplier=s, sample_rate=q, steps=10), a)
        for s, a in zip(sigmas, names, strict=False)
    ]
    spends = [spend for spend, _ in history]

    # Act
    mixed = history_epsilon(history, delta=1e-5)

    # Assert: the minimum over the accountants named, each over everything;
    # PLD, when named, is the tighter one
    named = {a for _, a in history}
    each = {a: epsilon_spent(spends, delta=1e-5, accountant=a) for a in named}
    assert mixed == min(each.values())
    if PLD in named:
        assert mixed == each[PLD] <= epsilon_spent(spends, delta=1e-5, accountant=RDP)


def test_a_history_under_one_accountant_costs_what_it_says() -> None:
    spend = GaussianSpend(noise_multiplier=1.5, sample_rate=0.1, steps=30)
    for accountant in Accountant:
        assert history_epsilon([(spend, accountant)] * 2, delta=1e-5) == (
            epsilon_spent([spend, spend], delta=1e-5, accountant=accountant)
        )


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


def test_an_unknown_accountant_is_named() -> None:
    spend = GaussianSpend(noise_multiplier=1.0, sample_rate=0.1, steps=1)
    with pytest.raises(ConfigurationError, match=r"accountant.*'zcdp'") as info:
        epsilon_spent([spend], delta=1e-5, accountant="zcdp")
    assert info.value.argument == "accountant"
    with pytest.raises(ConfigurationError, match="'zcdp'"):
        history_epsilon([(spend, "zcdp")], delta=1e-5)
    with pytest.raises(ConfigurationError, match="'zcdp'"):
        calibrate_noise_multiplier(
            epsilon=1.0, delta=1e-5, sample_rate=0.1, steps=1, accountant="zcdp"
        )


@pytest.mark.parametrize("epsilon", [0.0, -1.0, float("inf"), float("nan")])
def test_calibration_rejects_bad_epsilon(epsilon: float) -> None:
    with pytest.raises(ConfigurationError, match="epsilon"):
        calibrate_noise_multiplier(
            epsilon=epsilon, delta=1e-5, sample_rate=0.1, steps=10
        )


@pytest.mark.parametrize("accountant", ["pld", "rdp"])
def test_an_epsilon_needing_almost_no_noise_is_refused_not_searched(
    accountant: str,
) -> None:
    # 1e308 used to send the search towards zero noise, where PLD accounting
    # never finishes; every department then failed on it.
    with pytest.raises(ConfigurationError, match="protects next to nothing"):
        calibrate_noise_multiplier(
            epsilon=1e308, delta=1e-5, sample_rate=1.0, steps=1, accountant=accountant
        )


@pytest.mark.parametrize("delta", [0.0, 1.0, -0.1])
def test_bad_delta_is_rejected(delta: float) -> None:
    with pytest.raises(ConfigurationError, match="delta"):
        epsilon_spent([], delta=delta)
    with pytest.raises(ConfigurationError, match="delta"):
        history_epsilon([], delta=delta)


@pytest.mark.parametrize(
    ("epsilon", "delta", "expected"),
    # Balle & Wang (2018): sigma 3.73 for epsilon 1, delta 1e-5 (sensitivity 1)
    [(1.0, 1e-5, 3.730632), (0.1, 1e-5, 30.749566), (2.0, 1e-6, 2.230476)],
)
def test_one_answer_starts_its_search_at_the_exact_calibration(
    epsilon: float, delta: float, expected: float
) -> None:
    exact = _exact_gaussian_noise_multiplier(epsilon, delta)

    assert exact == pytest.approx(expected, rel=1e-6)
    for accountant in ("pld", "rdp"):
        found = calibrate_noise_multiplier(
            epsilon=epsilon,
            delta=delta,
            sample_rate=1.0,
            steps=1,
            accountant=accountant,
        )
        # No sound accountant lets one answer have less noise than exact.
        assert found >= exact * (1 - 1e-7)


def test_an_epsilon_needing_more_noise_than_the_search_allows_is_refused() -> None:
    # About 1 / (delta sqrt(2 pi)) = 4e7 noise, past the search's ceiling
    with pytest.raises(ConfigurationError, match="below what the pld accountant"):
        calibrate_noise_multiplier(
            epsilon=1e-9, delta=1e-8, sample_rate=1.0, steps=1, accountant="pld"
        )
