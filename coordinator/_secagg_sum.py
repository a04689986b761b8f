"""One secure sum of fixed-length vectors: a single SecAgg+ round with weight 1 each.

Every department that contributes sends its vector with weight 1
(``max_weight = 1``), so SecAgg+'s weighted mean is the plain mean over the
contributors; the sum is that mean times their number, which is public (the
statuses travel in the clear). Refusing departments send zeros at weight 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from flwr.common import (
    FitIns,
    Parameters,
    Scalar,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server.strategy import FedAvg

from coordinator._secagg_outcome import read_outcome
from coordinator.guard import DepartmentOutcome
from fedgov import protocol as p

if TYPE_CHECKING:
    from collections.abc import Mapping

    from flwr.common import FitRes
    from flwr.server.client_manager import ClientManager
    from flwr.server.client_proxy import ClientProxy
    from numpy.typing import NDArray

    from coordinator._secagg_settings import SecAggSettings

__all__ = ["SecureSumResult", "SecureSumStrategy"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SecureSumResult:
    """The sum of the contributing departments' vectors, and who contributed.

    ``outcomes`` has one entry per sampled department: ``trained`` (its vector
    is in ``total``), ``refused``, ``rejected`` (its own checks failed) or
    ``failed`` (it dropped out). ``max_error`` bounds, per entry, how far
    ``total`` may lie from the exact sum (SecAgg+'s stochastic quantization).
    """

    task: str
    total: NDArray[np.float64]
    contributors: tuple[str, ...]
    outcomes: tuple[DepartmentOutcome, ...]
    max_error: float
    settings: SecAggSettings


class SecureSumStrategy(FedAvg):
    """Configures one secure-sum round for every department and reads its result."""

    def __init__(
        self,
        *,
        task: str,
        length: int,
        bound: float,
        query: Mapping[str, Scalar],
        settings: SecAggSettings,
    ) -> None:
        n = settings.num_departments
        super().__init__(
            fraction_fit=1.0,
            fraction_evaluate=0.0,
            min_fit_clients=n,
            min_evaluate_clients=n,
            min_available_clients=n,
            initial_parameters=ndarrays_to_parameters([np.zeros(length)]),
        )
        self.task = task
        self.settings = settings
        self._config: dict[str, Scalar] = {
            **query,
            p.SecAgg.TASK: p.SecAggTask.SUM,
            p.SecAgg.SUM_TASK: task,
            p.SecAgg.SUM_LENGTH: length,
            p.SecAgg.SUM_BOUND: bound,
        }
        self._sampled: list[int] = []
        self.outcomes: list[DepartmentOutcome] = []
        self.total: NDArray[np.float64] | None = None

    def num_fit_clients(self, num_available_clients: int) -> tuple[int, int]:
        return self.settings.num_departments, self.settings.num_departments

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        config = {**self._config, p.Instruction.SERVER_ROUND: server_round}
        clients = client_manager.sample(
            num_clients=self.settings.num_departments,
            min_num_clients=self.settings.num_departments,
        )
        self._sampled = [c.node_id for c in clients]
        return [(client, FitIns(parameters, config)) for client in clients]

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        contributed = 0
        for proxy, res in results:
            outcome = read_outcome(proxy.node_id, res, weight=1)
            self.outcomes.append(outcome)
            contributed += outcome.status == p.Outcome.TRAINED
        answered = {proxy.node_id for proxy, _ in results}
        self.outcomes += [
            DepartmentOutcome(
                f"node-{node_id}",
                node_id,
                p.Outcome.FAILED,
                "dropped out of the secure round before sending a masked vector",
            )
            for node_id in self._sampled
            if node_id not in answered
        ]
        if contributed:
            mean = parameters_to_ndarrays(results[0][1].parameters)[0]
            self.total = np.asarray(mean, dtype=np.float64) * contributed
        return None, {}
