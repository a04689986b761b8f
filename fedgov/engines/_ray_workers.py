"""Ray, started by the embedded engine rather than by Flower.

Flower starts Ray itself when nobody has; starting it here first lets every
worker run :func:`setup_worker` before it hosts a department. Flower still
shuts Ray down when the simulation ends.
"""

from __future__ import annotations

import logging
import os
import sys

import ray

__all__ = ["setup_worker", "start_ray"]

# Flower's actors say this at WARNING on every normal shutdown; Ray forwards
# it from each worker, so a clean run would end in a column of false alarms.
_SHUTDOWN_NOTICE = "Manually terminating %s"


class _DropShutdownNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != _SHUTDOWN_NOTICE


def setup_worker() -> None:
    """Run once in every Ray worker before it hosts a department."""
    logging.getLogger("flwr").addFilter(_DropShutdownNotice())


def start_ray(num_cpus: int) -> None:
    """Start Ray on this machine with ``num_cpus`` and fedgov's worker setup."""
    if ray.is_initialized():
        return
    # Workers import the apps by name, so they need this process's sys.path
    # (an editable install or a Flower App's directory), as Flower gives them.
    paths = [*sys.path, *filter(None, [os.environ.get("PYTHONPATH")])]
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        runtime_env={
            "env_vars": {"PYTHONPATH": os.pathsep.join(paths)},
            "worker_process_setup_hook": setup_worker,
        },
    )
