"""The embedded engine: Flower's simulation runtime, in this process.

Departments run as Ray actors on this machine; the coordinator runs in a
thread of this process, so the run record comes straight back to the caller.
Both sides are audited by construction (the apps attach their hooks); the
heads are anchored on ``ledger`` (default: the county's chain).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from typing import Literal

from flwr.clientapp import ClientApp
from flwr.serverapp import ServerApp
from flwr.simulation import run_simulation

from coordinator.guard import RoundReport
from coordinator.server_app import make_server_app
from department_nodes.access import RoleSource
from department_nodes.client_app import make_client_app
from fedgov.data import DepartmentSources
from fedgov.engines._ray_workers import start_ray
from fedgov.engines.audit import prepare_job
from fedgov.engines.base import job_with_sources
from fedgov.errors import ConfigurationError, FedgovError
from fedgov.files import private_dir
from fedgov.job import TrainJob
from fedgov.job_data import departments_for
from fedgov.notices import warn_once
from fedgov.run_record import RunRecord, run_dir_of
from ledger.county_ledger import FROM_COUNTY, CountyLedger, resolve_ledger

__all__ = ["SimulationEngine", "SimulationError", "run_simulated_job", "simulate"]

logger = logging.getLogger(__name__)


class SimulationError(FedgovError):
    """The simulation ended without producing a run record."""


def _quiet_ray_environment() -> None:
    # Ray keeps sockets and logs under RAY_TMPDIR; /tmp paths must stay short
    # (unix socket names are limited to 107 bytes), hence mkdtemp, not run_dir.
    os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="fedgov-ray-"))
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Flower's natural-id partitioner draws a tqdm bar in every Ray worker.
    os.environ.setdefault("TQDM_DISABLE", "1")


def simulate(
    server_app: ServerApp,
    client_app: ClientApp,
    *,
    num_supernodes: int,
    num_cpus: int | None = None,
) -> None:
    """Run ``server_app`` against ``num_supernodes`` simulated SuperNodes of
    ``client_app`` in this process; returns when the ServerApp's main does."""
    _quiet_ray_environment()
    cpus = num_cpus or os.cpu_count() or 1
    with warnings.catch_warnings():
        # A tip about GPU visibility; these simulations never use a GPU.
        warnings.filterwarnings(
            "ignore", message="Tip: In future versions of Ray", category=FutureWarning
        )
        start_ray(cpus)
        warnings.filterwarnings("ignore", message=".*run_simulation.*deprecated.*")
        run_simulation(
            server_app=server_app,
            client_app=client_app,
            num_supernodes=num_supernodes,
            backend_config={
                "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            },
        )


def run_simulated_job(
    job: TrainJob,
    *,
    on_round: Callable[[RoundReport], None] | None = None,
    allow_non_private: bool = False,
    num_cpus: int | None = None,
    ledger: CountyLedger | Literal["county"] | None = FROM_COUNTY,
    sources: DepartmentSources | None = None,
    roles: RoleSource | None = None,
) -> RunRecord:
    """Run ``job`` with one simulated SuperNode per department; return its record.

    Audit heads are anchored on ``ledger`` (default: the county's; ``None``:
    records are kept, nothing is anchored). ``sources``: each department's
    own records (its share of a built-in dataset's installed file without
    them). ``roles`` is where the departments read analysts' roles; it
    travels to Ray's actors, so it must pickle
    (:class:`~department_nodes.access.RpcRoles`).
    """
    job = job_with_sources(job, sources)
    resolved = resolve_ledger(ledger) if job.audit else None
    job = prepare_job(job, resolved)
    private_dir(run_dir_of(job))
    departments = departments_for(job)
    records: list[RunRecord] = []

    # The ServerApp runs in a thread of this process, so its record comes back.
    server_app = make_server_app(
        job=job,
        engine="simulation",
        on_round=on_round,
        on_record=records.append,
        ledger=resolved,
    )
    client_app = make_client_app(
        job=job, allow_non_private=allow_non_private, sources=sources, roles=roles
    )
    simulate(server_app, client_app, num_supernodes=len(departments), num_cpus=num_cpus)
    if not records:
        raise SimulationError(
            f"simulation of job {job.job_id!r} ended without a run record; see the log above"
        )
    return records[0]


class SimulationEngine:
    """The embedded engine as a configurable object (Hydra's ``engine=simulation``).

    ``ledger`` is where audit heads are anchored (default: the county's);
    ``roles`` is where the departments read analysts' roles.
    """

    def __init__(
        self,
        *,
        num_cpus: int | None = None,
        allow_non_private: bool = False,
        ledger: CountyLedger | Literal["county"] | None = FROM_COUNTY,
        roles: RoleSource | None = None,
    ) -> None:
        if num_cpus is not None and num_cpus < 1:
            raise ConfigurationError("num_cpus", f"must be >= 1, got {num_cpus}")
        self.num_cpus = num_cpus
        self.roles = roles
        self.allow_non_private = allow_non_private
        self.ledger = ledger
        if allow_non_private:
            warn_once(
                "simulation-non-private",
                "simulation engine allows NON-PRIVATE training: for baselines only",
            )

    def run(
        self,
        job: TrainJob,
        *,
        on_round: Callable[[RoundReport], None] | None = None,
        sources: DepartmentSources | None = None,
    ) -> RunRecord:
        return run_simulated_job(
            job,
            on_round=on_round,
            allow_non_private=self.allow_non_private,
            num_cpus=self.num_cpus,
            ledger=self.ledger,
            sources=sources,
            roles=self.roles,
        )
