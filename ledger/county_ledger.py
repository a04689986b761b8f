"""Where a county's audit logs are anchored: its chain, contracts and accounts.

:class:`CountyLedger` is what the audit hooks need from the chain side. It
comes from the county configuration (:meth:`CountyLedger.from_county`, the
county chain node that ``fedgov init`` set up) or, for tests and
``--ephemeral`` runs, from a fresh in-process EVM with the contracts just
deployed (:meth:`CountyLedger.ephemeral`), whose anchors die with the process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from fedgov.county import CountyConfig, find_county
from fedgov.errors import ConfigurationError
from ledger.anchor_registry import AnchorRegistry
from ledger.chain import Chain
from ledger.chain_roles import Roles
from ledger.keys import key_password, load_key
from ledger.records import Role
from ledger.relay import AnchorPolicy, AnchorRelay
from ledger.witness_policy import WitnessPolicy

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from eth_account.signers.local import LocalAccount

    from ledger.tree_head import SigningDomain

__all__ = ["EPHEMERAL_COUNTY", "FROM_COUNTY", "CountyLedger", "resolve_ledger"]

_log = logging.getLogger(__name__)

EPHEMERAL_COUNTY = "ephemeral"
"""The county name of an in-process chain (checkpoint origins carry it)."""


@dataclass(frozen=True)
class CountyLedger:
    """A county's chain, its Roles and AnchorRegistry, and who pays and grants."""

    chain: Chain
    roles: Roles
    registry: AnchorRegistry
    relayer: LocalAccount
    """Pays for anchors; holds no role (the registry checks the signer's)."""
    admin: LocalAccount | None
    """Grants and revokes roles; ``None`` where the admin key is not held."""
    county: str
    witness_policy: WitnessPolicy | None = None
    persistent: bool = True
    """``False`` for an in-process chain that ends with this process."""

    @classmethod
    def from_county(cls, config: CountyConfig) -> CountyLedger:
        """The chain and contracts of ``config``, with its relayer's (and admin's) keys."""
        password = key_password()
        relayer = load_key(config.accounts.relayer, password=password)
        admin = (
            load_key(config.accounts.admin, password=password)
            if config.accounts.admin is not None and config.accounts.admin.is_file()
            else None
        )
        chain = Chain.connect(
            config.chain.rpc_url,
            accounts=[relayer] if admin is None else [admin, relayer],
        )
        if chain.chain_id != config.chain.chain_id:
            raise ConfigurationError(
                f"{config.file} [chain.chain_id]",
                f"is {config.chain.chain_id}, but {config.chain.rpc_url} serves "
                f"chain {chain.chain_id}",
            )
        registry = AnchorRegistry.at(chain, config.contracts.anchor_registry)
        roles = Roles.at(chain, config.contracts.roles)
        if registry.roles_address != roles.address:
            raise ConfigurationError(
                f"{config.file} [contracts.roles]",
                f"the registry reads roles from {registry.roles_address}, "
                f"not {roles.address}",
            )
        policy = (
            WitnessPolicy.read(config.witness_policy)
            if config.witness_policy is not None
            else None
        )
        return cls(
            chain=chain,
            roles=roles,
            registry=registry,
            relayer=relayer,
            admin=admin,
            county=config.county,
            witness_policy=policy,
        )

    @classmethod
    def find(cls) -> CountyLedger | None:
        """The ledger of the county installed at ``$FEDGOV_HOME``; ``None`` if none."""
        config = find_county()
        return cls.from_county(config) if config is not None else None

    @classmethod
    def ephemeral(cls) -> CountyLedger:
        """A fresh in-process EVM with Roles and AnchorRegistry deployed.

        Its first account is the admin, its second pays for anchors; its
        anchors live as long as this process.
        """
        chain = Chain.embedded()
        admin, relayer = chain.accounts[0], chain.accounts[1]
        roles = Roles.deploy(chain, admin=admin)
        registry = AnchorRegistry.deploy(chain, roles, sender=admin)
        return cls(
            chain=chain,
            roles=roles,
            registry=registry,
            relayer=relayer,
            admin=admin,
            county=EPHEMERAL_COUNTY,
            persistent=False,
        )

    @property
    def domain(self) -> SigningDomain:
        """The EIP-712 domain every actor signs its heads under."""
        return self.registry.domain

    def ensure_role(self, address: str, role: Role) -> None:
        """Grant ``role`` to ``address`` unless it holds it (needs the admin)."""
        if self.roles.has_role(address, role):
            return
        if self.admin is None:
            raise ConfigurationError(
                "admin",
                f"{address} lacks the {role.value} role and this machine holds no "
                "admin key to grant it (enrol it where the county's admin key is)",
            )
        self.roles.grant(address, role, sender=self.admin)
        _log.info("granted %s the %s role", address, role.value)

    def relay(
        self, logs: Iterable[Path] = (), *, policy: AnchorPolicy | None = None
    ) -> AnchorRelay:
        """A relay anchoring ``logs`` on this registry, the relayer paying."""
        return AnchorRelay(self.registry, sender=self.relayer, policy=policy, logs=logs)

    def describe(self) -> str:
        kind = "county chain" if self.persistent else "in-process chain (ephemeral)"
        return (
            f"{kind} {self.chain.endpoint} (chain id {self.chain.chain_id}), "
            f"AnchorRegistry {self.registry.address}"
        )


FROM_COUNTY: Literal["county"] = "county"
"""``ledger=FROM_COUNTY``: the county installed at ``$FEDGOV_HOME``, if any."""


def resolve_ledger(
    ledger: CountyLedger | Literal["county"] | None,
) -> CountyLedger | None:
    """``ledger`` itself, or for :data:`FROM_COUNTY` the county's (``None``: none)."""
    return CountyLedger.find() if ledger == FROM_COUNTY else ledger
