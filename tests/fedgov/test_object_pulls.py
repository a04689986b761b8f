"""A message's objects not there yet are asked for again at fedgov's pace, not after 1 s."""

from __future__ import annotations

import inspect
import time

import pytest
from flwr.supercore.inflatable import inflatable_utils
from flwr.supercore.inflatable.inflatable_utils import ObjectUnavailableError
from flwr.superlink.grid import http_grid
from flwr.supernode import start_client_internal
from flwr.supernode.runtime import run_clientapp

from fedgov.errors import ConfigurationError
from fedgov.object_pulls import BACKOFF_KEY, PULL_FUNCTIONS, shorten_object_pulls


def _late_object(after: float) -> tuple[list[float], object]:
    """A pull function whose object arrives ``after`` seconds from now."""
    ready = time.monotonic() + after
    calls: list[float] = []

    def pull(object_id: str) -> bytes:
        calls.append(time.monotonic())
        if time.monotonic() < ready:
            raise ObjectUnavailableError(object_id)
        return b"content"

    return calls, pull


def test_flowers_first_retry_waits_a_second_without_it() -> None:
    # The fixed value this module exists for: if Flower stops waiting 1 s,
    # review whether fedgov still needs to change it.
    for name in PULL_FUNCTIONS:
        assert getattr(inflatable_utils, name).__kwdefaults__[BACKOFF_KEY] == 1


def test_an_object_arriving_late_is_picked_up_at_the_shortened_pace(
    flower_defaults: None,
) -> None:
    shorten_object_pulls(0.05)
    calls, pull = _late_object(0.02)

    started = time.monotonic()
    got = inflatable_utils.pull_objects(["a"], pull)  # type: ignore[arg-type]
    waited = time.monotonic() - started

    assert got == {"a": b"content"}
    assert len(calls) == 2
    # Flower's own first retry would come after 0.8-1.2 s.
    assert waited < 0.5


def test_both_pull_functions_take_the_shortened_default(
    flower_defaults: None,
) -> None:
    shorten_object_pulls(0.1)

    for name in PULL_FUNCTIONS:
        assert getattr(inflatable_utils, name).__kwdefaults__[BACKOFF_KEY] == 0.1


def test_flowers_callers_rely_on_the_default() -> None:
    # A caller passing its own backoff would not see the shortened default.
    callers = (
        inspect.getsource(http_grid.HttpGrid.pull_messages),
        inspect.getsource(start_client_internal._pull_and_store_message),
        inspect.getsource(run_clientapp.pull_task_input),
    )
    for source in callers:
        assert "pull_objects(" in source or "pull_and_inflate_object_from_tree(" in (
            source
        )
        assert BACKOFF_KEY not in source


@pytest.mark.parametrize("first", [0.0, -1.0, float("nan"), float("inf")])
def test_a_wait_that_is_not_positive_seconds_is_refused(first: float) -> None:
    with pytest.raises(ConfigurationError, match="first"):
        shorten_object_pulls(first)


def test_a_flower_without_the_keyword_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def pull_objects(object_ids: list[str]) -> None:
        del object_ids

    monkeypatch.setattr(inflatable_utils, "pull_objects", pull_objects)

    with pytest.raises(ConfigurationError, match="pull_objects no longer takes"):
        shorten_object_pulls(0.1)
