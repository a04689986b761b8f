"""Every strategy name builds Flower's own strategy, with the job's parameters."""

from __future__ import annotations

import pytest
from flwr.serverapp import strategy as flower

from coordinator.strategies import build_strategy
from fedgov.errors import ConfigurationError
from fedgov.job import STRATEGIES, TrainJob

EXPECTED = {
    "fedavg": flower.FedAvg,
    "fedavgm": flower.FedAvgM,
    "fedadam": flower.FedAdam,
    "fedyogi": flower.FedYogi,
    "fedprox": flower.FedProx,
    "fedmedian": flower.FedMedian,
    "fedtrimmedavg": flower.FedTrimmedAvg,
    "krum": flower.Krum,
}


def test_every_strategy_name_is_built() -> None:
    assert set(EXPECTED) == set(STRATEGIES)


@pytest.mark.parametrize("name", STRATEGIES)
def test_a_strategy_samples_every_department(name: str) -> None:
    # Prepare
    job = TrainJob(strategy=name)

    # Execute
    strategy = build_strategy(job, num_departments=6)

    # Assert: exactly Flower's class, every department every round
    assert type(strategy) is EXPECTED[name]
    assert strategy.fraction_train == 1.0
    assert strategy.min_train_nodes == 6
    assert strategy.min_available_nodes == 6


def test_fedavgm_takes_the_jobs_server_step_and_momentum() -> None:
    job = TrainJob(strategy="fedavgm", server_learning_rate=0.7, server_momentum=0.3)

    strategy = build_strategy(job, num_departments=3)

    assert isinstance(strategy, flower.FedAvgM)
    assert strategy.server_learning_rate == 0.7
    assert strategy.server_momentum == 0.3


@pytest.mark.parametrize("name", ["fedadam", "fedyogi"])
def test_adaptive_strategies_take_the_jobs_server_step_and_tau(name: str) -> None:
    job = TrainJob(strategy=name, server_learning_rate=0.05, server_tau=0.01)

    strategy = build_strategy(job, num_departments=3)

    assert type(strategy) is EXPECTED[name]
    assert strategy.eta == 0.05  # type: ignore[attr-defined]
    assert strategy.tau == 0.01  # type: ignore[attr-defined]


def test_fedprox_takes_the_jobs_proximal_term() -> None:
    strategy = build_strategy(
        TrainJob(strategy="fedprox", proximal_mu=0.2), num_departments=3
    )

    assert isinstance(strategy, flower.FedProx)
    assert strategy.proximal_mu == 0.2


@pytest.mark.parametrize(
    ("changes", "argument"),
    [
        ({"server_momentum": 1.0}, "server_momentum"),
        ({"server_momentum": -0.1}, "server_momentum"),
        ({"server_learning_rate": 0.0}, "server_learning_rate"),
        ({"strategy": "fedadagrad"}, "strategy"),
        ({"server_tau": 0.0}, "server_tau"),
    ],
)
def test_bad_strategy_parameters_name_the_argument(
    changes: dict[str, object], argument: str
) -> None:
    with pytest.raises(ConfigurationError, match=argument):
        TrainJob(**changes)  # type: ignore[arg-type]
