"""The coordinator's Flower ServerApp, audited by construction.

``app`` is what ``[tool.flwr.app.components]`` names; it reads the job from
flat ``run_config`` keys (``flwr run . --run-config "epsilon=2.0"``). A
run_config whose ``query`` key holds a query (JSON, see
:func:`coordinator.analytics.query_to_run_config`) asks the departments that
DP analytics query instead of training, through the same SuperLink, and
writes the answer to ``<run-dir>/query_result.json``.

Every engine runs this one app (:func:`make_server_app`), and the
coordinator's audit hook (:class:`coordinator.audit.CoordinatorAudit`) is
attached here, from the job, whenever ``audit`` is on: the job's roster,
every round (plain or SecAgg+), every query, the exported model, and a
relay that anchors every actor's signed heads on the county's chain while
the run lasts and flushes them when it ends. A run_config naming a
``query-service`` socket makes the run a standing federation's query run
(:mod:`coordinator.query_service`), which opens that hook for every
question it answers. A deployed ServerApp finds the
county at ``$FEDGOV_HOME`` (:mod:`fedgov.county`) on the machine it runs on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from coordinator.analytics import (
    QueryResult,
    format_result,
    query_from_run_config,
    run_query,
)
from coordinator.audit import CoordinatorAudit
from coordinator.guard import RoundReport
from coordinator.polling import prompt
from coordinator.query_service import RUN_CONFIG_SERVICE, QueryService
from coordinator.secagg import run_secure_training
from coordinator.training import run_training
from fedgov.county import default_state_dir
from fedgov.data import department_ids
from fedgov.files import write_json_atomic
from fedgov.job import TrainJob
from fedgov.job_data import departments_for
from fedgov.run_record import QUERY_RESULT_FILE, RunRecord
from ledger.county_ledger import FROM_COUNTY, CountyLedger, resolve_ledger
from privacy.mechanisms import Query

__all__ = ["app", "make_server_app"]

logger = logging.getLogger(__name__)


def make_server_app(
    *,
    job: TrainJob | None = None,
    query: Query | None = None,
    engine: str = "deployment",
    on_round: Callable[[RoundReport], None] | None = None,
    on_record: Callable[[RunRecord], None] | None = None,
    on_result: Callable[[QueryResult], None] | None = None,
    ledger: CountyLedger | Literal["county"] | None = FROM_COUNTY,
    confidence: float = 0.95,
) -> ServerApp:
    """A coordinator ServerApp; ``on_round`` sees each round's report as it ends.

    ``job`` replaces the run_config (in-process engines have none) and
    ``query`` makes the run answer that query instead of training;
    ``on_record`` receives the finished run record, ``on_result`` the
    query's result. ``ledger`` is where audit heads are anchored (default:
    the county's; ``None``: nowhere, records are still kept).
    """
    server_app = ServerApp()

    @server_app.main()
    def main(deployed: Grid, context: Context) -> None:
        grid = prompt(deployed)
        run_job = (
            job if job is not None else TrainJob.from_run_config(context.run_config)
        )
        service = context.run_config.get(RUN_CONFIG_SERVICE)
        if service and job is None:
            _serve_questions(grid, run_job, Path(str(service)), ledger, confidence)
            return
        asked = query
        if asked is None and job is None:
            asked = query_from_run_config(context.run_config)
        audit = None
        if run_job.audit:
            if asked is None:
                departments = departments_for(run_job)
            else:
                departments = list(run_job.department_ids) or [
                    str(d) for d in department_ids(asked.dataset)
                ]
            audit = CoordinatorAudit.open(
                run_job,
                ledger=resolve_ledger(ledger),
                state_dir=Path(run_job.state_dir or default_state_dir()),
                departments=departments,
            )
        try:
            if asked is not None:
                result = run_query(
                    grid,
                    asked,
                    timeout=run_job.round_timeout,
                    confidence=confidence,
                    departments=run_job.department_ids,
                )
                if audit is not None:
                    audit.record_query(result)
                if on_result is not None:
                    on_result(result)
                else:
                    run_dir = Path(run_job.run_dir or Path("runs") / asked.query_id)
                    write_json_atomic(run_dir / QUERY_RESULT_FILE, result.to_json())
                    logger.info("query answered:\n%s", format_result(result))
                return
            observe = on_round
            if audit is not None:
                audit.record_roster()
                observe = audit.observer(then=on_round)
            if run_job.secure_aggregation:
                record = run_secure_training(
                    grid, context, run_job, engine=engine, on_round=observe
                )
            else:
                record = run_training(grid, run_job, engine=engine, on_round=observe)
            if audit is not None:
                audit.record_model_export(record)
            if on_record is not None:
                on_record(record)
        finally:
            if audit is not None:
                audit.close()

    return server_app


def _serve_questions(
    grid: Grid,
    job: TrainJob,
    path: Path,
    ledger: CountyLedger | Literal["county"] | None,
    confidence: float,
) -> None:
    # A standing federation's query run: every question is audited by the
    # service itself, one CoordinatorAudit per question.
    QueryService(
        grid,
        job,
        path=path,
        departments=list(job.department_ids),
        state_dir=Path(job.state_dir or default_state_dir()).resolve(),
        runs=Path(job.run_dir or path.parent / "runs").resolve(),
        ledger=resolve_ledger(ledger) if job.audit else None,
        confidence=confidence,
    ).serve()


app = make_server_app()
