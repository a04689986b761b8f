"""Every Hydra config group composes, instantiates, and rejects typos."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from fedgov.commands.config import CONFIGS, build_job, register_schemas
from fedgov.job import TrainJob

GROUPS = ("dataset", "partition", "model", "strategy", "privacy", "engine")


@pytest.fixture(autouse=True)
def _hydra() -> Iterator[None]:
    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        yield


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


@pytest.mark.parametrize(
    ("group", "option"), [(g, o) for g in GROUPS for o in _options(g)]
)
def test_every_group_option_composes_and_instantiates(group: str, option: str) -> None:
    cfg = compose("train", overrides=[f"{group}={option}", "job_id=t"])
    job, engine = build_job(cfg)
    assert isinstance(job, TrainJob)
    assert hasattr(engine, "run")


def test_command_line_example_from_the_issue() -> None:
    cfg = compose(
        "train", overrides=["dataset=adult", "privacy.epsilon=3", "strategy=fedprox"]
    )
    job, _ = build_job(cfg)
    assert (job.dataset, job.epsilon, job.strategy) == ("adult", 3.0, "fedprox")
    assert job.job_id.startswith("train-adult-")


def test_a_typo_fails_at_compose_time() -> None:
    with pytest.raises(ConfigCompositionException):
        compose("train", overrides=["privacy.epsilonn=3"])
    with pytest.raises(ConfigCompositionException):
        compose("train", overrides=["strategy=fedproxx"])


def test_a_wrong_type_fails_at_compose_time() -> None:
    with pytest.raises((ConfigCompositionException, ValidationError, ConfigKeyError)):
        compose("train", overrides=["num_rounds=ten"])


def test_non_private_option_gives_a_non_private_job() -> None:
    job, _ = build_job(
        compose("train", overrides=["privacy=none", "engine.allow_non_private=true"])
    )
    assert job.epsilon is None
