"""Fixtures for the audit tests here: a chain per backend, an audit environment."""

from __future__ import annotations

from tests.audit_fixtures import (
    audit_env,
    chain,
    embedded_env,
    flower_task,
    ledger_contracts,
    sites_env,
)

__all__ = [
    "audit_env",
    "chain",
    "embedded_env",
    "flower_task",
    "ledger_contracts",
    "sites_env",
]
