"""Audit fixtures shared by the tests of the hooks, the engines and the auditor."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pytest
from flwr.supercore.task_identity import TaskIdentity

from fedgov.data import department_ids
from fedgov.engines.audit import AuditEnvironment
from ledger.chain import Chain
from ledger.keys import PlaintextKeyWarning
from ledger.relay import AnchorPolicy
from tests.chain_fixtures import chain, ledger_contracts

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = [
    "FAST_RELAY",
    "SITES",
    "audit_env",
    "chain",
    "embedded_env",
    "flower_task",
    "ledger_contracts",
    "sites_env",
]

FAST_RELAY = AnchorPolicy(
    interval_s=3600.0,
    every_records=10**6,
    poll_s=0.01,
    initial_backoff_s=0.01,
    max_backoff_s=0.05,
)
"""Anchor only when flushed, retry fast: tests decide when anchors happen."""

DEPARTMENTS = ("dept-0", "dept-1", "dept-2")
SITES = tuple(str(d) for d in department_ids("randhie"))
"""RandHIE's natural partition: the departments a query on it asks."""


def _environment(
    chain: Chain, tmp_path: Path, departments: tuple[str, ...] = DEPARTMENTS
) -> Iterator[AuditEnvironment]:
    with warnings.catch_warnings():
        # Demo-mode keys warn on first use in each process; tests know.
        warnings.simplefilter("ignore", PlaintextKeyWarning)
        env = AuditEnvironment.create(
            chain, tmp_path / "state", departments, policy=FAST_RELAY
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


@pytest.fixture
def sites_env(tmp_path: Path) -> Iterator[AuditEnvironment]:
    """The six RandHIE sites on the embedded chain (queries ask them all)."""
    yield from _environment(Chain.embedded(), tmp_path, SITES)


@pytest.fixture
def flower_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """The identity Flower stamps on messages built outside its runtime."""
    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 0)
    monkeypatch.setattr(TaskIdentity, "_task_id", 0)
