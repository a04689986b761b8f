"""SecAgg+'s parameters for a fedgov round, and Flower's workflow built from them.

Flower's SecAgg+ works on integers modulo ``modulus_range``: each sender
clips every entry of ``weight / max_weight * vector`` to ``[-c, c]``
(``c = clipping_range``), maps it onto ``[0, quantization_range]`` with
stochastic rounding, and adds masks; the coordinator sums the masked
integers, removes the masks and maps back. The choices here make that exact
arithmetic safe and as fine as it can be:

* ``clipping_range`` is a power of two, so mapping 0 (a refusing
  department's contribution) and removing each sender's offset are exact;
  for training it is the smallest power of two at or above the job's
  ``max_update_norm``, so any update the plain guard would accept
  (L2 norm <= ``max_update_norm``, hence every entry too) is never clipped;
* ``quantization_range`` is the largest power of two ``Q`` with
  ``n * Q < modulus_range``: the integer sum of ``n`` senders' entries (each
  at most ``Q``) and of their weights (each at most ``Q``) cannot wrap;
* ``max_weight`` is a power of two at or below ``Q``, so every weight
  ``round(num_examples / max_weight * Q)`` is exact.

Flower's mask generator expands each secret with NumPy's Mersenne Twister
seeded with 32 bits and rejects ``modulus_range`` above ``2**32``; fedgov
uses ``2**32``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from flwr.server.workflow import SecAggPlusWorkflow

from fedgov.errors import ConfigurationError
from fedgov.notices import warn_once

if TYPE_CHECKING:
    from flwr.server.compat.legacy_context import LegacyContext
    from flwr.server.workflow.secure_aggregation.secaggplus_workflow import (
        WorkflowState,
    )
    from flwr.serverapp import Grid

    from fedgov.job import TrainJob

__all__ = [
    "MODULUS_RANGE",
    "TRAINING_MAX_WEIGHT",
    "DropoutTolerantSecAggPlusWorkflow",
    "SecAggSettings",
    "majority_threshold",
]

logger = logging.getLogger(__name__)

MODULUS_RANGE: Final = 2**32
TRAINING_MAX_WEIGHT: Final = 2**20
"""The largest training set (examples) one department may weigh in with."""


def majority_threshold(num_departments: int, min_departments: int) -> int:
    """Shares needed to rebuild a department's secrets: a strict majority, at least 2.

    More than half means a coordinator cannot collect both a department's
    mask-seed shares and its key shares (from departments told different
    stories about who dropped out) without departments colluding with it;
    never fewer than the job's ``min_departments``.
    """
    return min(num_departments, max(2, num_departments // 2 + 1, min_departments))


def _power_of_two_at_least(value: float) -> float:
    return float(2.0 ** math.ceil(math.log2(value)))


class DropoutTolerantSecAggPlusWorkflow(SecAggPlusWorkflow):
    """Flower's SecAgg+ workflow, also tolerating drops before keys are shared.

    In Flower 1.42 a node that drops in the setup or share-keys stage stays
    on the unmask stage's "dead" list although it never handed out key
    shares: every department then fails to answer for it and the round
    halts. Such a node is in nobody's masks (masks are only added towards
    nodes whose key shares arrived), so once keys are shared it is forgotten.
    """

    def share_keys_stage(
        self, grid: Grid, context: LegacyContext, state: WorkflowState
    ) -> bool:
        proceed = super().share_keys_stage(grid, context, state)
        survivors = set(state.active_node_ids)
        state.sampled_node_ids = survivors
        for node_id in survivors:
            state.nid_to_neighbours[node_id] &= survivors
        return proceed


@dataclass(frozen=True, kw_only=True)
class SecAggSettings:
    """One secure round's parameters; every sampled department is everyone's neighbour.

    With full neighbourhoods SecAgg+ is Bonawitz et al.'s SecAgg: fine at a
    county's scale of tens of departments. A round survives up to
    ``num_departments - reconstruction_threshold`` dropouts.
    """

    num_departments: int
    reconstruction_threshold: int
    clipping_range: float
    max_weight: float
    modulus_range: int = MODULUS_RANGE
    timeout: float | None = None

    def __post_init__(self) -> None:
        n, t = self.num_departments, self.reconstruction_threshold
        if n < 2:
            raise ConfigurationError(
                "num_departments", f"secure aggregation needs >= 2 departments, got {n}"
            )
        if not 2 <= t <= n:
            raise ConfigurationError(
                "reconstruction_threshold", f"must lie in [2, {n}], got {t}"
            )
        if not (math.isfinite(self.clipping_range) and self.clipping_range > 0):
            raise ConfigurationError("clipping_range", "must be positive and finite")
        m = self.modulus_range
        if m > MODULUS_RANGE or m & (m - 1) or m <= 2 * n:
            raise ConfigurationError(
                "modulus_range", f"must be a power of two in ({2 * n}, 2**32], got {m}"
            )
        if not 1 <= self.max_weight <= self.quantization_range:
            raise ConfigurationError(
                "max_weight", f"must lie in [1, {self.quantization_range}]"
            )
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigurationError("timeout", "must be positive (or None)")
        if n == 2:
            message = (
                "secure aggregation over 2 departments: each can subtract its own "
                "update from the new global model and learn the other's; only the "
                "local DP noise protects it"
            )
            warn_once("secagg-two-departments", message, stacklevel=3)

    @classmethod
    def for_training(cls, job: TrainJob, *, num_departments: int) -> SecAggSettings:
        """Parameters for ``job``'s training rounds (updates sent as differences)."""
        return cls(
            num_departments=num_departments,
            reconstruction_threshold=majority_threshold(
                num_departments, job.min_departments
            ),
            clipping_range=_power_of_two_at_least(job.max_update_norm),
            max_weight=TRAINING_MAX_WEIGHT,
            timeout=job.round_timeout,
        )

    @classmethod
    def for_sum(
        cls,
        *,
        num_departments: int,
        bound: float,
        min_departments: int = 2,
        timeout: float | None = None,
    ) -> SecAggSettings:
        """Parameters for summing vectors whose entries lie in ``[-bound, bound]``."""
        if not (math.isfinite(bound) and bound > 0):
            raise ConfigurationError(
                "bound", f"must be positive and finite, got {bound}"
            )
        return cls(
            num_departments=num_departments,
            reconstruction_threshold=majority_threshold(
                num_departments, min_departments
            ),
            clipping_range=_power_of_two_at_least(bound),
            max_weight=1.0,
            timeout=timeout,
        )

    @property
    def quantization_range(self) -> int:
        """The largest power of two ``Q`` with ``num_departments * Q < modulus_range``."""
        return 1 << (
            ((self.modulus_range - 1) // self.num_departments).bit_length() - 1
        )

    @property
    def tolerated_dropouts(self) -> int:
        return self.num_departments - self.reconstruction_threshold

    @property
    def quantization_step(self) -> float:
        """One quantum, in units of ``weight / max_weight * entry``."""
        return 2 * self.clipping_range / self.quantization_range

    def workflow(self) -> SecAggPlusWorkflow:
        """Flower's SecAgg+ workflow with these parameters."""
        return DropoutTolerantSecAggPlusWorkflow(
            num_shares=1.0,
            # A fraction of the shares: Flower rounds it back to the integer.
            reconstruction_threshold=self.reconstruction_threshold
            / self.num_departments,
            max_weight=self.max_weight,
            clipping_range=self.clipping_range,
            quantization_range=self.quantization_range,
            modulus_range=self.modulus_range,
            timeout=self.timeout,
        )

    def to_json(self) -> dict[str, Any]:
        """The parameters, derived ones included, for a run record."""
        return {
            "num_departments": self.num_departments,
            "reconstruction_threshold": self.reconstruction_threshold,
            "tolerated_dropouts": self.tolerated_dropouts,
            "clipping_range": self.clipping_range,
            "quantization_range": self.quantization_range,
            "modulus_range": self.modulus_range,
            "max_weight": self.max_weight,
            "quantization_step": self.quantization_step,
            "timeout": self.timeout,
        }
