"""How long fedgov's processes wait between two polls: the setting and its bounds."""

from __future__ import annotations

import pytest

from fedgov.errors import ConfigurationError
from fedgov.polling import POLL_ENV, POLL_SECONDS, poll_seconds


def test_the_default_is_a_tenth_of_a_second() -> None:
    assert poll_seconds({}) == POLL_SECONDS == 0.1


def test_the_environment_sets_it() -> None:
    assert poll_seconds({POLL_ENV: "3"}) == 3.0
    assert poll_seconds({POLL_ENV: "0.05"}) == 0.05


@pytest.mark.parametrize("raw", ["soon", "0", "-1", "0.001", "4", "nan"])
def test_a_value_outside_its_bounds_is_refused_naming_the_setting(raw: str) -> None:
    with pytest.raises(ConfigurationError, match=POLL_ENV):
        poll_seconds({POLL_ENV: raw})
