"""A DP analytics query on Flower's simulation engine.

:func:`run_simulated_query`: one simulated SuperNode per department (the
dataset's natural partition, or the departments given ``sources``), each
answering from its own records and its own budget file under
``state_dir``, in this process. A standing federation answers questions in
its own long-lived run instead (:mod:`coordinator.query_service`). Either
way the coordinator's side is :func:`coordinator.analytics.run_query`, in
the same ServerApp.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Literal

from coordinator.analytics import QueryResult
from coordinator.server_app import make_server_app
from department_nodes.access import RoleSource
from department_nodes.client_app import make_client_app
from fedgov.data import DepartmentSources
from fedgov.engines.audit import prepare_job
from fedgov.engines.base import job_with_sources
from fedgov.engines.simulation import SimulationError, simulate
from fedgov.job import TrainJob
from fedgov.job_data import dataset_fields, departments_for
from ledger.county_ledger import FROM_COUNTY, CountyLedger, resolve_ledger
from privacy.mechanisms import Query

__all__ = ["run_simulated_query"]


def _query_job(
    query: Query,
    *,
    state_dir: str | Path,
    budget_epsilon: float | None,
    timeout: float,
    purpose: str | None,
    access_request: str,
) -> TrainJob:
    dataset, declaration = dataset_fields(query.dataset)
    job = TrainJob(
        job_id=query.query_id,
        dataset=dataset,
        declaration=declaration,
        state_dir=str(state_dir) if state_dir else "",
        round_timeout=timeout,
        access_request=access_request,
    )
    if budget_epsilon is not None:
        job = replace(job, budget_epsilon=budget_epsilon)
    if purpose is not None:
        job = replace(job, purpose=purpose)
    return job


def run_simulated_query(
    query: Query,
    *,
    state_dir: str | Path = "",
    budget_epsilon: float | None = None,
    confidence: float = 0.95,
    timeout: float = 600.0,
    num_cpus: int | None = None,
    on_result: Callable[[QueryResult], None] | None = None,
    ledger: CountyLedger | Literal["county"] | None = FROM_COUNTY,
    purpose: str | None = None,
    sources: DepartmentSources | None = None,
    access_request: str = "",
    roles: RoleSource | None = None,
) -> QueryResult:
    """Run ``query`` over simulated departments keeping their budget books in
    ``state_dir`` (empty: the county's state folder, else ``$FEDGOV_HOME``).

    ``budget_epsilon`` is the lifetime limit a department sets the first time
    it sees the dataset (default: :class:`~fedgov.job.TrainJob`'s); a limit
    already on file wins, exactly as for training. Both sides are audited
    under ``purpose`` (default: the job's) and anchored on ``ledger``
    (default: the county's). ``on_result`` is called with the result before
    this returns, and its errors propagate. ``sources`` are the departments'
    own records (their share of a built-in dataset's installed file without
    them). ``access_request`` is the analyst's signed request for the query,
    asked for ``purpose``; ``roles`` is where the departments read analysts'
    roles (it must pickle: :class:`~department_nodes.access.RpcRoles`).
    """
    job = _query_job(
        query,
        state_dir=state_dir,
        budget_epsilon=budget_epsilon,
        timeout=timeout,
        purpose=purpose,
        access_request=access_request,
    )
    job = job_with_sources(job, sources)
    resolved = resolve_ledger(ledger) if job.audit else None
    job = prepare_job(job, resolved)
    results: list[QueryResult] = []
    server_app = make_server_app(
        job=job,
        query=query,
        on_result=results.append,
        confidence=confidence,
        ledger=resolved,
    )
    client_app = make_client_app(job=job, sources=sources, roles=roles)
    simulate(
        server_app,
        client_app,
        num_supernodes=len(departments_for(job)),
        num_cpus=num_cpus,
    )
    if not results:
        raise SimulationError(
            f"simulation of query {query.query_id!r} ended without a result; see the log above"
        )
    if on_result is not None:
        # Here, not in the ServerApp: the simulation would only log its errors.
        on_result(results[0])
    return results[0]
