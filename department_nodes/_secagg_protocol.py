"""What the coordinator and a department agree on in a secure round.

The config keys of a secure round's instruction (sent in the clear with the
``FitIns``), the statuses a department reports, and the secure-sum request a
department's provider answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
from flwr.app import Context, Message
from numpy.typing import NDArray

from fedgov.errors import FedgovError

if TYPE_CHECKING:
    from flwr.common.typing import Scalar

    from department_nodes.node import NodePolicy
    from fedgov.job import TrainJob


class TrainingNode(Protocol):
    """What a secure training round needs from a department (a ``DepartmentNode``)."""

    job: TrainJob
    policy: NodePolicy

    def train(self, msg: Message) -> Message: ...


class SecureSumRefusedError(FedgovError):
    """Raised by a :data:`SecureSumProvider` that will not contribute (budget, policy).

    The department then takes part with weight 0 and reports ``reason`` and
    ``metrics`` (e.g. its epsilon figures) in the clear.
    """

    def __init__(
        self, reason: str, *, metrics: Mapping[str, float] | None = None
    ) -> None:
        self.reason = reason
        self.metrics = dict(metrics or {})
        super().__init__(reason)


@dataclass(frozen=True)
class SecureSumContribution:
    """A provider's vector with figures to report in the clear (e.g. epsilon spent).

    Only ``vector`` is masked; ``metrics`` reach the coordinator as they are.
    """

    vector: NDArray[np.floating]
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SecureSumRequest:
    """One secure-sum query as a department's provider sees it.

    ``query`` holds the coordinator's own parameters for the task (sent in the
    clear); the provider's vector must have exactly ``length`` finite entries,
    each in ``[-bound, bound]``.
    """

    task: str
    department: str
    length: int
    bound: float
    server_round: int
    query: Mapping[str, Scalar]


SecureSumProvider = Callable[
    [SecureSumRequest, Context], "NDArray[np.floating] | SecureSumContribution"
]
"""Computes a department's vector for a secure sum (e.g. its DP-noised histogram).

It runs on the department, sees its records, and must add any DP noise
itself: the coordinator only ever sees the sum. It returns the vector, or a
:class:`SecureSumContribution` to report figures alongside it; it raises
:class:`SecureSumRefusedError` to decline.
"""
