"""The Gaussian mechanism for DP analytics: calibration, accounting, sampling.

Calibration goes through fedgov's one accountant
(:func:`privacy.accounting.epsilon_spent`), so what a department charges to
its ledger and what the analyst asked for are computed the same way, and
an answer composes with DP-SGD rounds in the same Rényi-DP history.

Sampling is OpenDP's: the discrete Gaussian on integers for counts, and on
a fine dyadic grid for real-valued sums. Both are exact samplers driven by
the operating system's CSPRNG, so they are free of the floating-point
attacks that break textbook ``mean + std * normal()`` noise (Mironov 2012);
and OpenDP's own privacy map says what each block costs, in zero-concentrated
DP (``rho``), which converts to one RDP-equivalent Gaussian spend exactly:
``rho``-zCDP is the RDP curve ``alpha * rho``, the curve of a Gaussian with
noise multiplier ``1 / sqrt(2 rho)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np
import opendp.prelude as dp
from numpy.typing import NDArray

from fedgov.errors import ConfigurationError
from privacy.accounting import RDP_ORDERS, GaussianSpend, epsilon_spent

__all__ = [
    "GaussianPlan",
    "NoiseBlock",
    "confidence_half_width",
    "gaussian_noise_multiplier",
    "plan_gaussian",
    "release_gaussian",
]

dp.enable_features("contrib")

# Bisection stops once the bracket is this tight, relative: noise within one
# part in a million of the smallest that meets epsilon.
_RELATIVE_PRECISION = 1e-7
# OpenDP rounds its privacy map upwards; scaling the noise by a hair more than
# that rounding keeps the recorded spend at or below the requested epsilon.
_ROUNDING_MARGIN = 1.0 + 1e-9
_MAX_NOISE_MULTIPLIER = 1e6


def _check_privacy(epsilon: float, delta: float) -> None:
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ConfigurationError(
            "epsilon", f"must be a positive finite number, got {epsilon}"
        )
    if not (math.isfinite(delta) and 0 < delta < 1):
        raise ConfigurationError(
            "delta", f"must lie strictly between 0 and 1, got {delta}"
        )


def _single_answer_epsilon(noise_multiplier: float, delta: float) -> float:
    spend = GaussianSpend(noise_multiplier=noise_multiplier, sample_rate=1.0, steps=1)
    return epsilon_spent([spend], delta=delta)


@lru_cache(maxsize=256)
def gaussian_noise_multiplier(*, epsilon: float, delta: float) -> float:
    """The smallest noise multiplier (noise std / L2 sensitivity) of one answer
    that costs at most ``epsilon`` at ``delta`` under fedgov's accountant.

    Unlike the training calibration, whose tolerance is absolute in epsilon,
    this one is relative, so small analytics epsilons (0.1) waste no budget.
    """
    _check_privacy(epsilon, delta)
    low, high = 0.0, 1.0
    while _single_answer_epsilon(high, delta) > epsilon:
        if high > _MAX_NOISE_MULTIPLIER:
            # The RDP-to-(epsilon, delta) conversion over a finite grid of
            # orders has a floor, about log(1/delta) / (max order - 1).
            raise ConfigurationError(
                "epsilon",
                f"{epsilon!r} is below what the accountant certifies at delta "
                f"{delta!r} (its Renyi orders end at {max(RDP_ORDERS):g}); "
                "ask for a larger epsilon or delta",
            )
        low, high = high, 2.0 * high
    while high - low > _RELATIVE_PRECISION * high:
        middle = 0.5 * (low + high)
        if _single_answer_epsilon(middle, delta) > epsilon:
            low = middle
        else:
            high = middle
    return high


@dataclass(frozen=True)
class NoiseBlock:
    """A run of ``size`` entries of an answer vector with one L2 sensitivity.

    ``integer`` blocks (counts) get discrete Gaussian noise on the integers;
    the others (sums) get it on OpenDP's dyadic grid of reals.
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
    records; ``epsilon`` is that spend's epsilon at ``delta`` (at most the
    epsilon asked for).
    """

    blocks: tuple[NoiseBlock, ...]
    noise_std: tuple[float, ...]
    spend: GaussianSpend
    epsilon: float
    delta: float

    @property
    def length(self) -> int:
        """The answer vector's length."""
        return sum(block.size for block in self.blocks)


def _measurement(block: NoiseBlock, scale: float) -> dp.Measurement:
    if block.integer:
        space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="i64")
    else:
        space = (
            dp.vector_domain(dp.atom_domain(T=float, nan=False)),
            dp.l2_distance(T=float),
        )
    return dp.m.make_gaussian(*space, scale=scale)


def _rho(block: NoiseBlock, scale: float) -> float:
    d_in = int(block.sensitivity) if block.integer else float(block.sensitivity)
    return float(_measurement(block, scale).map(d_in))  # type: ignore[no-untyped-call]


def plan_gaussian(
    blocks: Sequence[NoiseBlock], *, epsilon: float, delta: float
) -> GaussianPlan:
    """Noise for ``blocks`` so that releasing all of them costs at most ``epsilon``.

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
    z = gaussian_noise_multiplier(epsilon=epsilon, delta=delta)
    scales = [
        b.sensitivity * z * math.sqrt(len(blocks)) * _ROUNDING_MARGIN for b in blocks
    ]
    rho = sum(_rho(b, s) for b, s in zip(blocks, scales, strict=True))
    spend = GaussianSpend(
        noise_multiplier=1.0 / math.sqrt(2.0 * rho), sample_rate=1.0, steps=1
    )
    spent = epsilon_spent([spend], delta=delta)
    if spent > epsilon:
        # Cannot happen unless OpenDP's map rounds by more than the margin:
        # refusing is the only safe answer, since nothing has been spent yet.
        raise ConfigurationError(
            "epsilon",
            f"calibrated noise would cost {spent!r} > the {epsilon!r} asked for",
        )
    return GaussianPlan(
        blocks=blocks, noise_std=tuple(scales), spend=spend, epsilon=spent, delta=delta
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
        measurement = _measurement(block, scale)
        if block.integer:
            if not np.all(part == np.round(part)):
                raise ConfigurationError(
                    "values",
                    f"entries {start}..{start + block.size - 1} must be whole counts",
                )
            noisy[start : start + block.size] = measurement([int(v) for v in part])
        else:
            noisy[start : start + block.size] = measurement([float(v) for v in part])
        start += block.size
    return noisy


def confidence_half_width(std: float, *, confidence: float) -> float:
    """Half the width of the two-sided normal interval at ``confidence``.

    The discrete Gaussian's variance is at most that of the continuous one
    with the same scale, so the interval is, if anything, conservative.
    """
    if not 0 < confidence < 1:
        raise ConfigurationError(
            "confidence", f"must lie strictly between 0 and 1, got {confidence}"
        )
    return NormalDist().inv_cdf(0.5 + confidence / 2.0) * std
