"""What the analyst's commands share: the key a job or query is signed with.

``fedgov train``, ``fedgov query`` and ``fedgov deploy`` take
``--analyst-key FILE`` (sealed with ``$FEDGOV_KEY_PASSWORD``, or a
plaintext demo key, which warns) and sign the job or query with it for the
county's chain and Roles contract: the county installed at
``$FEDGOV_HOME`` (:mod:`fedgov.county`), or ``--rpc`` and ``--roles``. The
departments read analysts' roles from the same contract. Without
``--analyst-key`` the job travels unsigned, and departments with an access
policy refuse it.
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
    from eth_account.signers.local import LocalAccount

    from fedgov.county import CountyConfig

__all__ = ["AnalystAccess", "analyst_access"]


@dataclass(frozen=True)
class AnalystAccess:
    """The analyst's key, and the county's Roles contract the request is for."""

    analyst: LocalAccount
    roles: RpcRoles


def analyst_access(
    analyst_key: Path | None,
    *,
    rpc: str | None,
    roles: str | None,
    county: CountyConfig | None,
) -> AnalystAccess | None:
    """The analyst's key and the county's Roles contract, when a key is given.

    ``rpc`` and ``roles`` default to ``county``'s chain and contract.
    """
    if analyst_key is None:
        if rpc or roles:
            raise ConfigurationError("--analyst-key", "--rpc and --roles sign with it")
        return None
    rpc = rpc or (county.chain.rpc_url if county is not None else None)
    roles = roles or (county.contracts.roles if county is not None else None)
    if not rpc or not roles:
        raise ConfigurationError(
            "--rpc/--roles",
            "name the county chain and its Roles contract to sign for (no county "
            "is installed: `fedgov init`)",
        )
    chain_id = Chain.connect(rpc, accounts=[]).chain_id
    return AnalystAccess(load_person_key(analyst_key), RpcRoles(rpc, roles, chain_id))
