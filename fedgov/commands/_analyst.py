"""What the analyst's commands share: the key a job or query is signed with.

``fedgov train``, ``fedgov query`` and ``fedgov deploy`` take
``--analyst-key FILE`` (sealed with ``$FEDGOV_KEY_PASSWORD``, or a
plaintext demo key, which warns) and sign the job or query with it for the
county's chain (``--rpc``) and Roles contract (``--roles``); the departments
read analysts' roles from the same contract. Without ``--analyst-key`` the
job travels unsigned, and departments with an access policy refuse it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from department_nodes.access import RpcRoles
from fedgov.commands._department import load_person_key
from fedgov.errors import ConfigurationError
from ledger.chain import Chain

if TYPE_CHECKING:
    import argparse

    from eth_account.signers.local import LocalAccount

__all__ = ["AnalystAccess", "add_analyst_arguments", "analyst_access"]


@dataclass(frozen=True)
class AnalystAccess:
    """The analyst's key, and the county's Roles contract the request is for."""

    analyst: LocalAccount
    roles: RpcRoles


def add_analyst_arguments(parser: argparse.ArgumentParser) -> None:
    """``--analyst-key``, ``--purpose``, ``--rpc`` and ``--roles``."""
    group = parser.add_argument_group("the analyst's signed request")
    group.add_argument(
        "--analyst-key", type=Path, help="sign the request with this key file"
    )
    group.add_argument("--purpose", help="the declared purpose (recorded everywhere)")
    group.add_argument("--rpc", help="the county chain's JSON-RPC URL")
    group.add_argument("--roles", help="the county's Roles contract")


def analyst_access(args: argparse.Namespace) -> AnalystAccess | None:
    """The analyst's key and the county's Roles contract, when a key is given."""
    if args.analyst_key is None:
        if args.rpc or args.roles:
            raise ConfigurationError("--analyst-key", "--rpc and --roles sign with it")
        return None
    if not args.rpc or not args.roles:
        raise ConfigurationError(
            "--rpc/--roles", "name the county chain and its Roles contract to sign for"
        )
    chain_id = Chain.connect(args.rpc, accounts=[]).chain_id
    return AnalystAccess(
        load_person_key(args.analyst_key), RpcRoles(args.rpc, args.roles, chain_id)
    )
