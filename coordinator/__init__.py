"""The coordinator: Flower ServerApp, guarded strategies, engines, run records.

Public names are imported on first use (:mod:`fedgov._lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedgov._lazy import lazy_exports

if TYPE_CHECKING:
    from coordinator.analytics import (
        QueryResult,
        make_query_server_app,
        query_from_run_config,
        query_to_run_config,
        run_query,
        run_simulated_query,
    )
    from coordinator.guard import (
        DepartmentOutcome,
        GuardedStrategy,
        RoundReport,
        check_update,
    )
    from coordinator.launcher import (
        DeploymentEngine,
        DeploymentError,
        TlsFiles,
    )
    from coordinator.run_record import (
        DepartmentSummary,
        RunRecord,
        summarize_departments,
    )
    from coordinator.secagg import (
        SecAggSettings,
        SecureAggregationError,
        SecureSumResult,
        run_secure_training,
        secure_sum,
    )
    from coordinator.server_app import (
        make_server_app,
    )
    from coordinator.simulation import (
        SimulationEngine,
        SimulationError,
        run_simulated_job,
    )
    from coordinator.strategies import (
        build_strategy,
    )
    from coordinator.training import (
        central_evaluation,
        finish_run,
        model_spec,
        run_training,
    )

__all__ = [
    "DepartmentOutcome",
    "DepartmentSummary",
    "DeploymentEngine",
    "DeploymentError",
    "GuardedStrategy",
    "QueryResult",
    "RoundReport",
    "RunRecord",
    "SecAggSettings",
    "SecureAggregationError",
    "SecureSumResult",
    "SimulationEngine",
    "SimulationError",
    "TlsFiles",
    "build_strategy",
    "central_evaluation",
    "check_update",
    "finish_run",
    "make_query_server_app",
    "make_server_app",
    "model_spec",
    "query_from_run_config",
    "query_to_run_config",
    "run_query",
    "run_secure_training",
    "run_simulated_job",
    "run_simulated_query",
    "run_training",
    "secure_sum",
    "summarize_departments",
]

_EXPORTS: dict[str, str] = {
    "DepartmentOutcome": "coordinator.guard",
    "DepartmentSummary": "coordinator.run_record",
    "DeploymentEngine": "coordinator.launcher",
    "DeploymentError": "coordinator.launcher",
    "GuardedStrategy": "coordinator.guard",
    "QueryResult": "coordinator.analytics",
    "RoundReport": "coordinator.guard",
    "RunRecord": "coordinator.run_record",
    "SecAggSettings": "coordinator.secagg",
    "SecureAggregationError": "coordinator.secagg",
    "SecureSumResult": "coordinator.secagg",
    "SimulationEngine": "coordinator.simulation",
    "SimulationError": "coordinator.simulation",
    "TlsFiles": "coordinator.launcher",
    "build_strategy": "coordinator.strategies",
    "central_evaluation": "coordinator.training",
    "check_update": "coordinator.guard",
    "finish_run": "coordinator.training",
    "make_query_server_app": "coordinator.analytics",
    "make_server_app": "coordinator.server_app",
    "model_spec": "coordinator.training",
    "query_from_run_config": "coordinator.analytics",
    "query_to_run_config": "coordinator.analytics",
    "run_query": "coordinator.analytics",
    "run_secure_training": "coordinator.secagg",
    "run_simulated_job": "coordinator.simulation",
    "run_simulated_query": "coordinator.analytics",
    "run_training": "coordinator.training",
    "secure_sum": "coordinator.secagg",
    "summarize_departments": "coordinator.run_record",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
