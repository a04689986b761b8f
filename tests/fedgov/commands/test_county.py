"""A county as a user runs it: README's commands as typed, then the auditor comes later.

1. README's "A county installation" block, line by line, in a fresh home:
   ``fedgov init``, ``fedgov train`` (simulation), ``fedgov query``,
   ``fedgov deploy``; then, beside them, ``flwr run`` against a local
   deployed federation (a SuperLink and SuperNodes of the county's
   departments); then, in new processes, ``fedgov audit verify`` with no
   flags finds every record of every side anchored and consistent, and
   ``--since`` verifies what came after.

A kill -9 of the county's chain node mid-anchoring is a case of the fault
suite (``tests/faults/``, :func:`experiments.faults.chain_node_kill`).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fedgov.county import load_county
from fedgov.engines._deployment_federation import start_federation
from fedgov.engines._deployment_flower import run_command, write_run_config
from tests.chain_fixtures import requires_anvil

pytestmark = [pytest.mark.slow, pytest.mark.anvil, requires_anvil]

REPO = Path(__file__).parents[3]
FEDGOV = Path(sys.executable).with_name("fedgov")


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## A county installation") :]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None, "README's county block is gone"
    return [line for line in block[1].splitlines() if line.startswith("fedgov ")]


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FEDGOV_KEY_PASSWORD"}
    env["FEDGOV_HOME"] = str(home)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def _run(command: str, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def _flwr_run(home: Path, tmp_path: Path) -> Path:
    """``flwr run`` of this repository's app against a local federation of the
    county's departments (as `fedgov deploy` left them); its run folder."""
    county = load_county(home / "county.toml")
    run_dir = county.paths.runs_dir / "flwr-job"
    nodes = {
        f"dept-{k}": {
            "department": f"dept-{k}",
            "state-dir": str(county.paths.state_dir),
        }
        for k in range(3)
    }
    job = {
        "job-id": "flwr-job",
        "dataset": "randhie",
        "partition": "dirichlet",
        "num-departments": 3,
        "num-rounds": 1,
        "model": "logreg",
        "run-dir": str(run_dir),
    }
    saved = dict(os.environ)
    os.environ.update(_env(home))
    try:
        with start_federation(
            tmp_path / "federation", nodes, tls=None, startup_timeout=300
        ) as federation:
            config = write_run_config(tmp_path / "job.toml", job)
            command = run_command(app_dir=REPO, run_config=config)
            done = subprocess.run(
                command,
                cwd=tmp_path / "federation",
                env=federation.supervisor.env,
                capture_output=True,
                text=True,
                timeout=1800,
                check=False,
            )
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            assert "Successfully started run" in done.stdout + done.stderr
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return run_dir


@pytest.mark.timeout(5400)
def test_readme_county_commands_then_flwr_run_then_the_auditor_comes_later(
    tmp_path: Path,
) -> None:
    # Prepare
    commands = _readme_commands()
    assert commands[0] == "fedgov init --county lakeview"
    assert _port_free(8545), "README's chain node port 8545 is taken"
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    first = commands.index("fedgov audit verify")
    ran: dict[str, subprocess.CompletedProcess[str]] = {}
    try:
        # Act: everything before the auditor, as typed; then a flwr run.
        for command in commands[:first]:
            ran[command] = _run(command, home, work)
            assert ran[command].returncode == 0, (
                command
                + "\n"
                + ran[command].stdout[-3000:]
                + ran[command].stderr[-3000:]
            )
        flwr_dir = _flwr_run(home, tmp_path)
        # The auditor, days later: new processes, only the county's file.
        verified = _run("fedgov audit verify --json", home, work)
        typed = {command: _run(command, home, work) for command in commands[first:]}
    finally:
        _run("fedgov ledger node stop", home, work)

    # Assert: every side of every command anchored, consistent, cross-checked.
    assert verified.returncode == 0, verified.stdout[-4000:] + verified.stderr[-4000:]
    report = json.loads(verified.stdout[verified.stdout.index("{") :])
    assert report["format"] == "fedgov-audit-report"
    assert report["mode"] == "full"
    assert report["ok"] is True
    assert report["failures"] == []
    assert set(report["jobs"]) >= {"first", "deployed", "flwr-job"}
    assert report["rounds"] == 2 + 1 + 1
    assert report["queries"] == 1
    roles = {log["role"] for log in report["logs"]}
    assert roles == {"coordinator", "department"}
    assert all(log["anchored_size"] == log["records"] > 0 for log in report["logs"])
    assert (flwr_dir / "run_record.json").is_file()
    assert not [w for w in report["warnings"] if w["check"] == "run-record"]
    audit, since, status = (typed[c] for c in commands[first:])
    assert audit.returncode == 0, audit.stderr[-3000:]
    assert "audit OK" in audit.stdout
    assert since.returncode == 0, since.stderr[-3000:]
    assert "audit OK (incremental)" in since.stdout
    assert status.returncode == 0
    assert "running" in status.stdout
