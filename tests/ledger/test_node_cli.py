"""The county's chain node and installation as county IT types the commands.

In a county ``fedgov init`` installed (a temporary ``$FEDGOV_HOME``), from a
folder that is not the county's: ``fedgov county show`` describes the
installation; ``fedgov ledger node status`` says the node runs (exit 0) or
not (exit 3); ``fedgov ledger node run``, as a service manager's unit runs
it, serves the chain it had (its blocks and contracts) until SIGTERM, then
stops cleanly; ``fedgov ledger node start`` then starts it in the background.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ledger.chain import Chain
from tests.chain_fixtures import requires_anvil
from tests.county_fixtures import county

if TYPE_CHECKING:
    from fedgov.county import CountyConfig

__all__ = ["county"]

pytestmark = [pytest.mark.slow, pytest.mark.anvil, requires_anvil]

FEDGOV = Path(sys.executable).with_name("fedgov")


def _fedgov(words: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FEDGOV), *words],
        cwd=cwd,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_county_show_describes_the_installation(
    tmp_path: Path, county: CountyConfig
) -> None:
    # Act
    shown = _fedgov(["county", "show"], cwd=tmp_path)

    # Assert
    assert shown.returncode == 0, shown.stderr[-3000:]
    out = shown.stdout
    assert out.startswith(f"county lakeview: {county.file}")
    assert f"chain id {county.chain.chain_id} at {county.chain.rpc_url}" in out
    assert ": running (pid " in out
    assert f"Roles          {county.contracts.roles}" in out
    assert f"AnchorRegistry {county.contracts.anchor_registry}" in out
    assert "keys in PLAINTEXT (demo mode)" in out


def test_county_show_without_a_county_names_what_to_do(tmp_path: Path) -> None:
    # Act
    shown = subprocess.run(
        [str(FEDGOV), "county", "show"],
        cwd=tmp_path,
        env={**os.environ, "FEDGOV_HOME": str(tmp_path / "nowhere")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # Assert
    assert shown.returncode != 0
    assert "no county installed at" in shown.stderr
    assert "fedgov init --county NAME" in shown.stderr


@pytest.mark.timeout(600)
def test_ledger_node_run_serves_the_same_chain_until_sigterm_then_start(
    tmp_path: Path, county: CountyConfig
) -> None:
    # Prepare: the node fedgov init started runs; note its chain, then stop it
    folder = county.chain.node_dir
    assert folder is not None
    running = _fedgov(["ledger", "node", "status"], cwd=tmp_path)
    assert running.returncode == 0, running.stdout + running.stderr[-3000:]
    assert ": running (pid " in running.stdout
    chain = Chain.connect(county.chain.rpc_url, accounts=[])
    block = chain.block_number
    roles_code = chain.w3.eth.get_code(county.contracts.roles)
    assert block > 0
    assert roles_code
    assert _fedgov(["ledger", "node", "stop"], cwd=tmp_path).returncode == 0
    stopped = _fedgov(["ledger", "node", "status"], cwd=tmp_path)

    # Act: the node in the foreground, as a unit's ExecStart runs it
    unit = subprocess.Popen(
        [str(FEDGOV), "ledger", "node", "run"],
        cwd=tmp_path,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        status = _fedgov(["ledger", "node", "status"], cwd=tmp_path)
        while status.returncode != 0 or "not answering" in status.stdout:
            assert unit.poll() is None, unit.communicate()[0][-3000:]
            assert time.monotonic() < deadline, status.stdout
            time.sleep(0.5)
            status = _fedgov(["ledger", "node", "status"], cwd=tmp_path)
        served = Chain.connect(county.chain.rpc_url, accounts=[])
        served_block = served.block_number
        served_code = served.w3.eth.get_code(county.contracts.roles)
        unit.send_signal(signal.SIGTERM)
        output = unit.communicate(timeout=120)[0]
    finally:
        if unit.poll() is None:
            unit.kill()
            unit.wait()
    after = _fedgov(["ledger", "node", "status"], cwd=tmp_path)
    pid_left = (folder / "node.pid").exists()
    restarted = _fedgov(["ledger", "node", "start"], cwd=tmp_path)

    # Assert: stopped reads as exit 3; the unit served the same chain, and a
    # SIGTERM stopped it cleanly (exit 0) with nothing left running
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr[-3000:]
    assert stopped.stdout.strip().endswith(": stopped")
    assert f"(pid {unit.pid})" in status.stdout
    assert served_block == block
    assert served_code == roles_code
    assert unit.returncode == 0, output[-3000:]
    assert after.returncode == 3
    assert not pid_left
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert ": running (pid " in restarted.stdout
