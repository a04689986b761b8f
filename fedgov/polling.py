"""How long fedgov's processes wait between two polls of Flower's APIs.

flwr 1.42 polls where it could be told: a SuperNode asks the SuperLink for
messages every 3 s when there were none, the coordinator's Grid asks for
replies every 3 s, a SuperExec looks for tasks every 1 s. fedgov's
processes poll every :data:`POLL_SECONDS` instead (the coordinator's Grid,
:mod:`coordinator.polling`; the department's SuperNode loop,
:mod:`department_nodes.supernode`). ``FEDGOV_POLL_SECONDS`` in a process's
environment sets it, between 0.01 and 3 s (3: Flower's own pace).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from fedgov.errors import ConfigurationError

__all__ = ["POLL_ENV", "POLL_SECONDS", "poll_seconds"]

POLL_ENV = "FEDGOV_POLL_SECONDS"
POLL_SECONDS = 0.1
"""The wait between two polls unless ``POLL_ENV`` says otherwise (seconds)."""

_LOWEST, _HIGHEST = 0.01, 3.0


def poll_seconds(environ: Mapping[str, str] | None = None) -> float:
    """The wait ``POLL_ENV`` sets in ``environ`` (default: this process's)."""
    raw = (os.environ if environ is None else environ).get(POLL_ENV, "")
    if not raw:
        return POLL_SECONDS
    try:
        value = float(raw)
    except ValueError as e:
        raise ConfigurationError(POLL_ENV, f"must be seconds, got {raw!r}") from e
    if not _LOWEST <= value <= _HIGHEST:
        raise ConfigurationError(
            POLL_ENV, f"must lie between {_LOWEST} and {_HIGHEST} s, got {value}"
        )
    return value
