"""A county installation for tests: ``fedgov init`` in a temporary home.

Import the fixture in a package's ``conftest.py`` (or a test module)::

    from tests.county_fixtures import county

The county's chain node runs (anvil behind the journalling front) while the
test does and is stopped after it; tests using it need anvil (``make anvil``).
"""

from __future__ import annotations

import socket
import warnings
from typing import TYPE_CHECKING

import pytest

from fedgov.commands.init import create_county
from ledger.keys import PlaintextKeyWarning
from ledger.node import stop_node

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from fedgov.county import CountyConfig

__all__ = ["county", "free_port"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def county(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CountyConfig]:
    """A county "lakeview" installed at ``$FEDGOV_HOME`` (demo-mode keys)."""
    home = tmp_path / "home"
    monkeypatch.setenv("FEDGOV_HOME", str(home))
    monkeypatch.delenv("FEDGOV_KEY_PASSWORD", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextKeyWarning)
        warnings.filterwarnings("ignore", message=".*PLAINTEXT.*")
        created = create_county(home, county="lakeview", port=free_port())
    try:
        yield created.config
    finally:
        assert created.config.chain.node_dir is not None
        stop_node(created.config.chain.node_dir)
