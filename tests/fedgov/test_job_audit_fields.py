"""The job's audit fields: validation and their flat run_config form."""

from __future__ import annotations

import pytest

from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob

REGISTRY = "0x" + "Ab" * 20


def test_audit_fields_survive_the_run_config() -> None:
    # Prepare
    job = TrainJob(
        purpose="cost model #12", ledger_chain_id=31337, ledger_registry=REGISTRY
    )

    # Act
    config = job.to_run_config()

    # Assert
    assert (config["audit"], config["ledger-chain-id"], config["ledger-registry"]) == (
        True,
        31337,
        REGISTRY,
    )
    assert TrainJob.from_run_config(config) == job
    assert TrainJob.from_run_config({**config, "audit": "false"}).audit is False


@pytest.mark.parametrize(
    ("overrides", "argument"),
    [
        ({"purpose": ""}, "purpose"),
        ({"ledger_chain_id": -1}, "ledger_chain_id"),
        ({"ledger_registry": "0x1234"}, "ledger_registry"),
        ({"ledger_registry": REGISTRY}, "ledger_chain_id"),
        ({"ledger_chain_id": 5}, "ledger_chain_id"),
    ],
)
def test_invalid_audit_fields_name_the_argument(
    overrides: dict[str, object], argument: str
) -> None:
    # Act / Assert
    with pytest.raises(ConfigurationError) as info:
        TrainJob(**overrides)  # type: ignore[arg-type]
    assert info.value.argument == argument


def test_turning_audit_off_warns() -> None:
    # Act / Assert
    with pytest.warns(UserWarning, match="NO audit records"):
        TrainJob(audit=False)
