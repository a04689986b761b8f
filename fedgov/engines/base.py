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
``on_round`` sees each round's report (progress lines). ``sources`` says
where each department's records are (a simulated department reads the
operator's mapping; a deployed one is started with its own
``data-source``): the departments given sources are the departments of the
job (:func:`job_with_sources`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from coordinator.guard import RoundReport
from fedgov.data import DepartmentSources
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob
from fedgov.job_data import dataset_spec
from fedgov.run_record import RunRecord
from privacy.boundary import BoundaryPolicy

__all__ = ["Engine", "job_with_sources"]


def job_with_sources(job: TrainJob, sources: DepartmentSources | None) -> TrainJob:
    """``job`` over the departments given ``sources`` (``None``: unchanged).

    A job naming its departments must give each a source; a job naming none
    takes the sources' departments. A department whose id (its file's name)
    names a SENSITIVE or CORE column could send nothing past its boundary
    guard, and is refused here, before anything starts.
    """
    if sources is None:
        return job
    columns = tuple(dataset_spec(job).schema)
    guard = BoundaryPolicy(parameters={}, columns=columns)
    for department in sources.departments:
        named = guard.mentions(department)
        if named:
            raise ConfigurationError(
                "sources",
                f"department {department!r} names the column {named[0]!r}, which "
                "is SENSITIVE or CORE: the boundary guard would refuse every "
                "reply carrying the department's id; rename its file",
            )
    if not job.department_ids:
        return replace(job, departments=",".join(sources.departments))
    missing = sorted(set(job.department_ids) - set(sources.departments))
    if missing:
        raise ConfigurationError(
            "sources", f"departments {missing} of the job have no source"
        )
    return job


class Engine(Protocol):
    """Runs one federated training job to its end."""

    def run(
        self,
        job: TrainJob,
        *,
        on_round: Callable[[RoundReport], None] | None = None,
        sources: DepartmentSources | None = None,
    ) -> RunRecord:
        """Run ``job``; ``on_round`` sees each round's report; ``sources`` as
        the module says.

        An engine whose coordinator runs in another process calls
        ``on_round`` after the fact, from the run record.
        """
        ...
