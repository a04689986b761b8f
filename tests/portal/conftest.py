"""Fixtures of the portal's tests: one real county on anvil, a client per test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from starlette.testclient import TestClient

from fedgov.portal import create_app
from ledger.chain import AnvilProcess
from tests.chain_fixtures import ANVIL_SKIP_REASON, anvil_missing
from tests.portal._county import County, build_county

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fedgov.portal import PortalSettings

__all__ = ["client_for", "county"]


@pytest.fixture(scope="session")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    """The county every portal test reads: built once (about 15 s)."""
    if anvil_missing():
        pytest.skip(ANVIL_SKIP_REASON)
    with AnvilProcess() as anvil:
        yield build_county(tmp_path_factory.mktemp("county"), anvil)


def client_for(settings: PortalSettings) -> TestClient:
    """A test client of the portal for ``settings`` (base URL https://testserver)."""
    return TestClient(create_app(settings), base_url="https://testserver")
