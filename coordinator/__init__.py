"""The coordinator: Flower ServerApp, guarded strategies, engines, run records."""

from __future__ import annotations

from coordinator.guard import (
    DepartmentOutcome,
    GuardedStrategy,
    RoundReport,
    check_update,
)
from coordinator.run_record import DepartmentSummary, RunRecord, summarize_departments
from coordinator.server_app import make_server_app
from coordinator.simulation import SimulationEngine, SimulationError, run_simulated_job
from coordinator.strategies import build_strategy
from coordinator.training import model_spec, run_training

__all__ = [
    "DepartmentOutcome",
    "DepartmentSummary",
    "GuardedStrategy",
    "RoundReport",
    "RunRecord",
    "SimulationEngine",
    "SimulationError",
    "build_strategy",
    "check_update",
    "make_server_app",
    "model_spec",
    "run_simulated_job",
    "run_training",
    "summarize_departments",
]
