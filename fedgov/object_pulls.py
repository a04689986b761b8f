"""How soon Flower asks again for a message's objects that have not arrived yet.

In flwr 1.42 a message travels as a small header and its objects (records,
arrays), each pushed and pulled on its own. The header is often visible
before its objects: the coordinator's Grid pushes a message and then its
objects, and a SuperNode pulling at once finds the header with the objects
still on their way; so does a ``flwr-clientapp`` pulling from its SuperNode,
and the Grid pulling a department's reply. Flower then waits before asking
again: 1 s the first time, doubling up to 10 s (``PULL_INITIAL_BACKOFF``,
``PULL_BACKOFF_CAP``). Objects that arrive a few milliseconds later are thus
picked up a whole second late, up to three times per message; a question
answered in a fraction of a second took one to three.

:func:`shorten_object_pulls` makes the first retry come after ``first``
seconds (:func:`fedgov.polling.poll_seconds`), doubling from there up to
Flower's own cap; the number of tries and the total time allowed stay
Flower's. The backoff is a keyword default of Flower's own pull functions,
no setting reaches it, so the defaults of those functions are what change,
in the process that calls this: the department's SuperNode
(:mod:`department_nodes.supernode`), its warm ``flwr-clientapp``
(:mod:`department_nodes.warm_clientapp`) and the coordinator's deployed
Grid (:mod:`coordinator.polling`). ``tests/fedgov/test_object_pulls.py``
fails if a Flower release stops taking the backoff this way.
"""

from __future__ import annotations

import math
from typing import Final

from flwr.supercore.inflatable import inflatable_utils

from fedgov.errors import ConfigurationError

__all__ = ["BACKOFF_KEY", "PULL_FUNCTIONS", "shorten_object_pulls"]

BACKOFF_KEY: Final = "initial_backoff"
"""The keyword of Flower's pull functions that sets the first retry's wait."""

PULL_FUNCTIONS: Final = ("pull_objects", "pull_and_inflate_object_from_tree")
"""Flower's functions that pull a message's objects, each with its own default."""


def shorten_object_pulls(first: float) -> None:
    """Ask again for an object that is not there yet after ``first`` seconds.

    Raises :class:`~fedgov.errors.ConfigurationError` when ``first`` is not
    a positive number of seconds, or when Flower's pull functions no longer
    take :data:`BACKOFF_KEY` as a keyword default.
    """
    if not (math.isfinite(first) and first > 0):
        raise ConfigurationError("first", f"must be positive seconds, got {first}")
    for name in PULL_FUNCTIONS:
        function = getattr(inflatable_utils, name, None)
        defaults = getattr(function, "__kwdefaults__", None)
        if not isinstance(defaults, dict) or BACKOFF_KEY not in defaults:
            raise ConfigurationError(
                "flwr",
                f"flwr.supercore.inflatable.inflatable_utils.{name} no longer "
                f"takes {BACKOFF_KEY!r}: this flwr release waits for objects "
                "differently; review fedgov.object_pulls",
            )
        defaults[BACKOFF_KEY] = first
