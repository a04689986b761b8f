"""``python -m department_nodes.supernode``: Flower's SuperNode, its waits shortened.

Same arguments as ``flower-supernode`` (flwr 1.42), same process, same
code: this only shortens the waits of the SuperNode's message loop
(``flwr.supernode.start_client_internal``), which flwr hard-codes and
exposes no setting for: 3 s between two pulls when the SuperLink had no
message (the latency of every instruction a department receives) and 0.5 s
between two looks for the ClientApp's reply. Each wait is capped at
``FEDGOV_POLL_SECONDS`` (:mod:`fedgov.polling`, default 0.1 s); a pull is
one small HTTP request to the SuperLink.

The loop's module sees a ``time`` whose ``sleep`` is capped; nothing else
of Flower changes. ``tests/department_nodes/test_supernode.py`` fails if a
Flower release stops waiting this way, so an upgrade cannot silently bring
the 3 s back.
"""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace

from flwr.supernode import start_client_internal
from flwr.supernode.cli import flower_supernode

from fedgov.errors import ConfigurationError
from fedgov.polling import poll_seconds

__all__ = ["capped_clock", "main"]


def capped_clock(cap: float) -> SimpleNamespace:
    """The ``time`` module, its ``sleep`` never longer than ``cap`` seconds."""

    def sleep(seconds: float) -> None:
        time.sleep(min(seconds, cap))

    names = [name for name in dir(time) if not name.startswith("__")]
    clock = SimpleNamespace(**{name: getattr(time, name) for name in names})
    clock.sleep = sleep
    return clock


def main() -> None:
    """Run Flower's SuperNode with ``sys.argv``, its loop's waits capped."""
    try:
        cap = poll_seconds()
    except ConfigurationError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    start_client_internal.time = capped_clock(cap)  # type: ignore[attr-defined,assignment]
    flower_supernode()


if __name__ == "__main__":
    main()
