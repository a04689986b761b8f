"""A department killed mid-job: ``fedgov deploy`` goes on without it.

It used to abort the whole job when a SuperNode died, and a deployed
ServerApp waited "2 connected (minimum required: 3)" until the node came
back, past round-timeout and ignoring min-departments.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FEDGOV = Path(sys.executable).with_name("fedgov")


def _supernode_pids(run_dir: Path) -> dict[str, int]:
    """Each SuperNode's pid, read from /proc (its FLWR_HOME names its department)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if not any(b"flower-supernode" in a for a in argv[:2]):
            continue
        home = next((e for e in environ if e.startswith(b"FLWR_HOME=")), b"")
        path = Path(home.decode().removeprefix("FLWR_HOME="))
        if path.parent == run_dir / "nodes":
            found[path.name] = int(entry.name)
    return found


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_killed_department_leaves_the_job_to_the_others(tmp_path: Path) -> None:
    # Prepare: three departments, any two may go on; a short round timeout.
    run_dir = tmp_path / "runs" / "dropout"
    command = [
        str(FEDGOV), "deploy", "--partition", "dirichlet", "--departments", "3",
        "--rounds", "3", "--model", "logreg", "--job-id", "dropout",
        "--set", "round-timeout=180", "--set", "min-departments=2",
    ]  # fmt: skip
    env = {**os.environ, "FEDGOV_HOME": str(tmp_path / "home")}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip

    # Act: kill -9 one department once the second round has begun.
    log = run_dir / "logs" / "flwr-run.log"
    deadline = time.monotonic() + 900
    while "[ROUND 2" not in (log.read_text() if log.exists() else ""):
        assert process.poll() is None, process.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "round 2 never began"
        time.sleep(1)
    pids = _supernode_pids(run_dir)
    victim = sorted(pids)[0]
    os.kill(pids[victim], signal.SIGKILL)
    output, _ = process.communicate(timeout=1200)

    # Assert: the job completed its rounds with the other two, and the lost
    # department is on record as such, not silently left out.
    assert process.returncode == 0, output[-3000:]
    record = json.loads((run_dir / "run_record.json").read_text())
    assert len(record["rounds"]) == 3
    last = record["rounds"][-1]["train"]
    trained = [d["department"] for d in last if d["status"] == "trained"]
    assert victim not in trained
    assert len(trained) == 2
