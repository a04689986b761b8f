"""The coordinator's Flower ServerApp.

``app`` is what ``[tool.flwr.app.components]`` names; it reads the job from
flat ``run_config`` keys (``flwr run . --run-config "epsilon=2.0"``).
"""

from __future__ import annotations

from collections.abc import Callable

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from coordinator.guard import RoundReport
from coordinator.run_record import RunRecord
from coordinator.secagg import run_secure_training
from coordinator.training import run_training
from fedgov.job import TrainJob

__all__ = ["app", "make_server_app"]


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
