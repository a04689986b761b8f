"""Warnings said once per command, across the processes it starts."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

from fedgov.notices import WARNED_ENV, warn_once


def test_a_warning_is_said_once_per_key() -> None:
    # Act
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = warn_once("plaintext-key:a", "key a is in plaintext")
        again = warn_once("plaintext-key:a", "key a is in plaintext")
        other = warn_once("plaintext-key:b", "key b is in plaintext")

    # Assert: "always" shows every warnings.warn; the second was never made
    assert (first, again, other) == (True, False, True)
    assert [str(w.message) for w in caught] == [
        "key a is in plaintext",
        "key b is in plaintext",
    ]


def test_processes_started_afterwards_stay_silent_about_it() -> None:
    # Prepare
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warn_once("plaintext-key:a", "key a is in plaintext")
    child = (
        "import warnings; from fedgov.notices import warn_once\n"
        "warnings.simplefilter('error')\n"
        "print(warn_once('plaintext-key:a', 'said already'))\n"
    )

    # Act
    result = subprocess.run(
        [sys.executable, "-c", child],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=True,
    )

    # Assert
    assert result.stdout.strip() == "False"
    assert "plaintext-key:a" in os.environ[WARNED_ENV].split("\n")


def test_a_key_must_be_one_line() -> None:
    with pytest.raises(ValueError, match="one line"):
        warn_once("a\nb", "message")
