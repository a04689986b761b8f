"""A server that announces readiness can be stopped at once, however it was started."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

_SERVER = """
from fedgov.signals import StopSignal
stop = StopSignal()
print("ready", flush=True)
stop.wait()
print("stopped", flush=True)
"""


def _ignore_sigint() -> None:
    # What a non-interactive shell does to a job it starts in the background.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_right_after_the_announcement_stops_the_server(
    signum: signal.Signals,
) -> None:
    # Prepare: SIGINT inherited as ignored, as under CI.
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint,
    )
    assert server.stdout is not None
    assert server.stdout.readline() == "ready\n"

    # Execute: no pause between reading the announcement and signalling.
    server.send_signal(signum)
    try:
        out, _ = server.communicate(timeout=20)
    finally:
        server.kill()

    # Assert
    assert server.returncode == 0
    assert out == "stopped\n"
