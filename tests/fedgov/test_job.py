"""The job's flat run_config form, as both Flower apps read it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from fedgov.errors import ConfigurationError
from fedgov.job import Accountant, TrainJob

ROOT = Path(__file__).resolve().parents[2]


def test_round_trip_through_run_config() -> None:
    job = TrainJob(dataset="adult", epsilon=3.0, strategy="fedprox", num_rounds=4)
    assert TrainJob.from_run_config(job.to_run_config()) == job


def test_the_accountant_defaults_to_pld_and_travels_as_its_name() -> None:
    assert TrainJob().accountant is Accountant.PLD
    job = TrainJob(accountant=Accountant.RDP)
    assert job.to_run_config()["accountant"] == "rdp"
    assert type(job.to_run_config()["accountant"]) is str
    parsed = TrainJob.from_run_config({"accountant": "rdp"})
    assert parsed.accountant is Accountant.RDP
    assert parsed == job


def test_zero_epsilon_means_non_private() -> None:
    job = TrainJob.from_run_config({"epsilon": 0.0})
    assert job.epsilon is None
    assert not job.private


def test_pyproject_declares_every_job_key_with_its_default() -> None:
    # flwr only lets `--run-config` override keys declared in pyproject.toml.
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["flwr"][
        "app"
    ]["config"]
    # ``query`` (a DP analytics query as JSON) and ``query-service`` (a standing
    # federation's query run: its socket) are the keys that are not job fields.
    assert declared == {**TrainJob().to_run_config(), "query": "", "query-service": ""}


@pytest.mark.parametrize(
    ("overrides", "argument"),
    [
        ({"strategy": "fedsgd"}, "strategy"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"delta": 1.0}, "delta"),
        ({"num_rounds": 0}, "num_rounds"),
        ({"trimmed_beta": 0.5}, "trimmed_beta"),
        ({"partition": "random"}, "partition"),
        ({"accountant": "zcdp"}, "accountant"),
    ],
)
def test_invalid_jobs_name_the_argument(
    overrides: dict[str, object], argument: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        TrainJob(**overrides)  # type: ignore[arg-type]
    assert info.value.argument == argument


def test_insecure_rng_warns() -> None:
    with pytest.warns(UserWarning, match="secure_rng=False"):
        TrainJob(secure_rng=False)
