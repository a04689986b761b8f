"""The ``fedgov`` dispatcher: light commands stay light."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from fedgov.cli import main
try:
    main(["vote", "check", "--help"])
except SystemExit:
    pass
print(sorted(m for m in ("torch", "flwr", "opacus") if m in sys.modules))
"""


def test_fedgov_vote_check_loads_neither_torch_nor_flower() -> None:
    # Act: the command's module is imported before --help is answered
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True
    )

    # Assert
    assert "fedgov vote check" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


TERMINATED = """
import os, signal, sys, time, types
from fedgov import cli

def run(args):
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    finally:
        print("stopped what it started", flush=True)
    return 0

command = types.ModuleType("a_long_command")
command.configure = lambda parser: parser.set_defaults(func=run)
sys.modules["a_long_command"] = command
cli.COMMANDS["long"] = ("a_long_command", "runs until stopped")
sys.exit(cli.main(["long"]))
"""


def test_sigterm_unwinds_a_command_through_its_cleanup() -> None:
    # A service manager's SIGTERM: the command's `finally` must run (that is
    # where fedgov deploy stops its SuperLink and SuperNodes), not be skipped.
    result = subprocess.run(
        [sys.executable, "-c", TERMINATED], capture_output=True, text=True, timeout=20
    )

    assert result.returncode == 130
    assert "stopped what it started" in result.stdout
    assert "fedgov long: stopped" in result.stderr
