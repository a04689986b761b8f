"""``fedgov deploy`` as docs/deployment.md shows it: real SuperLink and SuperNodes."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

FEDGOV = Path(sys.executable).with_name("fedgov")
DOC = Path(__file__).resolve().parents[3] / "docs" / "deployment.md"


def _documented() -> list[str]:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.startswith("fedgov deploy ")]


@pytest.mark.slow
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

    # Act
    result = subprocess.run(
        [str(FEDGOV), *words[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1400,
    )

    # Assert: it ran every round and wrote its record where it says.
    assert result.returncode == 0, result.stderr[-3000:]
    job_id = words[words.index("--job-id") + 1] if "--job-id" in words else "job"
    record = json.loads((tmp_path / "runs" / job_id / "run_record.json").read_text())
    assert record["engine"] == "deployment"
    assert len(record["rounds"]) == record["job"]["num-rounds"]
