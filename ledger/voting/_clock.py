"""Moving a development chain's clock, so a consultation's windows pass in seconds.

Consultation windows are block timestamps. On a real chain they pass with real
time; on the embedded py-evm chain and on anvil the rehearsal, the tests and
``fedgov vote advance-time`` jump ahead instead:

- py-evm (eth-tester): ``time_travel(t)`` mines one block stamped about ``t``;
- anvil: ``evm_setNextBlockTimestamp`` then ``evm_mine``.

Any other node refuses: production chains cannot be time-travelled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from web3 import EthereumTesterProvider

from ledger.errors import ChainError

if TYPE_CHECKING:
    from ledger.chain import Chain

__all__ = ["advance_to", "latest_timestamp"]


def latest_timestamp(chain: Chain) -> int:
    """The timestamp of the chain's latest block."""
    return chain.block_timestamp(chain.block_number)


def advance_to(chain: Chain, timestamp: int) -> int:
    """Mine a block stamped ``timestamp`` or later; the latest timestamp after.

    Nothing happens when the chain is already there.
    """
    current = latest_timestamp(chain)
    if current >= timestamp:
        return current
    provider = chain.w3.provider
    if isinstance(provider, EthereumTesterProvider):
        if provider.ethereum_tester is None:
            raise ChainError("move the clock", "the embedded chain has no eth-tester")
        # eth-tester stamps the mined block one second early; ask for one more.
        provider.ethereum_tester.time_travel(timestamp + 1)
    else:
        for method, params in (
            ("evm_setNextBlockTimestamp", [timestamp]),
            ("evm_mine", []),
        ):
            response = provider.make_request(method, params)  # type: ignore[arg-type]
            if "error" in response:
                raise ChainError(
                    f"{method} on {chain.endpoint}",
                    f"{response['error']}: only development chains (embedded "
                    "py-evm, anvil) can move their clock",
                )
    reached = latest_timestamp(chain)
    if reached < timestamp:
        raise ChainError(
            f"advance the clock of {chain.endpoint}",
            f"the latest block is stamped {reached}, not {timestamp} or later",
        )
    return reached
