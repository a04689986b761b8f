"""``fedgov train`` as a user types it, from a folder that is not the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.chain_fixtures import requires_anvil
from tests.county_fixtures import county

if TYPE_CHECKING:
    from fedgov.county import CountyConfig

__all__ = ["county"]

FEDGOV = Path(sys.executable).with_name("fedgov")


@pytest.mark.timeout(600)
@pytest.mark.anvil
@requires_anvil
def test_the_readme_command_runs_from_another_folder(
    tmp_path: Path, county: CountyConfig
) -> None:
    # Prepare: the README's first command in a county, two overrides keeping
    # it short (one round, the in-process engine); a folder outside the
    # repository.
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
    env = dict(os.environ)

    # Act
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=540
    )

    # Assert: it ran, printed every department's spend and wrote its record
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Primary config" not in result.stderr
    assert "epsilon job" in result.stdout
    record = json.loads(
        (county.paths.runs_dir / "typed" / "run_record.json").read_text()
    )
    assert record["job"]["strategy"] == "fedprox"
    assert record["job"]["epsilon"] == 3.0
    assert len(record["rounds"]) == 1


@pytest.mark.timeout(600)
def test_without_a_county_train_says_what_to_do_or_runs_ephemeral(
    tmp_path: Path,
) -> None:
    command = [str(FEDGOV), "train", "num_rounds=1", "engine=inprocess", "job_id=e"]

    refused = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    ephemeral = subprocess.run(
        [
            *command[:2],
            "--ephemeral",
            *command[2:],
            "partition=dirichlet",
            "partition.num_departments=2",
            "model=logreg",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=540,
    )

    assert refused.returncode == 1
    assert "fedgov init --county NAME" in refused.stderr
    assert ephemeral.returncode == 0, ephemeral.stderr[-3000:]
    assert "(ephemeral)" in ephemeral.stdout
    assert (tmp_path / "runs" / "e" / "run_record.json").is_file()
