"""``fedgov train`` as a user types it, from a folder that is not the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FEDGOV = Path(sys.executable).with_name("fedgov")


@pytest.mark.timeout(600)
def test_the_readme_command_runs_from_another_folder(tmp_path: Path) -> None:
    # Prepare: the README's first command, two overrides keeping it short
    # (one round, the in-process engine); a folder outside the repository.
    command = [
        str(FEDGOV),
        "train",
        "dataset=adult",
        "privacy.epsilon=3",
        "strategy=fedprox",
        "num_rounds=1",
        "engine=inprocess",
        "job_id=typed",
    ]
    env = {**os.environ, "FEDGOV_HOME": str(tmp_path / "home")}

    # Act
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=540
    )

    # Assert: it ran, printed every department's spend and wrote its record
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Primary config" not in result.stderr
    assert "epsilon job" in result.stdout
    record = json.loads((tmp_path / "runs" / "typed" / "run_record.json").read_text())
    assert record["job"]["strategy"] == "fedprox"
    assert record["job"]["epsilon"] == 3.0
    assert len(record["rounds"]) == 1
