"""The warm flwr-clientapp: Flower's own entry point, forked per message from a
server that imported it once; its launcher relays streams and exit status."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from department_nodes.relay_app import service_answers
from department_nodes.warm_clientapp import SOCKET_ENV, install_launcher


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "clientapp.sock"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "department_nodes.warm_clientapp",
            "--socket",
            str(path),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not service_answers(path):
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.1)
    yield path
    process.terminate()
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "forked" in err
    assert not path.exists()


def _launch(
    launcher: Path, socket_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(launcher), *args],
        env={**os.environ, SOCKET_ENV: str(socket_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_forked_flwr_clientapp_answers_on_the_launchers_streams(
    server: Path, tmp_path: Path
) -> None:
    launcher = install_launcher(tmp_path / "bin")

    helped = _launch(launcher, server, "--help")
    refused = _launch(launcher, server, "--no-such-flag")

    assert stat.S_IMODE(server.stat().st_mode) == 0o600
    assert helped.returncode == 0
    assert "--runtime-api-address" in helped.stdout  # Flower's own parser
    assert refused.returncode == 2
    assert "flwr-clientapp: error:" in refused.stderr


def test_without_a_server_the_launcher_runs_flowers_own(tmp_path: Path) -> None:
    launcher = install_launcher(tmp_path / "bin")

    helped = _launch(launcher, tmp_path / "nobody.sock", "--help")

    assert helped.returncode == 0
    assert "--runtime-api-address" in helped.stdout
