"""The local deployment's process supervisor, on plain Python child processes."""

from __future__ import annotations

import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fedgov.engines._deployment_processes import (
    DeploymentError,
    ProcessSupervisor,
    free_port,
    log_tail,
    tagged_processes,
)

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/environ").exists(), reason="the sweep reads /proc (Linux)"
)

# A parent that starts a child in a session of its own, as Flower's SuperLink
# starts its SuperExec, prints the child's pid, and waits forever.
_DETACHING_PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True
    )
    print(child.pid, flush=True)
    time.sleep(600)
    """
)
_IGNORES_SIGTERM = textwrap.dedent(
    """
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ready", flush=True)
    time.sleep(600)
    """
)


def _supervisor(tmp_path: Path, token: str, grace: float = 2.0) -> ProcessSupervisor:
    return ProcessSupervisor(
        token=token,
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        log_dir=tmp_path / "logs",
        grace_seconds=grace,
    )


def _wait_for_output(path: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if text.strip():
            return text
        time.sleep(0.05)
    raise AssertionError(f"{path} stayed empty")


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def test_free_port_can_be_bound() -> None:
    # Prepare
    port = free_port()

    # Execute
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        bound = sock.getsockname()[1]

    # Assert
    assert bound == port


def test_log_tail_keeps_the_last_lines(tmp_path: Path) -> None:
    # Prepare
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))

    # Execute
    tail = log_tail(log, lines=3)

    # Assert
    assert tail == "line 97\nline 98\nline 99"
    assert log_tail(tmp_path / "missing.log") == ""


def test_stop_sweeps_a_detached_grandchild(tmp_path: Path) -> None:
    # Prepare
    supervisor = _supervisor(tmp_path, "detach-test")
    parent = supervisor.start("parent", [sys.executable, "-c", _DETACHING_PARENT])
    grandchild = int(_wait_for_output(parent.log_path).split()[0])
    assert sorted(tagged_processes("detach-test")) == sorted([parent.pid, grandchild])

    # Execute
    swept = supervisor.stop()

    # Assert
    assert grandchild in swept  # outside the parent's group: only the sweep reaches it
    assert tagged_processes("detach-test") == []
    assert not _pid_alive(parent.pid)
    assert not _pid_alive(grandchild)


def test_context_exit_on_error_stops_everything(tmp_path: Path) -> None:
    # Prepare
    token = "error-exit-test"

    def launch_then_fail() -> None:
        with _supervisor(tmp_path, token) as supervisor:
            parent = supervisor.start(
                "parent", [sys.executable, "-c", _DETACHING_PARENT]
            )
            _wait_for_output(parent.log_path)
            assert len(tagged_processes(token)) == 2
            raise RuntimeError("the launcher failed half-way")

    # Execute
    with pytest.raises(RuntimeError, match="half-way"):
        launch_then_fail()

    # Assert
    assert tagged_processes(token) == []


def test_a_process_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    # Prepare
    supervisor = _supervisor(tmp_path, "stubborn-test", grace=0.5)
    stubborn = supervisor.start("stubborn", [sys.executable, "-c", _IGNORES_SIGTERM])
    _wait_for_output(stubborn.log_path)

    # Execute
    supervisor.stop()

    # Assert
    assert stubborn.popen.returncode == -9
    assert tagged_processes("stubborn-test") == []


def test_check_running_reports_the_exit_code_and_log_tail(tmp_path: Path) -> None:
    # Prepare
    with _supervisor(tmp_path, "exit-test") as supervisor:
        crashed = supervisor.start(
            "crasher",
            [sys.executable, "-c", "print('bad flag --foo'); raise SystemExit(3)"],
        )
        crashed.popen.wait(timeout=30)

        # Execute
        with pytest.raises(DeploymentError) as caught:
            supervisor.check_running(what="while starting")

    # Assert
    error = caught.value
    assert error.process == "crasher"
    assert "bad flag --foo" in error.log_tail
    assert "exited with code 3 while starting" in str(error)


def test_environment_carries_the_token_only_to_children(tmp_path: Path) -> None:
    # Prepare
    with _supervisor(tmp_path, "env-test") as supervisor:
        child = supervisor.start(
            "env",
            [
                sys.executable,
                "-c",
                "import os; print(os.environ['FEDGOV_DEPLOYMENT_TOKEN'])",
            ],
        )
        child.popen.wait(timeout=30)

    # Execute
    printed = child.log_path.read_text().strip()

    # Assert
    assert printed == "env-test"
    assert tagged_processes("env-test") == []
