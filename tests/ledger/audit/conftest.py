"""Fixtures for the audit integration tests: a chain per backend, an environment."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pytest

from ledger.anchor import AnchorPolicy
from ledger.audit import AuditEnvironment, PlaintextKeyWarning
from ledger.chain import Chain
from tests.chain_fixtures import chain, ledger_contracts

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["FAST_RELAY", "audit_env", "chain", "embedded_env", "ledger_contracts"]

FAST_RELAY = AnchorPolicy(
    interval_s=3600.0,
    every_records=10**6,
    poll_s=0.01,
    initial_backoff_s=0.01,
    max_backoff_s=0.05,
)
"""Anchor only when flushed, retry fast: tests decide when anchors happen."""

DEPARTMENTS = ("dept-0", "dept-1", "dept-2")


def _environment(chain: Chain, tmp_path: Path) -> Iterator[AuditEnvironment]:
    with warnings.catch_warnings():
        # Demo-mode keys warn on first use in each process; tests know.
        warnings.simplefilter("ignore", PlaintextKeyWarning)
        env = AuditEnvironment.create(
            chain, tmp_path / "state", DEPARTMENTS, policy=FAST_RELAY
        )
        with env:
            yield env


@pytest.fixture
def audit_env(chain: Chain, tmp_path: Path) -> Iterator[AuditEnvironment]:
    """Contracts, keys (plaintext, demo mode) and roles for three departments,
    once per chain backend."""
    yield from _environment(chain, tmp_path)


@pytest.fixture
def embedded_env(tmp_path: Path) -> Iterator[AuditEnvironment]:
    """The same on the embedded chain only."""
    yield from _environment(Chain.embedded(), tmp_path)
