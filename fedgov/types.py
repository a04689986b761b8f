"""Domain identifiers shared by every fedgov package.

``NewType`` keeps a department id from being passed where a dataset id is
expected, at no run-time cost.
"""

from __future__ import annotations

from typing import NewType

__all__ = ["ActorId", "DatasetId", "DepartmentId", "JobId", "RunId"]

DepartmentId = NewType("DepartmentId", str)
"""A county department taking part in a federation, e.g. ``"health-site-1"``."""

DatasetId = NewType("DatasetId", str)
"""A dataset in the catalog, e.g. ``"randhie"``."""

JobId = NewType("JobId", str)
"""One federated job (a training run or an analytics query batch)."""

RunId = NewType("RunId", str)
"""One execution of a job by an engine (simulation or deployment)."""

ActorId = NewType("ActorId", str)
"""An account that writes audit records: an Ethereum address, checksummed."""
