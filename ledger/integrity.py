"""Checks of signed tree heads against a rebuilt tree, shared by the store
(when it opens) and the auditor (when it reads an export)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger.errors import LogIntegrityError
from ledger.tree_head import SignedTreeHead, SigningDomain, recover_signer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger.merkle import MerkleTree

HeadEntry = tuple[SignedTreeHead, SigningDomain]
"""A signed head with the EIP-712 domain it was signed for."""


def check_signed_heads(
    tree: MerkleTree,
    heads: Sequence[HeadEntry],
    *,
    log_id: bytes,
    actor: str,
    domain: SigningDomain | None = None,
) -> None:
    """Raise :class:`LogIntegrityError` unless every head holds for ``tree``.

    Each head must be for ``log_id``, signed by ``actor`` (and, when
    ``domain`` is given, for that domain), no larger and no older than the
    next, and its root must be the tree's root at its size. Heads come in
    the order they were signed, so the first root that fails pins the
    altered record between the previous head's size and its own.
    """
    verified_size, previous_time = 0, 0
    for position, (signed, signed_domain) in enumerate(heads):
        head = signed.head
        where = f"signed head {position} (size {head.tree_size})"
        if head.log_id != log_id:
            raise LogIntegrityError(
                None, f"{where} is for log 0x{head.log_id.hex()}, not 0x{log_id.hex()}"
            )
        if domain is not None and signed_domain != domain:
            raise LogIntegrityError(
                None, f"{where} was signed for {signed_domain}, expected {domain}"
            )
        if signed.signer != actor:
            raise LogIntegrityError(
                None,
                f"{where} names signer {signed.signer}, not the log's actor {actor}",
            )
        if recover_signer(signed, signed_domain) != signed.signer:
            raise LogIntegrityError(
                None, f"{where}: the signature does not recover to {signed.signer}"
            )
        if head.tree_size < verified_size or head.timestamp < previous_time:
            raise LogIntegrityError(None, f"{where} goes back in size or time")
        if head.tree_size > tree.size:
            raise LogIntegrityError(
                tree.size,
                f"{where} covers {head.tree_size} records but only {tree.size} "
                "remain: records were removed",
            )
        if tree.root(head.tree_size) != head.root_hash:
            raise LogIntegrityError(
                None,
                f"records [{verified_size}, {head.tree_size}) do not hash to the root "
                f"of {where}: one of them was altered or replaced",
            )
        verified_size, previous_time = head.tree_size, head.timestamp
