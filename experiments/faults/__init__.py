"""Fault injection: each case breaks a real part and counts what survived.

A case is a function of a work folder returning a
:class:`~experiments.faults.FaultOutcome`; ``tests/faults/`` asserts each
holds what it states (``@pytest.mark.slow``), and
``python -m experiments.bench.faults`` runs them all and prints one table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from experiments.faults._anchoring import chain_node_kill, chain_outage
from experiments.faults._deployment import superlink_kill, supernode_kill
from experiments.faults._disk import full_disk
from experiments.faults._outcome import FaultOutcome
from experiments.faults._service import log_service_kill

__all__ = [
    "CASES",
    "FaultOutcome",
    "chain_node_kill",
    "chain_outage",
    "full_disk",
    "log_service_kill",
    "superlink_kill",
    "supernode_kill",
]

CASES: dict[str, Callable[[Path], FaultOutcome]] = {
    "full-disk": full_disk,
    "chain-outage": chain_outage,
    "chain-node-kill": chain_node_kill,
    "log-service-kill": log_service_kill,
    "supernode-kill": supernode_kill,
    "superlink-kill": superlink_kill,
}
"""Every case, by the name the benchmark and the tests know it by."""
