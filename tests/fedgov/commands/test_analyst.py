"""The analyst's flags (``--analyst-key``, ``--rpc``, ``--roles``): refused
half-given, and the county's Roles contract reaching deployed departments."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import pytest

from department_nodes.access import AccessSettings, RpcRoles
from fedgov.commands._analyst import AnalystAccess, analyst_access
from fedgov.commands._arguments import add_analyst_arguments
from fedgov.engines.deployment import DeploymentEngine
from fedgov.errors import ConfigurationError
from ledger.access import AccessDomain

if TYPE_CHECKING:
    from pathlib import Path

ROLES = "0x" + "ab" * 20


def _access(argv: list[str]) -> AnalystAccess | None:
    """``analyst_access`` of the flags ``argv``, on a machine with no county."""
    parser = argparse.ArgumentParser()
    add_analyst_arguments(parser)
    args = parser.parse_args(argv)
    return analyst_access(args.analyst_key, rpc=args.rpc, roles=args.roles, county=None)


def test_without_a_key_the_request_travels_unsigned() -> None:
    assert _access(["--purpose", "research"]) is None


@pytest.mark.parametrize(
    ("argv", "argument"),
    [
        (["--rpc", "http://127.0.0.1:8545"], "--analyst-key"),
        (["--roles", ROLES], "--analyst-key"),
        (["--analyst-key", "analyst.json"], "--rpc/--roles"),
        (["--analyst-key", "analyst.json", "--rpc", "http://x"], "--rpc/--roles"),
    ],
)
def test_half_given_flags_are_refused_by_name(argv: list[str], argument: str) -> None:
    with pytest.raises(ConfigurationError, match=argument):
        _access(argv)


@pytest.mark.filterwarnings("ignore:deployment engine:UserWarning")
def test_deployed_departments_read_the_roles_contract_they_are_given(
    tmp_path: Path,
) -> None:
    # Prepare: an engine told the county's chain and Roles contract
    roles = RpcRoles("http://127.0.0.1:8545", ROLES, 31337)
    engine = DeploymentEngine(state_dir=str(tmp_path), roles=roles)

    # Act: the node configuration a SuperNode gets, read as the node reads it
    config = engine._node_config("dept-a", tmp_path)
    settings = AccessSettings.resolve(config, state_dir=tmp_path, department="dept-a")

    # Assert: the same access domain and RPC; without roles, none at all
    assert settings.domain == AccessDomain(31337, ROLES)
    assert settings.rpc_url == "http://127.0.0.1:8545"
    plain = DeploymentEngine(state_dir=str(tmp_path))._node_config("dept-a", tmp_path)
    assert not any(key.startswith("access-") for key in plain)
