"""The Roles contract: who may do what, now and at any past block.

Six roles (:class:`ledger.records.Role`): admin, coordinator, department, auditor,
registrar, analyst. Only an admin grants or revokes; every change emits
``RoleGranted``/``RoleRevoked`` (account, role, sender) with the block of the
previous change of the same (account, role) pair, and the contract keeps the
block of the newest one. :meth:`Roles.history` follows that chain backwards
with one single-block log query per change, so "did account A hold role R at
block (or time) T" costs a handful of queries, not a scan of the chain.
:meth:`Roles.accounts` lists every account ever granted a role.

Other contracts check roles through ``has_role(account, role)`` (see
``ledger/contracts/IRoles.vyi``); the role ids are ``keccak256("fedgov.role.<name>")``,
identical in ``ledger/contracts/role_ids.vy`` and :func:`role_id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from fedgov.errors import ConfigurationError
from ledger.access import AccessDomain
from ledger.contract import DeployedContract
from ledger.errors import ChainError
from ledger.records import Role

if TYPE_CHECKING:
    from collections.abc import Iterator

    from eth_account.signers.local import LocalAccount
    from web3.types import EventData

    from ledger.chain import Chain

__all__ = ["RoleChange", "RoleCheck", "Roles", "role_from_id", "role_id"]


def role_id(role: Role) -> bytes:
    """The bytes32 id of ``role`` on chain: ``keccak256("fedgov.role.<name>")``."""
    return keccak(text=f"fedgov.role.{role.value}")


def role_from_id(value: bytes) -> Role:
    """The role whose on-chain id is ``value``."""
    for role in Role:
        if role_id(role) == value:
            return role
    raise ConfigurationError("role_id", f"0x{value.hex()} is no fedgov role")


@dataclass(frozen=True)
class RoleChange:
    """One grant or revoke, as recorded on chain."""

    account: str
    role: Role
    granted: bool
    sender: str
    block_number: int
    log_index: int
    tx_hash: bytes


@dataclass(frozen=True)
class RoleCheck:
    """Whether ``account`` held ``role`` after block ``block``: what a department
    checked, and an auditor can check again from the role's history."""

    account: str
    role: Role
    held: bool
    block: int


class Roles(DeployedContract):
    """Client of one deployed Roles contract."""

    ARTIFACT = "Roles"

    @classmethod
    def deploy(cls, chain: Chain, *, admin: LocalAccount) -> Roles:
        """Deploy a Roles contract whose first admin is ``admin``."""
        return cls._deploy(chain, sender=admin)

    def grant(self, account: str, role: Role, *, sender: LocalAccount) -> RoleChange:
        """Grant ``role`` to ``account``; ``sender`` must be an admin."""
        function = self._contract.functions.grant_role(
            to_checksum_address(account), role_id(role)
        )
        receipt = self._transact(function, sender=sender)
        event = self._one_event("RoleGranted", receipt, what="grant")
        return _change(event, granted=True)

    def revoke(self, account: str, role: Role, *, sender: LocalAccount) -> RoleChange:
        """Revoke ``role`` from ``account``; ``sender`` must be an admin."""
        function = self._contract.functions.revoke_role(
            to_checksum_address(account), role_id(role)
        )
        receipt = self._transact(function, sender=sender)
        event = self._one_event("RoleRevoked", receipt, what="revoke")
        return _change(event, granted=False)

    def has_role(self, account: str, role: Role) -> bool:
        """Whether ``account`` holds ``role`` now."""
        function = self._contract.functions.has_role(
            to_checksum_address(account), role_id(role)
        )
        return bool(self._call(function))

    def accounts(self) -> list[str]:
        """Every account ever granted a role, in the order of its first grant."""
        count = int(self._call(self._contract.functions.account_count()))
        return [
            to_checksum_address(self._call(self._contract.functions.accounts(index)))
            for index in range(count)
        ]

    @property
    def access_domain(self) -> AccessDomain:
        """The domain analysts sign requests for: this chain and this contract."""
        return AccessDomain(self._chain.chain_id, self.address)

    def check_now(self, account: str, role: Role) -> RoleCheck:
        """Whether ``account`` holds ``role`` at the chain's latest block, and which
        block that was (a change mined meanwhile is not counted)."""
        block = self._chain.block_number
        return RoleCheck(
            account=to_checksum_address(account),
            role=role,
            held=self.held_at(account, role, block=block),
            block=block,
        )

    def holders(self, role: Role) -> list[str]:
        """Every account holding ``role`` now, in the order of their first grant.

        One log query over the whole chain (fine on anvil or a county node; slow
        on py-evm with a long history), then one ``has_role`` per account.
        """
        events = self._chain.logs(
            self._contract.events.RoleGranted(),
            from_block=0,
            to_block=self._chain.block_number,
            argument_filters={"role": role_id(role)},
        )
        accounts = dict.fromkeys(
            to_checksum_address(event["args"]["account"]) for event in events
        )
        return [account for account in accounts if self.has_role(account, role)]

    def history(self, account: str, role: Role) -> list[RoleChange]:
        """Every grant and revoke of ``role`` to ``account``, oldest first."""
        return list(reversed(list(self._newest_first(account, role))))

    def held_at(
        self,
        account: str,
        role: Role,
        *,
        block: int | None = None,
        timestamp: int | None = None,
    ) -> bool:
        """Whether ``account`` held ``role`` after block ``block`` (inclusive) or
        at Unix time ``timestamp`` (the state of the last block at or before it).

        Give exactly one of ``block`` and ``timestamp``.
        """
        if (block is None) == (timestamp is None):
            raise ConfigurationError("block/timestamp", "give exactly one of them")
        for change in self._newest_first(account, role):
            if block is not None and change.block_number <= block:
                return change.granted
            if (
                timestamp is not None
                and self._chain.block_timestamp(change.block_number) <= timestamp
            ):
                return change.granted
        return False

    def _newest_first(self, account: str, role: Role) -> Iterator[RoleChange]:
        checksummed = to_checksum_address(account)
        function = self._contract.functions.last_change_block(
            checksummed, role_id(role)
        )
        block = int(self._call(function))
        filters = {"account": checksummed, "role": role_id(role)}
        while block != 0:
            events = [
                *self._events_in_block("RoleGranted", block, filters),
                *self._events_in_block("RoleRevoked", block, filters),
            ]
            if not events:
                raise ChainError(
                    f"Roles.history({checksummed}, {role})",
                    f"block {block} holds no change the contract points at "
                    "(does the node keep logs that old?)",
                )
            events.sort(key=lambda e: int(e["logIndex"]), reverse=True)
            for event in events:
                yield _change(event, granted=event["event"] == "RoleGranted")
            # The oldest change in this block points at the block before it.
            block = int(events[-1]["args"]["previousChangeBlock"])


def _change(event: EventData, *, granted: bool) -> RoleChange:
    args = event["args"]
    return RoleChange(
        account=to_checksum_address(args["account"]),
        role=role_from_id(bytes(args["role"])),
        granted=granted,
        sender=to_checksum_address(args["sender"]),
        block_number=int(event["blockNumber"]),
        log_index=int(event["logIndex"]),
        tx_hash=bytes(event["transactionHash"]),
    )
