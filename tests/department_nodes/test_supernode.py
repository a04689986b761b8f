"""fedgov's SuperNode entry point: Flower's own SuperNode, its loop's waits capped."""

from __future__ import annotations

import inspect
import time

import pytest
from flwr.supernode import start_client_internal

from department_nodes.supernode import REPLY_WAIT_SECONDS, capped_clock, shorten_waits


def test_flowers_loop_still_waits_where_the_cap_applies() -> None:
    # The cap works by giving the loop's module a capped `time` and by
    # wrapping the reply wait it calls by name; if a Flower release stops
    # waiting this way, this must fail, not slow down quietly.
    loop = inspect.getsource(start_client_internal.start_client_internal)
    push = inspect.getsource(start_client_internal._push_messages)

    assert "time.sleep(3)" in loop
    assert "_push_messages(" in loop
    assert "time.sleep(0.5)" in push
    assert start_client_internal.time is time


def _slept(clock: object, seconds: float) -> float:
    started = time.monotonic()
    clock.sleep(seconds)  # type: ignore[attr-defined]
    return time.monotonic() - started


def test_the_capped_clock_waits_no_longer_than_its_cap() -> None:
    clock = capped_clock(0.01, reply_cap=REPLY_WAIT_SECONDS)

    assert _slept(clock, 3) < 1.0
    assert clock.time is time.time
    assert clock.monotonic is time.monotonic


def test_a_reply_is_awaited_at_the_shorter_cap_on_the_awaiting_thread_only() -> None:
    clock = capped_clock(0.3, reply_cap=0.005)

    idle = _slept(clock, 0.5)
    with clock.awaiting_reply():
        awaiting = _slept(clock, 0.5)
    after = _slept(clock, 0.5)

    assert 0.25 <= idle < 0.45
    assert awaiting < 0.1
    assert 0.25 <= after < 0.45


@pytest.fixture
def flower_loop(monkeypatch: pytest.MonkeyPatch, flower_defaults: None) -> None:
    # Restored after the test: shorten_waits replaces both for the process.
    monkeypatch.setattr(start_client_internal, "time", start_client_internal.time)
    monkeypatch.setattr(
        start_client_internal, "_push_messages", start_client_internal._push_messages
    )


class _StopLookingError(Exception):
    pass


class _NoReplyYet:
    """A SuperNode's state whose ClientApp has not replied after ``looks`` looks."""

    def __init__(self, looks: int) -> None:
        self.looks = looks

    def get_messages_legacy(self, *, is_reply: bool) -> list[object]:
        assert is_reply
        self.looks -= 1
        if self.looks < 0:
            raise _StopLookingError
        return []


@pytest.mark.usefixtures("flower_loop")
def test_the_supernode_waits_for_a_reply_at_the_reply_cap_and_idles_at_the_poll() -> (
    None
):
    flowers_push = start_client_internal._push_messages
    shorten_waits(0.2)
    push = start_client_internal._push_messages

    started = time.monotonic()
    with pytest.raises(_StopLookingError):
        push(state=_NoReplyYet(10), object_store=None, send=None, push_object=None)
    awaiting = time.monotonic() - started

    assert push.__wrapped__ is flowers_push  # type: ignore[attr-defined]
    assert awaiting < 10 * 0.2 / 2
    assert REPLY_WAIT_SECONDS < 0.2
    assert 0.15 <= _slept(start_client_internal.time, 3) < 0.5
