"""How many departments a round waits for, and for how long.

Flower's strategies wait, with no end, until ``min_available_nodes`` nodes
are connected before they sample a round. Asking for the whole roster keeps
the first round from going out before slow departments connect, but then a
department that dies mid-job hangs every later round until it comes back.
:func:`await_departments` bounds the wait instead:

- the first round waits up to the round timeout for the whole roster, then
  goes on with those connected if they are at least ``min_departments``;
- a later round goes on at once with every department connected while they
  are at least ``min_departments``, else waits up to the round timeout for
  enough to come back;
- when fewer than ``min_departments`` are connected at the end of the wait,
  the job ends with :class:`DepartmentsLostError`, naming the counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from fedgov.errors import ConfigurationError, FedgovError

__all__ = ["DepartmentsLostError", "Membership", "await_departments"]

logger = logging.getLogger(__name__)


class _Nodes(Protocol):
    def get_node_ids(self) -> Iterable[int]: ...


class DepartmentsLostError(FedgovError):
    """Fewer departments than ``min_departments`` are left: the job cannot go on."""


@dataclass(frozen=True)
class Membership:
    """The job's departments, how many must take part, and how long to wait."""

    roster: int
    """Departments in the job."""
    minimum: int
    """``min_departments``: the fewest a round may go on with."""
    wait: float
    """Seconds a round waits for departments (the job's round timeout)."""

    def __post_init__(self) -> None:
        if self.minimum < 1:
            raise ConfigurationError("min_departments", "must be >= 1")
        if self.wait <= 0:
            raise ConfigurationError("round_timeout", "must be positive")


def await_departments(
    grid: _Nodes,
    membership: Membership,
    *,
    first: bool,
    what: str,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """How many departments ``what`` (a round's train or evaluate step) goes
    out to: every one connected, once enough are; :class:`DepartmentsLostError`
    when too few are after the wait."""
    minimum = min(membership.minimum, membership.roster)
    needed = membership.roster if first else minimum
    deadline = clock() + membership.wait
    while True:
        connected = len(list(grid.get_node_ids()))
        if connected >= needed:
            return connected
        if clock() >= deadline:
            break
        sleep(1.0)
    if connected >= minimum:
        logger.warning(
            "%s: %d of %d departments connected after %.0f s; going on with them "
            "(min-departments %d)",
            what,
            connected,
            membership.roster,
            membership.wait,
            minimum,
        )
        return connected
    raise DepartmentsLostError(
        f"{what}: only {connected} of {membership.roster} departments connected "
        f"after waiting {membership.wait:g} s (round-timeout), fewer than "
        f"min-departments {minimum}: the job cannot go on"
    )
