"""Shared pytest configuration for fedgov's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flwr.supercore.inflatable import inflatable_utils
from hypothesis import settings

from fedgov.notices import WARNED_ENV
from fedgov.object_pulls import PULL_FUNCTIONS

# Nothing in the test suite may reach the network or a hub.
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")

# Hypothesis' per-example deadline measures the machine, not the property: on a
# shared 2-core CI runner a slow example is load, and a flaky red run hides real
# failures. Example counts stay as each test sets them.
settings.register_profile("fedgov", deadline=None)
settings.load_profile("fedgov")


@pytest.fixture(autouse=True)
def _each_test_is_a_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # fedgov.notices says a warning once per command; every test starts afresh
    # so that a test expecting a warning sees it whatever ran before.
    monkeypatch.delenv(WARNED_ENV, raising=False)
    # No test reads or writes the county of whoever runs the suite: each sees
    # an empty home (a test that needs a county creates one there).
    monkeypatch.setenv("FEDGOV_HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture
def flower_defaults() -> Iterator[None]:
    """Flower's object-pull backoff as it was, after a test shortened it."""
    saved = {
        name: dict(getattr(inflatable_utils, name).__kwdefaults__)
        for name in PULL_FUNCTIONS
    }
    yield
    for name, defaults in saved.items():
        getattr(inflatable_utils, name).__kwdefaults__.update(defaults)
