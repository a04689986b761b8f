"""Chain backends: the one way fedgov talks to an EVM chain.

:class:`Chain` wraps a ``web3`` connection plus the accounts fedgov signs with:

- :meth:`Chain.embedded` — an in-process py-evm chain (web3's
  ``EthereumTesterProvider``), the default: no node, no network, funded
  accounts from eth-tester;
- :meth:`Chain.connect` — any JSON-RPC node by URL (anvil, geth, ...), signing
  locally with eth-account; :class:`AnvilProcess` starts a throw-away anvil
  node and hands out its funded dev accounts.

Transactions are signed here and sent raw, with the gas limit set by the caller
(estimating first would double the calls; on py-evm it halves the rate), and
the sender waits for the receipt. Failures come out as ledger errors whatever
the backend: a contract revert (py-evm's ``TransactionFailed``, a node's
``ContractLogicError`` / ``Web3RPCError``, or a mined transaction with status
0) is :class:`~ledger.errors.ContractRevertError` with the contract's reason
string; an unreachable node is :class:`~ledger.errors.ChainUnavailableError`.

A county runs its own keys, never dev accounts: create a keystore file once
(``eth_account.Account.encrypt(key, password)`` or ``geth account new``) and
load it with :func:`account_from_key_file` (behind a CLI ``--key-file``
option). Private keys are never logged or put into error messages.

Reading events: from a transaction's receipt (:meth:`Chain.receipt_events`) or
by narrow block ranges and indexed topics (:meth:`Chain.logs`); py-evm's log
queries over hundreds of blocks take seconds to minutes, which is why the
contracts chain each event to the block of the previous related one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, cast

from eth_account import Account
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    RequestTimedOut,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.logs import DISCARD
from web3.middleware import ExtraDataToPOAMiddleware
from web3.types import Wei

from fedgov.errors import ConfigurationError
from fedgov.types import check_address
from ledger._anvil import ANVIL_ENV, AnvilProcess, find_anvil
from ledger.contracts import load_artifact
from ledger.errors import ChainError, ChainUnavailableError, ContractRevertError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from eth_account.signers.local import LocalAccount
    from hexbytes import HexBytes
    from web3.contract import Contract
    from web3.contract.contract import ContractEvent, ContractFunction
    from web3.types import EventData, TxParams, TxReceipt

__all__ = [
    "ANVIL_ENV",
    "DEFAULT_GAS",
    "DEPLOY_GAS",
    "AnvilProcess",
    "Chain",
    "account_from_key_file",
    "find_anvil",
]

_log = logging.getLogger(__name__)

DEFAULT_GAS = 500_000
"""Gas limit of a contract call: an anchor uses ~150k, a role change ~75k."""
DEPLOY_GAS = 3_000_000
"""Gas limit of a deployment: AnchorRegistry takes ~1M."""

_REVERTED_PREFIX = "execution reverted"


class Chain:
    """A connection to one EVM chain and the accounts fedgov signs with.

    Thread-safe: every request to the node is serialised by one lock (py-evm
    is not thread-safe, and one lock makes nonces per sender consistent), but
    waiting for a receipt does not hold it.
    """

    def __init__(
        self,
        w3: Web3,
        *,
        endpoint: str,
        accounts: Sequence[LocalAccount],
        receipt_timeout_s: float = 120.0,
        priority_fee_wei: int = 10**9,
    ) -> None:
        if receipt_timeout_s <= 0:
            raise ConfigurationError(
                "receipt_timeout_s", f"must be positive, got {receipt_timeout_s}"
            )
        if priority_fee_wei < 0:
            raise ConfigurationError(
                "priority_fee_wei", f"must be >= 0, got {priority_fee_wei}"
            )
        self._w3 = w3
        self._endpoint = endpoint
        self._accounts = tuple(accounts)
        self._receipt_timeout_s = receipt_timeout_s
        self._priority_fee_wei = priority_fee_wei
        self._lock = threading.RLock()
        with self._translate("eth_chainId"), self._lock:
            self._chain_id = int(w3.eth.chain_id)

    @classmethod
    def embedded(cls) -> Chain:
        """A fresh in-process py-evm chain with eth-tester's funded accounts."""
        backend = PyEVMBackend()
        w3 = Web3(EthereumTesterProvider(EthereumTester(backend)))
        accounts = [Account.from_key(key.to_bytes()) for key in backend.account_keys]
        return cls(w3, endpoint="embedded py-evm", accounts=accounts)

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        accounts: Sequence[LocalAccount],
        timeout_s: float = 10.0,
        receipt_timeout_s: float = 120.0,
        proof_of_authority: bool = False,
    ) -> Chain:
        """A JSON-RPC node at ``url`` (``http://`` or ``https://``).

        ``proof_of_authority`` adds web3's middleware for chains whose blocks
        carry a long ``extraData`` (geth clique, many private networks).
        """
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError("url", f"must be an http(s) URL, got {url!r}")
        if timeout_s <= 0:
            raise ConfigurationError("timeout_s", f"must be positive, got {timeout_s}")
        w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout_s}))
        if proof_of_authority:
            w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
        return cls(
            w3, endpoint=url, accounts=accounts, receipt_timeout_s=receipt_timeout_s
        )

    @property
    def w3(self) -> Web3:
        """The underlying connection, for reads this class does not wrap."""
        return self._w3

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def chain_id(self) -> int:
        return self._chain_id

    @property
    def accounts(self) -> tuple[LocalAccount, ...]:
        """The funded accounts this chain was opened with."""
        return self._accounts

    @property
    def block_number(self) -> int:
        with self._translate("eth_blockNumber"), self._lock:
            return int(self._w3.eth.block_number)

    def block_timestamp(self, block_number: int) -> int:
        """The Unix time (s) of block ``block_number``."""
        with self._translate(f"eth_getBlockByNumber({block_number})"), self._lock:
            return int(self._w3.eth.get_block(block_number)["timestamp"])

    def deploy(
        self, name: str, *args: Any, sender: LocalAccount, gas: int = DEPLOY_GAS
    ) -> Contract:
        """Deploy contract ``name`` from its committed artifact; wait until mined."""
        artifact = load_artifact(name)
        factory = self._w3.eth.contract(
            abi=list(artifact.abi), bytecode=artifact.bytecode
        )
        receipt = self._send(
            factory.constructor(*args).build_transaction,
            sender=sender,
            gas=gas,
            operation=f"deploy {name}",
        )
        address = receipt["contractAddress"]
        if address is None:
            raise ChainError(f"deploy {name}", "the receipt names no contract address")
        _log.info("deployed %s at %s on %s", name, address, self._endpoint)
        return self._w3.eth.contract(address=address, abi=list(artifact.abi))

    def contract(self, name: str, address: str) -> Contract:
        """The deployed contract ``name`` at ``address``.

        Checks that the code there is this build of ``name`` (the runtime
        bytecode of its artifact, followed by its immutable values), so that an
        auditor never reads anchors from an impostor contract.
        """
        artifact = load_artifact(name)
        checksummed = Web3.to_checksum_address(
            check_address(f"{name} address", address)
        )
        with self._translate(f"eth_getCode({checksummed})"), self._lock:
            code = bytes(self._w3.eth.get_code(checksummed))
        if not code.startswith(artifact.bytecode_runtime):
            raise ChainError(
                f"load {name} at {checksummed}",
                "no contract there"
                if not code
                else "the code there is not this build of the contract",
            )
        return self._w3.eth.contract(address=checksummed, abi=list(artifact.abi))

    def transact(
        self,
        function: ContractFunction,
        *,
        sender: LocalAccount,
        gas: int = DEFAULT_GAS,
    ) -> TxReceipt:
        """Send ``function`` as a transaction from ``sender``; the mined receipt."""
        return self._send(
            function.build_transaction,
            sender=sender,
            gas=gas,
            operation=function.fn_name,
        )

    def call(self, function: ContractFunction) -> Any:
        """Evaluate a view ``function`` against the latest block."""
        with self._translate(function.fn_name), self._lock:
            return function.call()

    def receipt_events(
        self, event: ContractEvent, receipt: TxReceipt
    ) -> list[EventData]:
        """The ``event`` logs a mined transaction emitted."""
        return list(event.process_receipt(receipt, errors=DISCARD))

    def logs(
        self,
        event: ContractEvent,
        *,
        from_block: int,
        to_block: int,
        argument_filters: dict[str, Any] | None = None,
    ) -> list[EventData]:
        """``event`` logs in blocks ``from_block..to_block`` (keep the range narrow)."""
        with self._translate(f"eth_getLogs({event.event_name})"), self._lock:
            return list(
                event.get_logs(
                    argument_filters=argument_filters,
                    from_block=from_block,
                    to_block=to_block,
                )
            )

    def _send(
        self,
        build: Callable[[TxParams], TxParams],
        *,
        sender: LocalAccount,
        gas: int,
        operation: str,
    ) -> TxReceipt:
        with self._translate(operation):
            with self._lock:
                base_price = int(self._w3.eth.gas_price)
                params: TxParams = {
                    "from": sender.address,
                    "chainId": self._chain_id,
                    "gas": gas,
                    "nonce": self._w3.eth.get_transaction_count(
                        sender.address, "pending"
                    ),
                    # Twice the going price: room for the base fee to rise while
                    # the transaction waits, paid only as far as it is used.
                    "maxFeePerGas": Wei(2 * base_price + self._priority_fee_wei),
                    "maxPriorityFeePerGas": Wei(self._priority_fee_wei),
                }
                transaction = build(params)
                signed = sender.sign_transaction(cast("dict[str, Any]", transaction))
                tx_hash = self._w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = self._wait_for_receipt(tx_hash)
            if receipt["status"] != 1:
                # A revert refunds the gas it did not use; an exceptional halt
                # (out of gas, above all) burns the whole limit.
                if receipt["gasUsed"] >= gas:
                    raise ChainError(
                        operation, f"ran out of gas (limit {gas}); raise the gas limit"
                    )
                raise ContractRevertError(operation, self._replayed_reason(transaction))
        return receipt

    def _wait_for_receipt(self, tx_hash: HexBytes) -> TxReceipt:
        deadline = time.monotonic() + self._receipt_timeout_s
        delay = 0.001
        while True:
            try:
                with self._lock:
                    return self._w3.eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                if time.monotonic() >= deadline:
                    raise ChainUnavailableError(
                        self._endpoint,
                        f"transaction {tx_hash.to_0x_hex()} not mined within "
                        f"{self._receipt_timeout_s} s",
                    ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _replayed_reason(self, transaction: TxParams) -> str:
        """Why a mined transaction failed: re-executed as a call to learn its reason.

        A reverted transaction changed no contract state, so re-executing it on
        the latest state reproduces the revert (historical states are pruned on
        anvil). Out-of-gas failures come back as the node's own message.
        """
        replay = cast(
            "TxParams",
            {
                key: value
                for key, value in transaction.items()
                if key in ("from", "to", "data", "value", "gas")
            },
        )
        try:
            with self._translate("replay"), self._lock:
                self._w3.eth.call(replay, "latest")
        except ContractRevertError as e:
            return e.reason
        except ChainUnavailableError:
            raise
        except ChainError as e:
            return e.detail
        return "failed when mined, but succeeds when re-executed now; reason unknown"

    @contextlib.contextmanager
    def _translate(self, operation: str) -> Iterator[None]:
        """Turn backend exceptions into the ledger's errors."""
        try:
            yield
        except ContractLogicError as e:
            raise ContractRevertError(operation, _reason(e.message or str(e))) from e
        except TransactionFailed as e:
            # py-evm sends a string, or (message, program counter) for EVM faults.
            message = e.args[0] if e.args else ""
            if isinstance(message, tuple):
                message = message[0]
            raise ContractRevertError(operation, _reason(str(message))) from e
        except Web3RPCError as e:
            message = _rpc_message(e)
            if message.lower().startswith(_REVERTED_PREFIX):
                raise ContractRevertError(operation, _reason(message)) from e
            raise ChainError(operation, message) from e
        except (OSError, ProviderConnectionError, RequestTimedOut, TimeExhausted) as e:
            raise ChainUnavailableError(
                self._endpoint, f"{type(e).__name__}: {e}"
            ) from e


def account_from_key_file(path: Path, password: str) -> LocalAccount:
    """The account in an encrypted keystore (JSON) file, e.g. from ``--key-file``."""
    try:
        keystore = json.loads(path.read_text(encoding="utf-8"))
        key = Account.decrypt(keystore, password)
    except OSError as e:
        raise ConfigurationError("key_file", f"cannot read {path}: {e.strerror}") from e
    except (ValueError, KeyError, TypeError) as e:
        # The library's message never contains key material, but keep ours fixed.
        raise ConfigurationError(
            "key_file", f"cannot decrypt {path}: wrong password or not a keystore file"
        ) from e
    account: LocalAccount = Account.from_key(key)
    return account


def _reason(message: str) -> str:
    """A revert string without the node's ``execution reverted:`` prefix."""
    text = message.strip()
    if text.lower().startswith(_REVERTED_PREFIX):
        text = text[len(_REVERTED_PREFIX) :].lstrip(": ").strip()
    return text or "no reason given"


def _rpc_message(error: Web3RPCError) -> str:
    response = error.rpc_response
    if response is not None:
        details = response.get("error")
        if isinstance(details, dict) and "message" in details:
            return str(details["message"])
    return str(error.message)
