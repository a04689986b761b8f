"""Reading all of one consultation's logs, in one pass, on every backend.

Every Consultation event has the consultation id as its first indexed topic,
so one query by (contract address, topic 1) returns all of a consultation's
events, of every kind, in chain order.

- JSON-RPC nodes: ``eth_getLogs`` in chunks of :data:`CHUNK_BLOCKS` blocks.
- The embedded py-evm chain: eth-tester answers ``eth_getLogs`` by fetching
  every transaction's receipt by hash, and finds each by scanning blocks
  backwards from the head, so a query over a chain of ``n`` blocks costs
  O(n^2): 8 s for one event type over the 150 blocks of a 50-resident
  consultation. Here the receipts are read block by block from py-evm itself,
  O(n): 0.3 s for all event types over the same blocks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from eth_utils.address import to_canonical_address, to_checksum_address
from hexbytes import HexBytes
from web3 import EthereumTesterProvider
from web3.exceptions import ProviderConnectionError, Web3RPCError

from ledger.errors import ChainError, ChainUnavailableError

if TYPE_CHECKING:
    from web3.types import FilterParams, LogReceipt

    from ledger.chain import Chain

__all__ = ["CHUNK_BLOCKS", "consultation_logs"]

CHUNK_BLOCKS = 5_000
"""Blocks per ``eth_getLogs`` request (public RPC providers cap ranges near this)."""


def consultation_logs(
    chain: Chain, address: str, consultation_id: int, *, from_block: int, to_block: int
) -> list[LogReceipt]:
    """The raw logs ``address`` emitted for ``consultation_id``, in chain order."""
    topic = consultation_id.to_bytes(32, "big")
    if isinstance(chain.w3.provider, EthereumTesterProvider):
        return _py_evm_logs(chain, address, topic, from_block, to_block)
    logs: list[LogReceipt] = []
    for start in range(from_block, to_block + 1, CHUNK_BLOCKS):
        end = min(start + CHUNK_BLOCKS - 1, to_block)
        params: FilterParams = {
            "address": to_checksum_address(address),
            "fromBlock": start,
            "toBlock": end,
            "topics": [None, HexBytes(topic)],
        }
        try:
            logs.extend(chain.w3.eth.get_logs(params))
        except Web3RPCError as e:
            raise ChainError(f"eth_getLogs({start}..{end})", str(e.message)) from e
        except (OSError, ProviderConnectionError) as e:
            raise ChainUnavailableError(
                chain.endpoint, f"{type(e).__name__}: {e}"
            ) from e
    return logs


def _py_evm_logs(
    chain: Chain, address: str, topic: bytes, from_block: int, to_block: int
) -> list[LogReceipt]:
    tester = cast("EthereumTesterProvider", chain.w3.provider).ethereum_tester
    if tester is None:
        raise ChainError("read logs", "the embedded chain has no eth-tester")
    evm_chain: Any = tester.backend.chain
    wanted = to_canonical_address(address)
    topic_value = int.from_bytes(topic, "big")
    logs: list[LogReceipt] = []
    for number in range(from_block, to_block + 1):
        block = evm_chain.get_canonical_block_by_number(number)
        receipts = block.get_receipts(evm_chain.chaindb)
        log_index = 0
        for tx_index, (transaction, receipt) in enumerate(
            zip(block.transactions, receipts, strict=True)
        ):
            for log in receipt.logs:
                if (
                    log.address == wanted
                    and len(log.topics) > 1
                    and log.topics[1] == topic_value
                ):
                    entry = {
                        "address": to_checksum_address(log.address),
                        "topics": [HexBytes(t.to_bytes(32, "big")) for t in log.topics],
                        "data": HexBytes(log.data),
                        "blockNumber": number,
                        "blockHash": HexBytes(block.hash),
                        "transactionHash": HexBytes(transaction.hash),
                        "transactionIndex": tx_index,
                        "logIndex": log_index,
                        "removed": False,
                    }
                    logs.append(cast("LogReceipt", entry))
                log_index += 1
    return logs
