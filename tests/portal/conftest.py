"""Fixtures of the portal's tests: one real county on anvil, a client per test."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING

import pytest
import uvicorn
from starlette.testclient import TestClient

from fedgov.portal.app import create_app
from ledger.chain import AnvilProcess
from tests.audit_fixtures import flower_task
from tests.chain_fixtures import ANVIL_SKIP_REASON, anvil_missing
from tests.portal._county import County, build_county

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fedgov.portal.settings import PortalSettings

__all__ = ["client_for", "county", "flower_task", "served"]


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


@contextlib.contextmanager
def served(settings: PortalSettings) -> Iterator[str]:
    """The portal served by uvicorn in a thread (for streams the test client
    cannot follow); its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    (socket,) = server.servers[0].sockets
    try:
        yield f"http://127.0.0.1:{socket.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
