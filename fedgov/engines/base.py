"""The one protocol every engine follows: run a job, return its run record.

An engine decides *where* the coordinator and the departments run (threads
and Ray actors, plain function calls, or real SuperLink and SuperNode
processes); what they do is the same apps everywhere
(:func:`coordinator.server_app.make_server_app`,
:func:`department_nodes.client_app.make_client_app`), which attach both
sides' audit hooks themselves: no caller wires auditing, and none can skip
it while the job says ``audit``. Where the heads are anchored is the
engine's ``ledger`` (default: the county's, :mod:`fedgov.county`); before a
run the engine readies the job for it (:func:`fedgov.engines.audit.prepare_job`).
``on_round`` sees each round's report (progress lines).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from coordinator.guard import RoundReport
from fedgov.job import TrainJob
from fedgov.run_record import RunRecord

__all__ = ["Engine"]


class Engine(Protocol):
    """Runs one federated training job to its end."""

    def run(
        self,
        job: TrainJob,
        *,
        on_round: Callable[[RoundReport], None] | None = None,
    ) -> RunRecord:
        """Run ``job``; ``on_round`` sees each round's report.

        An engine whose coordinator runs in another process calls
        ``on_round`` after the fact, from the run record.
        """
        ...
