"""``fedgov deploy`` as docs/deployment.md shows it: real SuperLink and SuperNodes."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chain_fixtures import requires_anvil

FEDGOV = Path(sys.executable).with_name("fedgov")
DOC = Path(__file__).resolve().parents[3] / "docs" / "deployment.md"


def _documented() -> list[str]:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.startswith("fedgov deploy ")]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.slow
@pytest.mark.anvil
@requires_anvil
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("line", _documented())
def test_the_documented_launcher_runs_as_typed(tmp_path: Path, line: str) -> None:
    # Prepare: a folder outside the repository, a state folder of its own.
    words = shlex.split(line)
    env = {
        **os.environ,
        "FEDGOV_HOME": str(tmp_path / "home"),
        "PATH": f"{FEDGOV.parent}{os.pathsep}{os.environ['PATH']}",
    }

    # The county installed as the document's section 0 says (on a free port:
    # other suites may hold the default one).
    subprocess.run(
        [str(FEDGOV), "init", "--county", "lakeview", "--port", str(_free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=True,
        timeout=300,
    )

    # Act
    try:
        result = subprocess.run(
            [str(FEDGOV), *words[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=1400,
        )
    finally:
        subprocess.run(
            [str(FEDGOV), "ledger", "node", "stop"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=120,
        )

    # Assert: it ran every round and wrote its record where it says.
    assert result.returncode == 0, result.stderr[-3000:]
    said = [
        line for line in result.stdout.splitlines() if line.startswith("run record: ")
    ]
    assert len(said) == 1, result.stdout[-3000:]
    record = json.loads(Path(said[0].removeprefix("run record: ")).read_text())
    assert record["engine"] == "deployment"
    assert len(record["rounds"]) == record["job"]["num-rounds"]
