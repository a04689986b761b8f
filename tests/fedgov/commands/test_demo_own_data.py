"""``fedgov demo`` on a county's own declared dataset, one CSV file per office."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.own_data import DECLARATIONS, nmes_departments

__all__ = ["nmes_departments"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def test_the_demo_runs_on_the_offices_own_files(
    tmp_path: Path, nmes_departments: Path
) -> None:
    # Prepare: the example's declaration and the offices' files, in a folder
    # as a data officer would hold them.
    shutil.copy(DECLARATIONS["binary"], tmp_path / "nmes1988.yaml")
    shutil.copytree(nmes_departments, tmp_path / "departments")
    fedgov = Path(sys.executable).with_name("fedgov")
    command = [
        *[str(fedgov), "demo", "--dataset", "nmes1988.yaml"],
        *["--sources", "departments", "--rounds", "2", "--residents", "4"],
        *["--output", "demo"],
    ]

    # Act
    result = subprocess.run(
        command,
        cwd=tmp_path,
        env={**os.environ, "FEDGOV_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=1100,
        check=False,
    )

    # Assert: the offices trained and answered, the baseline (which pools
    # records) was skipped, the query counted records per a groupable column,
    # and the audit covered it all.
    out = result.stdout
    assert result.returncode == 0, (out + result.stderr)[-4000:]
    assert "4 departments" in out
    assert "centralized baseline: skipped" in out
    assert "records per gender" in out
    for office in ("office-midwest", "office-northeast", "office-other", "office-west"):
        assert office in out
    assert "macro F1" in out
    assert "every check passed" in out
    assert (tmp_path / "demo" / "run" / "run_record.json").is_file()
