"""The chain a ledger benchmark runs on, by backend name."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from ledger.chain import AnvilProcess, Chain

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["chain_on"]


@contextmanager
def chain_on(backend: str) -> Iterator[Chain]:
    """``"embedded"``: a fresh in-process py-evm; ``"anvil"``: a fresh anvil node."""
    if backend == "embedded":
        yield Chain.embedded()
        return
    with AnvilProcess() as anvil:
        yield Chain.connect(anvil.url, accounts=anvil.accounts)
