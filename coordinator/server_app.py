"""The coordinator's Flower ServerApp.

``app`` is what ``[tool.flwr.app.components]`` names; it reads the job from
flat ``run_config`` keys (``flwr run . --run-config "epsilon=2.0"``). A
run_config whose ``query`` key holds a query (JSON, see
:func:`coordinator.analytics.query_to_run_config`) asks the departments that
DP analytics query instead of training, through the same SuperLink, and
writes the answer to ``<run-dir>/query_result.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from coordinator.analytics import format_result, query_from_run_config, run_query
from coordinator.guard import RoundReport
from coordinator.secagg import run_secure_training
from coordinator.training import run_training
from fedgov.files import write_json_atomic
from fedgov.job import TrainJob
from fedgov.run_record import QUERY_RESULT_FILE, RunRecord

__all__ = ["app", "make_server_app"]

logger = logging.getLogger(__name__)


def make_server_app(
    *,
    job: TrainJob | None = None,
    engine: str = "deployment",
    on_round: Callable[[RoundReport], None] | None = None,
    on_record: Callable[[RunRecord], None] | None = None,
) -> ServerApp:
    """A coordinator ServerApp; ``on_round`` sees each round's report as it ends.

    ``job`` replaces the run_config (in-process simulations have none);
    ``on_record`` receives the finished run record.
    """
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        run_job = (
            job if job is not None else TrainJob.from_run_config(context.run_config)
        )
        query = query_from_run_config(context.run_config) if job is None else None
        if query is not None:
            result = run_query(
                grid,
                query,
                timeout=run_job.round_timeout,
                departments=run_job.department_ids,
            )
            run_dir = Path(run_job.run_dir or Path("runs") / query.query_id)
            write_json_atomic(run_dir / QUERY_RESULT_FILE, result.to_json())
            logger.info("query answered:\n%s", format_result(result))
            return
        if run_job.secure_aggregation:
            record = run_secure_training(
                grid, context, run_job, engine=engine, on_round=on_round
            )
        else:
            record = run_training(grid, run_job, engine=engine, on_round=on_round)
        if on_record is not None:
            on_record(record)

    return server_app


app = make_server_app()
