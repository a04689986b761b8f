"""The Gaussian mechanism for DP analytics: calibration, accounting, sampling.

Calibration goes through fedgov's accountants
(:func:`privacy.accounting.calibrate_noise_multiplier`), so what a department
charges to its ledger and what the analyst asked for are computed the same
way, under the accountant the query names, and an answer composes with
DP-SGD rounds in the same history.

Sampling is OpenDP's discrete Gaussian on a dyadic grid of reals as fine as
a float allows (``2^-1074``), an exact sampler driven by the operating
system's CSPRNG, so it is free of the floating-point attacks that break
textbook ``mean + std * normal()`` noise (Mironov 2012). Counts are the grid
sample rounded to the nearest integer, which is post-processing and costs
nothing. The integer lattice is deliberately *not* used for counts: the
discrete Gaussian on the integers has the Gaussian's Rényi curve (so the RDP
accountant was sound for it) but not its privacy-loss distribution; at noise
1 per unit of sensitivity it costs epsilon 4.43 at delta 1e-5 where the
continuous Gaussian costs 4.38, so a PLD accountant treating it as Gaussian
would under-report. On the float grid the difference is far below anything
a float can hold.

OpenDP's own privacy map says what each block costs, in zero-concentrated DP
(``rho``), which converts to one Gaussian spend exactly: independent
Gaussian blocks compose to the Gaussian of noise multiplier
``1 / sqrt(2 * sum rho)`` (their privacy-loss distributions are Gaussian,
and so are their Rényi curves ``alpha * rho``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import opendp.prelude as dp
from numpy.typing import NDArray

from fedgov.errors import ConfigurationError
from fedgov.job import DEFAULT_ACCOUNTANT, Accountant, parse_accountant
from privacy.accounting import (
    GaussianSpend,
    calibrate_noise_multiplier,
    epsilon_spent,
)

__all__ = [
    "GaussianPlan",
    "NoiseBlock",
    "confidence_half_width",
    "gaussian_noise_multiplier",
    "plan_gaussian",
    "release_gaussian",
]

dp.enable_features("contrib")

# OpenDP rounds its privacy map upwards; scaling the noise by a hair more than
# that rounding keeps the recorded spend at or below the requested epsilon.
_ROUNDING_MARGIN = 1.0 + 1e-9


def _check_privacy(epsilon: float, delta: float) -> None:
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ConfigurationError(
            "epsilon", f"must be a positive finite number, got {epsilon}"
        )
    if not (math.isfinite(delta) and 0 < delta < 1):
        raise ConfigurationError(
            "delta", f"must lie strictly between 0 and 1, got {delta}"
        )


def gaussian_noise_multiplier(
    *,
    epsilon: float,
    delta: float,
    accountant: Accountant | str = DEFAULT_ACCOUNTANT,
) -> float:
    """The smallest noise multiplier (noise std / L2 sensitivity) of one answer
    that costs at most ``epsilon`` at ``delta`` under ``accountant``."""
    _check_privacy(epsilon, delta)
    return calibrate_noise_multiplier(
        epsilon=epsilon,
        delta=delta,
        sample_rate=1.0,
        steps=1,
        accountant=accountant,
    )


@dataclass(frozen=True)
class NoiseBlock:
    """A run of ``size`` entries of an answer vector with one L2 sensitivity.

    Every block gets OpenDP's Gaussian noise on its finest dyadic grid of
    reals; ``integer`` blocks (counts) are then rounded to whole numbers.
    """

    size: int
    sensitivity: float
    integer: bool

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ConfigurationError(
                "size", f"a noise block needs >= 1 entry, got {self.size}"
            )
        if not (math.isfinite(self.sensitivity) and self.sensitivity > 0):
            raise ConfigurationError(
                "sensitivity",
                f"must be a positive finite number, got {self.sensitivity}",
            )
        if self.integer and not float(self.sensitivity).is_integer():
            raise ConfigurationError(
                "sensitivity",
                f"an integer block needs a whole sensitivity, got {self.sensitivity}",
            )


@dataclass(frozen=True)
class GaussianPlan:
    """How one answer is noised and what it costs, fixed before any data is read.

    ``noise_std`` is per block; ``spend`` is what the department's ledger
    records; ``epsilon`` is that spend's epsilon at ``delta`` under
    ``accountant`` (at most the epsilon asked for).
    """

    blocks: tuple[NoiseBlock, ...]
    noise_std: tuple[float, ...]
    spend: GaussianSpend
    epsilon: float
    delta: float
    accountant: Accountant

    @property
    def length(self) -> int:
        """The answer vector's length."""
        return sum(block.size for block in self.blocks)


def _measurement(scale: float) -> dp.Measurement:
    space = (
        dp.vector_domain(dp.atom_domain(T=float, nan=False)),
        dp.l2_distance(T=float),
    )
    return dp.m.make_gaussian(*space, scale=scale)


def _rho(block: NoiseBlock, scale: float) -> float:
    measurement = _measurement(scale)
    return float(measurement.map(float(block.sensitivity)))  # type: ignore[no-untyped-call]


def plan_gaussian(
    blocks: Sequence[NoiseBlock],
    *,
    epsilon: float,
    delta: float,
    accountant: Accountant | str = DEFAULT_ACCOUNTANT,
) -> GaussianPlan:
    """Noise for ``blocks`` so that releasing all of them costs at most ``epsilon``
    under ``accountant``.

    Each block gets an equal share of the zCDP budget (``rho``): its noise is
    its sensitivity times ``z * sqrt(len(blocks))``, ``z`` being the noise
    multiplier of a single answer at (``epsilon``, ``delta``). The spend is
    then read back from OpenDP's privacy maps, so the ledger records what the
    sampler actually guarantees.
    """
    _check_privacy(epsilon, delta)
    if not blocks:
        raise ConfigurationError("blocks", "an answer needs at least one noise block")
    blocks = tuple(blocks)
    chosen = parse_accountant(accountant)
    z = gaussian_noise_multiplier(epsilon=epsilon, delta=delta, accountant=chosen)
    scales = [
        b.sensitivity * z * math.sqrt(len(blocks)) * _ROUNDING_MARGIN for b in blocks
    ]
    rho = sum(_rho(b, s) for b, s in zip(blocks, scales, strict=True))
    spend = GaussianSpend(
        noise_multiplier=1.0 / math.sqrt(2.0 * rho), sample_rate=1.0, steps=1
    )
    spent = epsilon_spent([spend], delta=delta, accountant=chosen)
    if spent > epsilon:
        # Cannot happen unless OpenDP's map rounds by more than the margin:
        # refusing is the only safe answer, since nothing has been spent yet.
        raise ConfigurationError(
            "epsilon",
            f"calibrated noise would cost {spent!r} > the {epsilon!r} asked for",
        )
    return GaussianPlan(
        blocks=blocks,
        noise_std=tuple(scales),
        spend=spend,
        epsilon=spent,
        delta=delta,
        accountant=chosen,
    )


def release_gaussian(
    plan: GaussianPlan, values: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``values`` plus the noise of ``plan``, block by block.

    The caller has bounded every contribution so that each block's L2
    sensitivity is what ``plan`` says; integer blocks must hold whole numbers.
    """
    exact = np.asarray(values, dtype=np.float64)
    if exact.shape != (plan.length,):
        raise ConfigurationError(
            "values",
            f"expected a vector of {plan.length} entries, got shape {exact.shape}",
        )
    if not np.all(np.isfinite(exact)):
        raise ConfigurationError("values", "every entry must be finite")
    noisy = np.empty_like(exact)
    start = 0
    for block, scale in zip(plan.blocks, plan.noise_std, strict=True):
        part = exact[start : start + block.size]
        if block.integer and not np.all(part == np.round(part)):
            raise ConfigurationError(
                "values",
                f"entries {start}..{start + block.size - 1} must be whole counts",
            )
        released = np.asarray(_measurement(scale)([float(v) for v in part]))
        noisy[start : start + block.size] = (
            np.rint(released) if block.integer else released
        )
        start += block.size
    return noisy


def confidence_half_width(std: float, *, confidence: float) -> float:
    """Half the width of the two-sided normal interval at ``confidence``.

    OpenDP's grid Gaussian is the continuous one to within float precision.
    Rounding a count adds at most 1/2 per department, which the interval
    leaves out: about 1/12 of a unit of variance, small next to the noise's
    unless its standard deviation is below about 1.
    """
    if not 0 < confidence < 1:
        raise ConfigurationError(
            "confidence", f"must lie strictly between 0 and 1, got {confidence}"
        )
    return NormalDist().inv_cdf(0.5 + confidence / 2.0) * std
