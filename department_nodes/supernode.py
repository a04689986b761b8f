"""``python -m department_nodes.supernode``: Flower's SuperNode, its waits shortened.

Same arguments as ``flower-supernode`` (flwr 1.42), same process, same
code: this only shortens the waits of the SuperNode's message loop
(``flwr.supernode.start_client_internal``), which flwr hard-codes and
exposes no setting for:

* 3 s between two pulls when the SuperLink had no message (the latency of
  every instruction a department receives), capped at
  ``FEDGOV_POLL_SECONDS`` (:mod:`fedgov.polling`, default 0.1 s): a pull is
  one small HTTP request to the SuperLink, made while the department idles;
* 0.5 s between two looks for the ClientApp's reply to the message being
  handled, capped at :data:`REPLY_WAIT_SECONDS`: a look is a read of the
  SuperNode's own memory, made only while a message is handled, so it can
  be frequent at no cost to an idle department.

The loop's module sees a ``time`` whose ``sleep`` is capped; nothing else
of Flower changes. ``tests/department_nodes/test_supernode.py`` fails if a
Flower release stops waiting this way, so an upgrade cannot silently bring
the 3 s back. A message's objects not there yet when its header is are
asked for again after the poll's cap (:mod:`fedgov.object_pulls`), not 1 s.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Final, ParamSpec, TypeVar

from flwr.supernode import start_client_internal
from flwr.supernode.cli import flower_supernode

from fedgov.errors import ConfigurationError
from fedgov.object_pulls import shorten_object_pulls
from fedgov.polling import poll_seconds

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["REPLY_WAIT_SECONDS", "capped_clock", "main", "shorten_waits"]

REPLY_WAIT_SECONDS: Final = 0.01
"""The longest wait between two looks for the reply to the message handled."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


def capped_clock(cap: float, *, reply_cap: float) -> SimpleNamespace:
    """The ``time`` module, its ``sleep`` never longer than ``cap`` seconds.

    Within ``clock.awaiting_reply()`` (on the thread that entered it), never
    longer than ``reply_cap`` either.
    """
    replying = threading.local()
    awaiting_cap = min(cap, reply_cap)

    def sleep(seconds: float) -> None:
        limit = awaiting_cap if getattr(replying, "active", False) else cap
        time.sleep(min(seconds, limit))

    @contextlib.contextmanager
    def awaiting_reply() -> Iterator[None]:
        replying.active = True
        try:
            yield
        finally:
            replying.active = False

    names = [name for name in dir(time) if not name.startswith("__")]
    clock = SimpleNamespace(**{name: getattr(time, name) for name in names})
    clock.sleep = sleep
    clock.awaiting_reply = awaiting_reply
    return clock


def _awaiting_reply(push: Callable[_P, _R], clock: SimpleNamespace) -> Callable[_P, _R]:
    @functools.wraps(push)
    def wrapped(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with clock.awaiting_reply():
            return push(*args, **kwargs)

    return wrapped


def shorten_waits(cap: float) -> None:
    """Cap the SuperNode loop's waits: ``cap`` idle, :data:`REPLY_WAIT_SECONDS` for a reply."""
    clock = capped_clock(cap, reply_cap=REPLY_WAIT_SECONDS)
    start_client_internal.time = clock  # type: ignore[attr-defined,assignment]
    # The loop calls its reply wait by the module's name, so the wrapper is
    # what it calls; the wrapped function is Flower's, unchanged.
    start_client_internal._push_messages = _awaiting_reply(
        start_client_internal._push_messages, clock
    )
    shorten_object_pulls(cap)


def main() -> None:
    """Run Flower's SuperNode with ``sys.argv``, its loop's waits capped."""
    try:
        cap = poll_seconds()
    except ConfigurationError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    shorten_waits(cap)
    flower_supernode()


if __name__ == "__main__":
    main()
