"""Flower's own aggregation strategies, chosen by name.

Every strategy averages the departments' evaluation metrics weighted by
their held-out records, as Flower does, except the RMSE: squared errors add
up over records where their roots do not, so the federated RMSE is the root
of the weighted mean of the departments' squared RMSEs, the RMSE of the
union of their held-out records.
"""

from __future__ import annotations

from flwr.app import MetricRecord, RecordDict
from flwr.serverapp.strategy import (
    FedAdam,
    FedAvg,
    FedAvgM,
    FedMedian,
    FedProx,
    FedTrimmedAvg,
    FedYogi,
    Krum,
    Strategy,
)
from flwr.serverapp.strategy.strategy_utils import aggregate_metricrecords

from fedgov import protocol as p
from fedgov.errors import ConfigurationError
from fedgov.job import STRATEGIES, TrainJob
from fedgov.metrics import pooled_rmse

__all__ = ["aggregate_evaluation", "build_strategy"]


def aggregate_evaluation(records: list[RecordDict], weighting: str) -> MetricRecord:
    """Flower's weighted mean of the evaluation metrics, the RMSE pooled."""
    aggregated = aggregate_metricrecords(records, weighting)
    metrics = [next(iter(r.metric_records.values())) for r in records]
    if all(p.Metric.EVAL_RMSE in m for m in metrics) and metrics:
        aggregated[p.Metric.EVAL_RMSE] = pooled_rmse(
            [float(m[p.Metric.EVAL_RMSE]) for m in metrics],  # type: ignore[arg-type]
            [float(m[weighting]) for m in metrics],  # type: ignore[arg-type]
        )
    return aggregated


def build_strategy(job: TrainJob, *, num_departments: int) -> Strategy:
    """The Flower strategy ``job.strategy`` names, sampling every department."""
    # Every department trains every round. Flower sizes a round's sample from
    # the nodes connected at that moment, so anything below the full roster
    # lets an early round go out before slow nodes have connected.
    evaluate = max(min(job.min_departments, num_departments), 1)
    common = {
        "fraction_train": 1.0,
        "fraction_evaluate": job.fraction_evaluate,
        "min_train_nodes": num_departments,
        "min_evaluate_nodes": num_departments
        if job.fraction_evaluate == 1.0
        else evaluate,
        "min_available_nodes": num_departments,
        "evaluate_metrics_aggr_fn": aggregate_evaluation,
    }
    if job.strategy == "fedavg":
        return FedAvg(**common)  # type: ignore[arg-type]
    if job.strategy == "fedavgm":
        return FedAvgM(
            server_learning_rate=job.server_learning_rate,
            server_momentum=job.server_momentum,
            **common,  # type: ignore[arg-type]
        )
    if job.strategy in ("fedadam", "fedyogi"):
        # Flower's eta_l only reaches clients that read it; a department's
        # step size is the job's learning_rate.
        adaptive = FedAdam if job.strategy == "fedadam" else FedYogi
        return adaptive(
            eta=job.server_learning_rate,
            eta_l=job.learning_rate,
            tau=job.server_tau,
            **common,  # type: ignore[arg-type]
        )
    if job.strategy == "fedprox":
        return FedProx(proximal_mu=job.proximal_mu, **common)  # type: ignore[arg-type]
    if job.strategy == "fedmedian":
        return FedMedian(**common)  # type: ignore[arg-type]
    if job.strategy == "fedtrimmedavg":
        return FedTrimmedAvg(beta=job.trimmed_beta, **common)  # type: ignore[arg-type]
    if job.strategy == "krum":
        return Krum(num_malicious_nodes=job.krum_num_malicious, **common)  # type: ignore[arg-type]
    raise ConfigurationError(
        "strategy", f"must be one of {STRATEGIES}, got {job.strategy!r}"
    )
