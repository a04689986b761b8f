"""Flower's own aggregation strategies, chosen by name."""

from __future__ import annotations

from flwr.serverapp.strategy import (
    FedAvg,
    FedAvgM,
    FedMedian,
    FedProx,
    FedTrimmedAvg,
    Krum,
    Strategy,
)

from fedgov.errors import ConfigurationError
from fedgov.job import STRATEGIES, TrainJob

__all__ = ["build_strategy"]


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
    }
    if job.strategy == "fedavg":
        return FedAvg(**common)  # type: ignore[arg-type]
    if job.strategy == "fedavgm":
        return FedAvgM(
            server_learning_rate=job.server_learning_rate,
            server_momentum=job.server_momentum,
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
