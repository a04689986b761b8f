"""fedgov: privacy-preserving federated analytics for county governments."""

from __future__ import annotations

from fedgov.errors import ConfigurationError, FedgovError
from fedgov.types import ActorId, DatasetId, DepartmentId, JobId, RunId

__version__ = "0.1.0"

__all__ = [
    "ActorId",
    "ConfigurationError",
    "DatasetId",
    "DepartmentId",
    "FedgovError",
    "JobId",
    "RunId",
    "__version__",
]
