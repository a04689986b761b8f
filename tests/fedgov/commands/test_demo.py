"""The main job runs end to end and every check it makes passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fedgov.commands.demo import run_demo


@pytest.mark.slow
def test_the_demo_passes_every_check(tmp_path: Path) -> None:
    result = run_demo(output=tmp_path, rounds=3, residents=8)
    assert result.ok
    assert len(result.record.rounds) == 3
    assert {d.rounds_trained for d in result.record.departments} == {3}
    assert result.audit.queries == 1
    # the re-tally names only the rehearsal's abusive ballots, and counts none
    assert not result.consultation.unexplained
    assert result.consultation.retally.tally == result.consultation.expected_tally
    assert (tmp_path / "run" / "run_record.json").exists()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_command_says_each_warning_once_per_actor(tmp_path: Path) -> None:
    # Prepare: the command as typed, kept short
    fedgov = Path(sys.executable).with_name("fedgov")
    command = [str(fedgov), "demo", "--rounds", "2", "--residents", "4"]

    # Act
    result = subprocess.run(
        [*command, "--output", str(tmp_path / "demo")],
        cwd=tmp_path,
        env={**os.environ, "FEDGOV_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=840,
    )

    # Assert: one plaintext-key warning per actor (6 departments and the
    # coordinator) and one open-access warning per department (the demo's
    # departments keep no access policy), none repeated by Ray's workers, no
    # progress bars
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    warnings = [line for line in output.splitlines() if "warning" in line.lower()]
    plaintext = [line for line in warnings if "PlaintextKeyWarning" in line]
    open_access = [line for line in warnings if "has NO access policy" in line]
    assert len(plaintext) == 7, "\n".join(warnings)
    assert len(open_access) == 6, "\n".join(warnings)
    assert len(warnings) == 13, "\n".join(warnings)
    assert "partition_id_to_indices" not in output
    assert "every check passed" in output
