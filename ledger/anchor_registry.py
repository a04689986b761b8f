"""The AnchorRegistry contract: signed tree heads of audit logs, on chain.

An actor's log commits to its records with signed tree heads
(:mod:`ledger.tree_head`); anchoring one here makes it public and immutable,
so the actor cannot later show an auditor a different history. The contract
itself checks everything an auditor would:

- the EIP-712 signature over the head, under this chain and this registry
  (the same digest as :func:`ledger.tree_head.sign_tree_head`), is the
  claimed signer's;
- the signer holds the COORDINATOR or DEPARTMENT role in the Roles contract
  (auditors and registrars keep no anchored logs);
- the log is the signer's: ``log_id == log_id_for(signer, log_name)``;
- tree sizes strictly increase per log, so stale and replayed heads revert.

It also keeps the list of every log ever anchored (:meth:`AnchorRegistry.log_ids`),
so an auditor asks the chain which logs exist instead of trusting the files
it is handed.

Whoever sends the transaction pays for it; authority comes from the signature,
so a coordinator may relay its departments' heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils.address import to_checksum_address

from fedgov.errors import ConfigurationError
from ledger.chain import DEFAULT_GAS
from ledger.contract import DeployedContract
from ledger.errors import ChainError
from ledger.tree_head import SigningDomain

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3.contract import Contract
    from web3.types import EventData

    from ledger.chain import Chain
    from ledger.chain_roles import Roles
    from ledger.tree_head import SignedTreeHead, TreeHead

__all__ = ["MAX_LOG_NAME_BYTES", "AnchorRegistry", "AnchoredHead", "AnchoredLog"]

MAX_LOG_NAME_BYTES = 64
"""Longest log name (UTF-8 bytes) the contract accepts."""


@dataclass(frozen=True)
class AnchoredHead:
    """A tree head as anchored on chain, and where."""

    log_id: bytes
    tree_size: int
    root_hash: bytes
    timestamp: int
    signer: str
    block_number: int
    previous_anchor_block: int
    """Block of the log's previous anchor; 0 for its first."""


@dataclass(frozen=True)
class AnchoredLog:
    """One log the registry lists, as its storage says (no event is read)."""

    log_id: bytes
    signer: str
    """The account whose log it is (the signer of its latest head)."""
    anchors: int
    tree_size: int
    """Size of its latest anchored head."""
    block_number: int
    """Block of its latest anchor."""


class AnchorRegistry(DeployedContract):
    """Client of one deployed AnchorRegistry contract."""

    ARTIFACT = "AnchorRegistry"

    def __init__(self, chain: Chain, contract: Contract) -> None:
        super().__init__(chain, contract)
        self._domain = SigningDomain(chain.chain_id, str(contract.address))

    @classmethod
    def deploy(
        cls, chain: Chain, roles: Roles, *, sender: LocalAccount
    ) -> AnchorRegistry:
        """Deploy a registry that reads roles from ``roles``."""
        return cls._deploy(chain, roles.address, sender=sender)

    @property
    def domain(self) -> SigningDomain:
        """The EIP-712 domain heads must be signed under to anchor here."""
        return self._domain

    @property
    def roles_address(self) -> str:
        return self._call_address(self._contract.functions.roles())

    def anchor(
        self,
        signed: SignedTreeHead,
        *,
        log_name: str,
        sender: LocalAccount,
        gas: int = DEFAULT_GAS,
    ) -> AnchoredHead:
        """Anchor ``signed`` (a head of the signer's log ``log_name``).

        Raises :class:`~ledger.errors.ContractRevertError` with the contract's
        reason when it rejects the head.
        """
        _check_log_name(log_name)
        head = signed.head
        function = self._contract.functions.anchor(
            signed.signer,
            log_name,
            head.log_id,
            head.tree_size,
            head.root_hash,
            head.timestamp,
            signed.signature,
        )
        receipt = self._transact(function, sender=sender, gas=gas)
        return _anchored(self._one_event("Anchored", receipt, what="anchor"))

    def latest(self, log_id: bytes) -> AnchoredHead | None:
        """The newest anchored head of ``log_id``, or ``None`` if never anchored."""
        tree_size, _root, _time, _signer, block_number = self._call(
            self._contract.functions.latest(log_id)
        )
        if block_number == 0:
            return None
        newest = self._anchors_in_block(log_id, int(block_number))[-1]
        if newest.tree_size != tree_size:
            raise ChainError(
                f"AnchorRegistry.latest(0x{log_id.hex()})",
                f"the event in block {block_number} has tree size {newest.tree_size}, "
                f"the contract's storage {tree_size}",
            )
        return newest

    def anchor_count(self, log_id: bytes) -> int:
        return int(self._call(self._contract.functions.anchor_count(log_id)))

    def log_ids(self) -> list[bytes]:
        """Every log ever anchored here, in the order of its first anchor."""
        count = int(self._call(self._contract.functions.log_count()))
        return [
            bytes(self._call(self._contract.functions.log_ids(index)))
            for index in range(count)
        ]

    def anchored_logs(self) -> list[AnchoredLog]:
        """Every log ever anchored here, with its latest anchor (storage reads only)."""
        listed = []
        for log_id in self.log_ids():
            tree_size, _root, _time, signer, block = self._call(
                self._contract.functions.latest(log_id)
            )
            listed.append(
                AnchoredLog(
                    log_id=log_id,
                    signer=to_checksum_address(signer),
                    anchors=self.anchor_count(log_id),
                    tree_size=int(tree_size),
                    block_number=int(block),
                )
            )
        return listed

    def history(self, log_id: bytes, *, after: int = 0) -> list[AnchoredHead]:
        """The anchored heads of ``log_id`` after its first ``after``, oldest first.

        Walks the chain of ``previousAnchorBlock`` pointers back from the
        latest anchor: one single-block log query per block holding anchors,
        and only as far back as the ``after``-th anchor (an auditor that
        checked those before reads only what is new).
        """
        wanted = self.anchor_count(log_id) - after if after else None
        newest_first: list[AnchoredHead] = []
        _size, _root, _time, _signer, block = self._call(
            self._contract.functions.latest(log_id)
        )
        while block != 0 and (wanted is None or len(newest_first) < wanted):
            in_block = self._anchors_in_block(log_id, int(block))
            newest_first.extend(reversed(in_block))
            block = in_block[0].previous_anchor_block
        if wanted is not None:
            newest_first = newest_first[: max(wanted, 0)]
        return list(reversed(newest_first))

    def digest(self, head: TreeHead) -> bytes:
        """The EIP-712 digest of ``head`` as the contract computes it."""
        function = self._contract.functions.tree_head_digest(
            head.log_id, head.tree_size, head.root_hash, head.timestamp
        )
        return bytes(self._call(function))

    def log_id_for(self, account: str, log_name: str) -> bytes:
        """The contract's derivation of ``account``'s log id (as :func:`log_id_for`)."""
        _check_log_name(log_name)
        function = self._contract.functions.log_id_for(
            to_checksum_address(account), log_name
        )
        return bytes(self._call(function))

    def _anchors_in_block(self, log_id: bytes, block: int) -> list[AnchoredHead]:
        """The anchors of ``log_id`` mined in ``block``, oldest first."""
        events = self._events_in_block("Anchored", block, {"logId": log_id})
        if not events:
            raise ChainError(
                f"AnchorRegistry.history(0x{log_id.hex()})",
                f"no Anchored event in block {block} "
                "(does the node keep logs that old?)",
            )
        return [_anchored(event) for event in events]


def _check_log_name(log_name: str) -> None:
    size = len(log_name.encode("utf-8"))
    if not 0 < size <= MAX_LOG_NAME_BYTES:
        raise ConfigurationError(
            "log_name", f"must be 1..{MAX_LOG_NAME_BYTES} UTF-8 bytes, got {size}"
        )


def _anchored(event: EventData) -> AnchoredHead:
    args = event["args"]
    return AnchoredHead(
        log_id=bytes(args["logId"]),
        tree_size=int(args["treeSize"]),
        root_hash=bytes(args["rootHash"]),
        timestamp=int(args["timestamp"]),
        signer=to_checksum_address(args["signer"]),
        block_number=int(event["blockNumber"]),
        previous_anchor_block=int(args["previousAnchorBlock"]),
    )
