"""Pure privacy accounting: what a history of Gaussian mechanisms costs.

Every spend fedgov makes is one run of the (sub)sampled Gaussian mechanism:
DP-SGD steps with Poisson sampling rate ``q`` and noise multiplier ``sigma``,
and a DP analytics answer, which is the same mechanism with ``q = 1`` and one
step (``sigma`` = noise standard deviation / L2 sensitivity). Expressing both
in one form lets training and analytics compose in a single history, under
either of two accountants (:class:`fedgov.job.Accountant`):

* ``pld`` (the default): privacy-loss distributions, Google's
  ``dp-accounting`` (Koskela et al. 2020, Doroshenko et al. 2022), with
  pessimistic discretization, so the epsilon is an upper bound that is
  within about 1e-3 of the exact one for fedgov's mechanisms;
* ``rdp``: Rényi DP (Mironov 2017) with Opacus' analysis, what fedgov used
  before; looser by 5-10 % on DP-SGD and 9 % on a single Gaussian answer.

Each accountant is sound for every spend (all are subsampled Gaussians), so
a history whose spends name different accountants costs the smallest of the
epsilons that each named accountant composes for the *whole* history
(:func:`history_epsilon`). This module holds no state; the durable history
lives in :mod:`privacy.budget`.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from dp_accounting import (
    ComposedDpEvent,
    DpEvent,
    GaussianDpEvent,
    PoissonSampledDpEvent,
    SelfComposedDpEvent,
)
from dp_accounting.pld import PLDAccountant
from dp_accounting.pld.common import DifferentialPrivacyParameters
from dp_accounting.pld.privacy_loss_mechanism import GaussianPrivacyLoss
from opacus.accountants import RDPAccountant
from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent
from scipy import optimize

from fedgov.errors import ConfigurationError
from fedgov.job import DEFAULT_ACCOUNTANT, Accountant, parse_accountant

__all__ = [
    "PLD_DISCRETIZATION",
    "RDP_ORDERS",
    "GaussianSpend",
    "calibrate_noise_multiplier",
    "epsilon_spent",
    "gaussian_query_spend",
    "history_epsilon",
]

# Opacus' default orders stop at 63; strong noise with small sampling rates has
# its optimum above that, so the default grid would overstate epsilon.
RDP_ORDERS: tuple[float, ...] = (
    *RDPAccountant.DEFAULT_ALPHAS,
    *(float(a) for a in range(64, 257, 8)),
)
PLD_DISCRETIZATION = 1e-4
"""dp-accounting's default grid of privacy-loss values; the pessimistic
rounding onto it is what keeps the PLD epsilon an upper bound."""

# Calibration stops once the noise is within this fraction of the smallest
# that meets epsilon: about as much epsilon wasted, whatever its size.
_RELATIVE_PRECISION = 1e-7
_MAX_NOISE_MULTIPLIER = 1e6
_MIN_NOISE_MULTIPLIER = 0.1
"""Below this a Gaussian release protects next to nothing (one full-batch
step at 0.1 costs epsilon of about 90 at delta 1e-5), and PLD accounting of
it grows slow without bound: an epsilon that needs less noise is refused."""
# The bracket above the exact calibration PLD's root lies within: its
# pessimistic discretization adds well under 0.3 % noise (widened if not).
_EXACT_BRACKET = 0.01


def _check_positive(argument: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ConfigurationError(
            argument, f"must be a positive finite number, got {value}"
        )


def _check_delta(delta: float) -> None:
    if not (math.isfinite(delta) and 0 < delta < 1):
        raise ConfigurationError(
            "delta", f"must lie strictly between 0 and 1, got {delta}"
        )


@dataclass(frozen=True)
class GaussianSpend:
    """``steps`` runs of the Gaussian mechanism with Poisson rate ``sample_rate``."""

    noise_multiplier: float
    sample_rate: float
    steps: int

    def __post_init__(self) -> None:
        _check_positive("noise_multiplier", self.noise_multiplier)
        if not (0 < self.sample_rate <= 1):
            raise ConfigurationError(
                "sample_rate", f"must lie in (0, 1], got {self.sample_rate}"
            )
        if self.steps < 1:
            raise ConfigurationError("steps", f"must be at least 1, got {self.steps}")


_Mechanisms = tuple[tuple[float, float, int], ...]


def _grouped(history: Iterable[GaussianSpend]) -> _Mechanisms:
    # Composition is commutative and steps of one (sigma, q) add up, so a
    # history of many identical rounds is one self-composition, and equal
    # histories share a cache entry whatever their order.
    steps: Counter[tuple[float, float]] = Counter()
    for spend in history:
        steps[(spend.noise_multiplier, spend.sample_rate)] += spend.steps
    return tuple(sorted((sigma, q, n) for (sigma, q), n in steps.items()))


@lru_cache(maxsize=1024)
def _rdp_per_step(noise_multiplier: float, sample_rate: float) -> tuple[float, ...]:
    # One step's RDP curve; a history repeats the same (sigma, q) round after
    # round, so caching makes re-accounting the whole history nearly free.
    curve = compute_rdp(
        q=sample_rate,
        noise_multiplier=noise_multiplier,
        steps=1,
        orders=list(RDP_ORDERS),
    )
    return tuple(float(v) for v in curve)


def _rdp_epsilon(mechanisms: _Mechanisms, delta: float) -> float:
    # RDP composes by addition; Opacus' analysis converts the sum to
    # (epsilon, delta) with the tightest of its conversions.
    total = np.zeros(len(RDP_ORDERS))
    for sigma, q, steps in mechanisms:
        total += steps * np.asarray(_rdp_per_step(sigma, q))
    with warnings.catch_warnings():
        # "Optimal order is the largest alpha" only says the bound could be
        # tighter with more orders; it is still a valid upper bound.
        warnings.simplefilter("ignore", UserWarning)
        epsilon, _ = get_privacy_spent(orders=list(RDP_ORDERS), rdp=total, delta=delta)
    return float(epsilon)


def _pld_event(sigma: float, q: float, steps: int) -> DpEvent:
    gaussian = GaussianDpEvent(sigma)
    # Sampling with probability 1 is no sampling: dp-accounting's plain
    # Gaussian, which it composes exactly (Balle & Wang 2018).
    event: DpEvent = gaussian if q == 1.0 else PoissonSampledDpEvent(q, gaussian)
    return event if steps == 1 else SelfComposedDpEvent(event, steps)


def _pld_epsilon(mechanisms: _Mechanisms, delta: float) -> float:
    # Unsampled Gaussians compose exactly into one, whose inverse variance is
    # the sum of theirs: a history of many answers is one mechanism, not a
    # convolution per answer.
    sampled = [m for m in mechanisms if m[1] < 1.0]
    precision = sum(steps / sigma**2 for sigma, q, steps in mechanisms if q == 1.0)
    if precision > 0:
        sampled.append((1.0 / math.sqrt(precision), 1.0, 1))
    # Add-or-remove-one neighbours, as for Opacus' RDP analysis and the L2
    # sensitivities of the analytics answers (one person added or removed).
    accountant = PLDAccountant(value_discretization_interval=PLD_DISCRETIZATION)
    accountant.compose(ComposedDpEvent([_pld_event(*m) for m in sampled]))
    return float(accountant.get_epsilon(delta))


_EPSILON_OF: dict[Accountant, Callable[[_Mechanisms, float], float]] = {
    Accountant.PLD: _pld_epsilon,
    Accountant.RDP: _rdp_epsilon,
}


@lru_cache(maxsize=4096)
def _epsilon(mechanisms: _Mechanisms, delta: float, accountant: Accountant) -> float:
    return _EPSILON_OF[accountant](mechanisms, delta)


def epsilon_spent(
    history: Sequence[GaussianSpend],
    *,
    delta: float,
    accountant: Accountant | str = DEFAULT_ACCOUNTANT,
) -> float:
    """The epsilon at ``delta`` of running every spend in ``history`` in sequence,
    composed by ``accountant``. An empty history costs nothing."""
    _check_delta(delta)
    chosen = parse_accountant(accountant)
    if not history:
        return 0.0
    return _epsilon(_grouped(history), delta, chosen)


def history_epsilon(
    history: Sequence[tuple[GaussianSpend, Accountant | str]], *, delta: float
) -> float:
    """The epsilon of a history whose spends each name their accountant.

    Every accountant named composes the whole history, and the smallest
    result counts: each accountant is sound for every spend, so each result
    is an upper bound on the true epsilon, and so is their minimum. A
    history under one accountant costs what that accountant says, so old
    RDP histories keep their figures; a PLD spend joining one re-accounts
    it, which can lower its total once (``docs/analytics.md``).
    """
    _check_delta(delta)
    if not history:
        return 0.0
    mechanisms = _grouped(spend for spend, _ in history)
    named = sorted({parse_accountant(a) for _, a in history})
    return min(_epsilon(mechanisms, delta, a) for a in named)


@lru_cache(maxsize=256)
def calibrate_noise_multiplier(
    *,
    epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    accountant: Accountant | str = DEFAULT_ACCOUNTANT,
    prior: tuple[GaussianSpend, ...] = (),
) -> float:
    """The smallest noise multiplier whose ``steps`` steps cost at most ``epsilon``
    under ``accountant``, to within one part in ten million.

    Calibrated once for a whole job (every local step of every round), so that
    the job's total spend, not each round's, meets its budget. With ``prior``
    (spends already made), the steps are calibrated so that ``prior`` composed
    with them costs at most ``epsilon``: what a job's rounds leave for a last
    stage. The result always meets ``epsilon``: it is the upper end of the
    final bracket.
    """
    _check_positive("epsilon", epsilon)
    _check_delta(delta)
    chosen = parse_accountant(accountant)
    GaussianSpend(noise_multiplier=1.0, sample_rate=sample_rate, steps=steps)
    if prior:
        already = epsilon_spent(prior, delta=delta, accountant=chosen)
        if already >= epsilon:
            raise ConfigurationError(
                "epsilon",
                f"{epsilon!r} is already spent by the prior spends (epsilon "
                f"{already:.4g} under {chosen.value}): nothing is left to calibrate",
            )

    def spent(sigma: float) -> float:
        spend = GaussianSpend(sigma, sample_rate, steps)
        return epsilon_spent([*prior, spend], delta=delta, accountant=chosen)

    def excess(sigma: float) -> float:
        return spent(sigma) - epsilon

    high, low = 1.0, 0.0
    if sample_rate == 1.0 and steps == 1 and not prior:
        # One answer: the exact calibration is a lower bound for every sound
        # accountant and lies within a fraction of a percent of PLD's root, so
        # the search starts there instead of at sigma 1, where each PLD is
        # hundreds of times wider and slower to build (0.3 s of a first question).
        low = _exact_gaussian_noise_multiplier(epsilon, delta)
        high = low * (1.0 + _EXACT_BRACKET)
    elif prior:
        # Composing is slow next to one mechanism, so two single-mechanism
        # calibrations bracket the root: the steps alone at epsilon need less
        # noise than after ``prior`` (a composition costs at least each part),
        # and at what ``prior`` leaves of epsilon as much or more; checked below.
        low = calibrate_noise_multiplier(
            epsilon=epsilon,
            delta=delta,
            sample_rate=sample_rate,
            steps=steps,
            accountant=chosen,
        )
        with contextlib.suppress(ConfigurationError):
            high = calibrate_noise_multiplier(
                epsilon=epsilon - already,
                delta=delta,
                sample_rate=sample_rate,
                steps=steps,
                accountant=chosen,
            )
        high = max(high, low)
    while excess(high) > 0:
        if high > _MAX_NOISE_MULTIPLIER:
            # RDP's conversion over a finite grid of orders has a floor, about
            # log(1/delta) / (max order - 1); PLD's is its discretization.
            raise ConfigurationError(
                "epsilon",
                f"{epsilon!r} is below what the {chosen.value} accountant "
                f"certifies at delta {delta!r} (RDP's orders end at "
                f"{max(RDP_ORDERS):g}); ask for a larger epsilon or delta",
            )
        high *= 2.0
    low = low if 0.0 < low < high else high / 2.0
    while (cost := spent(low)) <= epsilon:
        if low <= _MIN_NOISE_MULTIPLIER:
            raise ConfigurationError(
                "epsilon",
                f"{epsilon!r} needs a noise multiplier below {_MIN_NOISE_MULTIPLIER} "
                f"(which costs only epsilon {cost:.4g} here): a release that "
                "protects next to nothing; ask for a smaller epsilon",
            )
        high, low = low, max(low / 2.0, _MIN_NOISE_MULTIPLIER)
    # Brent's method on the bracket, then the bracket's feasible end: the
    # epsilon of a (pessimistic) PLD is a step function of sigma at the
    # finest scale, so the root itself may sit a hair on the wrong side.
    tolerance = _RELATIVE_PRECISION * high
    root = float(optimize.brentq(excess, low, high, xtol=tolerance))
    while excess(root) > 0:
        root += tolerance
    return root


def _exact_gaussian_noise_multiplier(epsilon: float, delta: float) -> float:
    """dp-accounting's least noise multiplier of one Gaussian release that is
    exactly (epsilon, delta)-DP (Balle & Wang 2018), held within the search's
    floor and ceiling, past which the search refuses the epsilon itself."""
    guarantee = DifferentialPrivacyParameters(epsilon, delta)
    exact = GaussianPrivacyLoss.from_privacy_guarantee(guarantee, sensitivity=1.0)
    return min(
        max(float(exact.standard_deviation), _MIN_NOISE_MULTIPLIER),
        _MAX_NOISE_MULTIPLIER,
    )


def gaussian_query_spend(*, sensitivity: float, noise_std: float) -> GaussianSpend:
    """The spend of one Gaussian-noised answer with L2 ``sensitivity``."""
    _check_positive("sensitivity", sensitivity)
    _check_positive("noise_std", noise_std)
    return GaussianSpend(
        noise_multiplier=noise_std / sensitivity, sample_rate=1.0, steps=1
    )
