"""Fixtures for the ledger tests: a chain per backend and the deployed contracts."""

from __future__ import annotations

from tests.chain_fixtures import chain, ledger_contracts

__all__ = ["chain", "ledger_contracts"]
