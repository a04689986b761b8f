"""The command docs/personalisation.md shows, run exactly as a user types it.

The command is read from the page, so a change to the page is a change to the
test. An ephemeral in-process federation of two Dirichlet departments, one
round and one epoch of fine-tuning.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

_PAGE = Path(__file__).resolve().parents[3] / "docs" / "personalisation.md"
FEDGOV = Path(sys.executable).with_name("fedgov")


def _commands() -> list[list[str]]:
    fenced, found = False, []
    for line in _PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced and line.startswith("fedgov "):
            found.append(shlex.split(line))
    return found


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_pages_command_personalises_every_department_within_epsilon(
    tmp_path: Path,
) -> None:
    # Prepare: the page's one command, from a folder that is not the repository
    (command,) = _commands()
    assert command[:2] == ["fedgov", "train"]
    epsilon = 1.0  # the default privacy.epsilon the page relies on

    # Act
    result = subprocess.run(
        [str(FEDGOV), *command[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=840,
    )

    # Assert: every department printed its personalised model within epsilon,
    # and the run record holds the same
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if "personalised:" in line]
    assert len(lines) == 2, result.stdout
    record = json.loads(
        (tmp_path / "runs" / "personal" / "run_record.json").read_text()
    )
    outcomes = record["extra"]["personalisation"]
    assert [o["status"] for o in outcomes] == ["ok", "ok"]
    for outcome in outcomes:
        spent = outcome["metrics"]["epsilon-job"]
        assert 0.99 * epsilon <= spent <= epsilon
        assert f"epsilon job {spent:.3f} with fine-tuning" in result.stdout
    rounds = {d["department"]: d["epsilon_job"] for d in record["departments"]}
    assert all(value < 0.5 * epsilon + 1e-9 for value in rounds.values())
