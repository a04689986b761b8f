"""Pure privacy accounting: what a history of Gaussian mechanisms costs.

Every spend fedgov makes is one run of the (sub)sampled Gaussian mechanism:
DP-SGD steps with Poisson sampling rate ``q`` and noise multiplier ``sigma``,
and a DP analytics answer, which is the same mechanism with ``q = 1`` and one
step (``sigma`` = noise standard deviation / L2 sensitivity). Expressing both
in one form lets training and analytics compose in a single Rényi-DP history,
which Opacus' RDP accountant converts to (epsilon, delta). This module holds
no state; the durable history lives in :mod:`privacy.budget`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from opacus.accountants import RDPAccountant
from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent
from opacus.accountants.utils import get_noise_multiplier

from fedgov.errors import ConfigurationError

__all__ = [
    "ACCOUNTANT",
    "RDP_ORDERS",
    "GaussianSpend",
    "calibrate_noise_multiplier",
    "epsilon_spent",
    "gaussian_query_spend",
]

ACCOUNTANT = "rdp"
"""The accountant :func:`epsilon_spent` composes with (named in audit records)."""

# Opacus' default orders stop at 63; strong noise with small sampling rates has
# its optimum above that, so the default grid would overstate epsilon.
RDP_ORDERS: tuple[float, ...] = (
    *RDPAccountant.DEFAULT_ALPHAS,
    *(float(a) for a in range(64, 257, 8)),
)


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


def epsilon_spent(history: Sequence[GaussianSpend], *, delta: float) -> float:
    """The epsilon at ``delta`` of running every spend in ``history`` in sequence.

    RDP composes by addition, so the history's curve is the sum of each
    spend's curve; Opacus' analysis converts it to (epsilon, delta). An empty
    history costs nothing.
    """
    _check_delta(delta)
    if not history:
        return 0.0
    total = np.zeros(len(RDP_ORDERS))
    for spend in history:
        total += spend.steps * np.asarray(
            _rdp_per_step(spend.noise_multiplier, spend.sample_rate)
        )
    with warnings.catch_warnings():
        # "Optimal order is the largest alpha" only says the bound could be
        # tighter with more orders; it is still a valid upper bound.
        warnings.simplefilter("ignore", UserWarning)
        epsilon, _ = get_privacy_spent(orders=list(RDP_ORDERS), rdp=total, delta=delta)
    return float(epsilon)


def calibrate_noise_multiplier(
    *, epsilon: float, delta: float, sample_rate: float, steps: int
) -> float:
    """The smallest noise multiplier whose ``steps`` steps cost at most ``epsilon``.

    Calibrated once for a whole job (every local step of every round), so that
    the job's total spend, not each round's, meets its budget.
    """
    _check_positive("epsilon", epsilon)
    _check_delta(delta)
    GaussianSpend(noise_multiplier=1.0, sample_rate=sample_rate, steps=steps)
    with warnings.catch_warnings():
        # See epsilon_spent: the bound stays valid when the optimum is the last order.
        warnings.simplefilter("ignore", UserWarning)
        noise = get_noise_multiplier(
            target_epsilon=epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            steps=steps,
            accountant="rdp",
            epsilon_tolerance=0.005,
            alphas=list(RDP_ORDERS),
        )
    return float(noise)


def gaussian_query_spend(*, sensitivity: float, noise_std: float) -> GaussianSpend:
    """The spend of one Gaussian-noised answer with L2 ``sensitivity``."""
    _check_positive("sensitivity", sensitivity)
    _check_positive("noise_std", noise_std)
    return GaussianSpend(
        noise_multiplier=noise_std / sensitivity, sample_rate=1.0, steps=1
    )
