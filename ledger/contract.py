"""The shared part of every client of a deployed fedgov contract.

A client wraps one contract of the artifacts in :mod:`ledger.contracts`:
deployed from its artifact or attached at an address (whose code is checked
against the artifact, :meth:`ledger.chain.Chain.contract`), called and
transacted through the :class:`~ledger.chain.Chain`, which turns web3 and
node failures into :class:`~ledger.errors.ChainError` and reverts into
:class:`~ledger.errors.ContractRevertError` with the contract's reason, and
read back through its events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Self

from eth_utils.address import to_checksum_address

from ledger.chain import DEFAULT_GAS, DEPLOY_GAS
from ledger.errors import ChainError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3.contract import Contract
    from web3.contract.contract import ContractFunction
    from web3.types import EventData, TxReceipt

    from ledger.chain import Chain

__all__ = ["DeployedContract"]


class DeployedContract:
    """Client of one deployed contract; subclasses name their ``ARTIFACT``."""

    ARTIFACT: ClassVar[str]

    def __init__(self, chain: Chain, contract: Contract) -> None:
        self._chain = chain
        self._contract = contract

    @classmethod
    def _deploy(
        cls, chain: Chain, *args: Any, sender: LocalAccount, gas: int = DEPLOY_GAS
    ) -> Self:
        """Deploy a new instance with constructor arguments ``args``."""
        return cls(chain, chain.deploy(cls.ARTIFACT, *args, sender=sender, gas=gas))

    @classmethod
    def at(cls, chain: Chain, address: str) -> Self:
        """The contract deployed at ``address`` (its code is checked)."""
        return cls(chain, chain.contract(cls.ARTIFACT, address))

    @property
    def chain(self) -> Chain:
        return self._chain

    @property
    def address(self) -> str:
        return str(self._contract.address)

    @property
    def contract(self) -> Contract:
        return self._contract

    def _call(self, function: ContractFunction) -> Any:
        return self._chain.call(function)

    def _call_address(self, function: ContractFunction) -> str:
        return to_checksum_address(self._chain.call(function))

    def _transact(
        self,
        function: ContractFunction,
        *,
        sender: LocalAccount,
        gas: int = DEFAULT_GAS,
    ) -> TxReceipt:
        return self._chain.transact(function, sender=sender, gas=gas)

    def _receipt_events(self, event: str, receipt: TxReceipt) -> list[EventData]:
        """The ``event`` logs this contract emitted in the transaction of ``receipt``."""
        return self._chain.receipt_events(self._contract.events[event](), receipt)

    def _one_event(self, event: str, receipt: TxReceipt, *, what: str) -> EventData:
        """The single ``event`` a transaction must have emitted (``what`` names it)."""
        events = self._receipt_events(event, receipt)
        if len(events) != 1:
            raise ChainError(what, f"expected one {event} event, got {len(events)}")
        return events[0]

    def _events_in_block(
        self, event: str, block: int, filters: dict[str, Any]
    ) -> list[EventData]:
        """The ``event`` logs matching ``filters`` in ``block``, in log order."""
        events = self._chain.logs(
            self._contract.events[event](),
            from_block=block,
            to_block=block,
            argument_filters=filters,
        )
        return sorted(events, key=lambda e: int(e["logIndex"]))
