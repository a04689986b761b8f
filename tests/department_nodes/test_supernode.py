"""fedgov's SuperNode entry point: Flower's own SuperNode, its loop's waits capped."""

from __future__ import annotations

import inspect
import time

from flwr.supernode import start_client_internal

from department_nodes.supernode import capped_clock


def test_flowers_loop_still_waits_where_the_cap_applies() -> None:
    # The cap works by giving the loop's module a capped `time`; if a Flower
    # release stops waiting through it, this must fail, not slow down quietly.
    loop = inspect.getsource(start_client_internal.start_client_internal)
    push = inspect.getsource(start_client_internal._push_messages)

    assert "time.sleep(3)" in loop
    assert "time.sleep(0.5)" in push
    assert start_client_internal.time is time


def test_the_capped_clock_waits_no_longer_than_its_cap() -> None:
    clock = capped_clock(0.01)

    started = time.monotonic()
    clock.sleep(3)
    waited = time.monotonic() - started

    assert waited < 1.0
    assert clock.time is time.time
    assert clock.monotonic is time.monotonic
