"""Domain identifiers shared by every fedgov package.

``NewType`` keeps a department id from being passed where a dataset id is
expected, at no run-time cost. Department and dataset ids name folders and
files in a state directory, so wherever one becomes part of a path it is
checked with :func:`check_name` first: ``../../x`` never leaves the folder.
"""

from __future__ import annotations

import re
from typing import NewType

from fedgov.errors import ConfigurationError

__all__ = [
    "NAME_PATTERN",
    "ActorId",
    "DatasetId",
    "DepartmentId",
    "JobId",
    "RunId",
    "check_address",
    "check_name",
]

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""A department or dataset id: a letter or digit, then letters, digits,
``.``, ``_`` or ``-``; at most 100 characters. No separator, no leading dot."""


def check_name(argument: str, value: str) -> str:
    """``value`` if it is a valid department or dataset id, else a clear error."""
    if not isinstance(value, str) or NAME_PATTERN.fullmatch(value) is None:
        raise ConfigurationError(
            argument,
            f"{value!r} is not a valid name: 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (it names a folder: no '/', no '..')",
        )
    return value


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def check_address(argument: str, value: str) -> str:
    """``value`` if it is an Ethereum address (``0x`` and 40 hex digits), else
    a clear error naming ``argument``; the checksum is the caller's to apply."""
    if not isinstance(value, str) or _ADDRESS.fullmatch(value) is None:
        raise ConfigurationError(
            argument, f"must be a 0x-prefixed 20-byte hex address, got {value!r}"
        )
    return value


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
