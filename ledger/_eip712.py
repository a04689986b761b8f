"""EIP-712 typed data: the one layout every fedgov signature uses.

Tree heads (``ledger.tree_head``) and relayed ballots (``ledger.voting``) are
signed as EIP-712 structs bound to a chain and a contract, so a signature
made for one deployment cannot be replayed on another; the contracts check
the same layout with ``ecrecover``.
"""

from __future__ import annotations

from typing import Any

from eth_account.messages import SignableMessage, encode_typed_data

__all__ = ["signable"]

_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def signable(
    *,
    domain: tuple[str, str, int, str],
    primary_type: str,
    fields: list[tuple[str, str]],
    message: dict[str, Any],
) -> SignableMessage:
    """``message`` as a ``primary_type`` struct of ``fields`` (name, type).

    ``domain`` is (name, version, chain id, verifying contract).
    """
    name, version, chain_id, contract = domain
    return encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": _DOMAIN_FIELDS,
                primary_type: [{"name": n, "type": t} for n, t in fields],
            },
            "primaryType": primary_type,
            "domain": {
                "name": name,
                "version": version,
                "chainId": chain_id,
                "verifyingContract": contract,
            },
            "message": message,
        }
    )
