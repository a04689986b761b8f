"""A secure training job's coordinator: Flower's legacy FedAvg over SecAgg+'s output.

SecAgg+ runs on Flower's legacy workflow path, so the job is driven by a
``flwr.server.strategy`` strategy inside ``DefaultWorkflow``. What reaches
:meth:`SecureTrainingStrategy.aggregate_fit` is, for every department, its
clear metrics and weight and the *same* unmasked vector: the weighted mean
``sum(n_k * d_k) / sum(n_k)`` of the departments' differences ``d_k`` from
the global model, which is FedAvg's new model minus the old one.

The bad-update guard of a plain round cannot look at masked updates. Each
department checks its own (finite, L2 norm within ``max_update_norm``,
unclipped by the quantizer) before masking, and the coordinator applies the
same check to the aggregate: a non-finite or oversized aggregate is dropped
and the model kept.

Evaluation does not need secrecy: :class:`FedgovEvaluation` replaces
``DefaultWorkflow``'s evaluate step with fedgov's own Message-API evaluate
round (the plain path's, guarded and with the job's round timeout) and closes
each round's report.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, cast

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.common import (
    FitIns,
    Parameters,
    Scalar,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server.strategy import FedAvg
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, Key

from coordinator._secagg_outcome import numeric_metrics, read_outcome
from coordinator.guard import (
    DepartmentOutcome,
    GuardedStrategy,
    RoundReport,
    check_update,
)
from coordinator.training import instruction_config
from fedgov import protocol as p

if TYPE_CHECKING:
    from flwr.common import FitRes, NDArrays
    from flwr.server.client_manager import ClientManager
    from flwr.server.client_proxy import ClientProxy
    from flwr.serverapp import Grid

    from coordinator._secagg_settings import SecAggSettings
    from fedgov.job import TrainJob

__all__ = ["FedgovEvaluation", "SecureTrainingStrategy"]

logger = logging.getLogger(__name__)


def _weighted_mean(outcomes: list[DepartmentOutcome]) -> dict[str, float]:
    # FedAvg's metric aggregate: each metric weighted by the department's examples.
    weights = [o.metrics.get(p.Metric.NUM_EXAMPLES, 0.0) for o in outcomes]
    total = sum(weights)
    keys = set.intersection(*(set(o.metrics) for o in outcomes))
    return {
        key: sum(w * o.metrics[key] for w, o in zip(weights, outcomes, strict=True))
        / total
        for key in sorted(keys)
    }


class SecureTrainingStrategy(FedAvg):
    """FedAvg on SecAgg+'s weighted mean of differences, keeping fedgov's round reports."""

    def __init__(
        self,
        job: TrainJob,
        *,
        settings: SecAggSettings,
        names: list[str],
        initial: NDArrays,
        evaluate_fn: Callable[[int, ArrayRecord], MetricRecord | None] | None = None,
        on_round: Callable[[RoundReport], None] | None = None,
    ) -> None:
        n = settings.num_departments
        super().__init__(
            fraction_fit=1.0,
            fraction_evaluate=0.0,
            min_fit_clients=n,
            min_evaluate_clients=n,
            min_available_clients=n,
            initial_parameters=ndarrays_to_parameters(initial),
            on_fit_config_fn=self._fit_config,
        )
        self.job = job
        self.settings = settings
        self.names = names
        self.reports: list[RoundReport] = []
        self.rejected_aggregates: dict[int, str] = {}
        self.halted_rounds: list[int] = []
        self.global_ndarrays: NDArrays = list(initial)
        self._evaluate_fn = evaluate_fn
        self._on_round = on_round
        self._sampled: list[int] = []
        self._responded: set[int] = set()
        self._department_of: dict[int, str] = {}

    def arrays(self, ndarrays: NDArrays) -> ArrayRecord:
        """Named tensors for a legacy parameter list, in the model's order."""
        return ArrayRecord(
            array_dict={
                name: Array(np.asarray(a))
                for name, a in zip(self.names, ndarrays, strict=True)
            }
        )

    def _fit_config(self, server_round: int) -> dict[str, Scalar]:
        config: dict[str, Scalar] = {
            p.Instruction.SERVER_ROUND: server_round,
            **instruction_config(self.job),
            p.SecAgg.TASK: p.SecAggTask.TRAIN,
            p.SecAgg.MAX_WEIGHT: float(self.settings.max_weight),
            p.SecAgg.CLIPPING_RANGE: self.settings.clipping_range,
        }
        if self.job.strategy == "fedprox":
            config["proximal-mu"] = self.job.proximal_mu
        return config

    @property
    def report(self) -> RoundReport:
        return self.reports[-1]

    def num_fit_clients(self, num_available_clients: int) -> tuple[int, int]:
        # Exactly the job's departments: SecAgg+'s integer ranges are sized for them.
        return self.settings.num_departments, self.settings.num_departments

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        self.global_ndarrays = parameters_to_ndarrays(parameters)
        self.reports.append(
            RoundReport(server_round=server_round, started=time.perf_counter())
        )
        pairs = super().configure_fit(server_round, parameters, client_manager)
        self._sampled = [proxy.node_id for proxy, _ in pairs]
        self._responded = set()
        return pairs

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        report = self.report
        report.train_seconds = time.perf_counter() - report.started
        trained: list[DepartmentOutcome] = []
        for proxy, res in results:
            self._responded.add(proxy.node_id)
            entry = read_outcome(proxy.node_id, res, weight=None)
            self._department_of[proxy.node_id] = entry.department
            report.train.append(entry)
            if entry.status == p.Outcome.TRAINED:
                trained.append(entry)
            if entry.status in (p.Outcome.REFUSED, p.Outcome.REJECTED):
                logger.warning(
                    "round %d: %s %s: %s",
                    server_round,
                    entry.department,
                    entry.status,
                    entry.reason,
                )
        if not trained:
            logger.warning(
                "round %d: no department trained; the model is unchanged", server_round
            )
            return None, {}
        # SecAgg+ hands every result the same unmasked weighted mean.
        mean_difference = parameters_to_ndarrays(results[0][1].parameters)
        updated = [
            (g.astype(np.float64) + d).astype(g.dtype)
            for g, d in zip(self.global_ndarrays, mean_difference, strict=True)
        ]
        problem = check_update(
            p.arrays_to_numpy(self.arrays(updated)),
            p.arrays_to_numpy(self.arrays(self.global_ndarrays)),
            max_norm=self.job.max_update_norm,
        )
        if problem is not None:
            logger.warning(
                "round %d: aggregate rejected, model unchanged: %s",
                server_round,
                problem,
            )
            self.rejected_aggregates[server_round] = problem
            return None, {}
        self.global_ndarrays = updated
        report.aggregate_hash = p.hash_arrays(self.arrays(updated)).hex()
        report.aggregated_train = _weighted_mean(trained)
        return ndarrays_to_parameters(updated), dict(report.aggregated_train)

    def evaluate(
        self, server_round: int, parameters: Parameters
    ) -> tuple[float, dict[str, Scalar]] | None:
        """Central evaluation on the public test split, where the dataset has one."""
        if self._evaluate_fn is None:
            return None
        metrics = self._evaluate_fn(
            server_round, self.arrays(parameters_to_ndarrays(parameters))
        )
        if metrics is None:
            return None
        values = numeric_metrics(cast("Mapping[str, Scalar]", metrics))
        if server_round > 0 and self.reports:
            self.report.central_evaluate = values
        return values.get(p.Metric.TEST_LOSS, math.nan), dict(values)

    def finish_round(self, server_round: int, evaluation: RoundReport | None) -> None:
        """Close the round's report: dropouts named, evaluation copied, ``on_round`` told."""
        report = self.report
        if evaluation is not None:
            report.evaluate = list(evaluation.evaluate)
            report.aggregated_evaluate = dict(evaluation.aggregated_evaluate)
            for outcome in evaluation.evaluate:
                if not outcome.department.startswith("node-"):
                    self._department_of[outcome.node_id] = outcome.department
        if not report.train:
            self.halted_rounds.append(server_round)
            reason = (
                "secure aggregation halted: fewer than "
                f"{self.settings.reconstruction_threshold} departments completed it"
            )
        else:
            reason = "dropped out of the secure round before sending a masked update"
        for node_id in self._sampled:
            if node_id not in self._responded:
                department = self._department_of.get(node_id, f"node-{node_id}")
                report.train.append(
                    DepartmentOutcome(department, node_id, p.Outcome.FAILED, reason)
                )
        report.round_seconds = time.perf_counter() - report.started
        if self._on_round is not None:
            self._on_round(report)


class FedgovEvaluation:
    """``DefaultWorkflow``'s evaluate step for a secure job.

    Sends the plain path's evaluate messages through ``guard`` (a
    :class:`~coordinator.guard.GuardedStrategy`, for its sampling, vetting
    and metric aggregation), waits at most the job's round timeout, then
    closes the round in ``strategy``.
    """

    def __init__(
        self, strategy: SecureTrainingStrategy, guard: GuardedStrategy, *, job: TrainJob
    ) -> None:
        self._strategy = strategy
        self._guard = guard
        self._job = job

    def __call__(self, grid: Grid, context: Context) -> None:
        config = context.state.config_records[MAIN_CONFIGS_RECORD]
        server_round = int(cast("int", config[Key.CURRENT_ROUND]))
        arrays = self._strategy.arrays(self._strategy.global_ndarrays)
        messages = list(
            self._guard.configure_evaluate(
                server_round,
                arrays,
                ConfigRecord(dict(instruction_config(self._job))),
                grid,
            )
        )
        evaluation = None
        if messages:
            replies = grid.send_and_receive(messages, timeout=self._job.round_timeout)
            self._guard.aggregate_evaluate(server_round, replies)
            evaluation = self._guard.reports[-1]
        self._strategy.finish_round(server_round, evaluation)
