"""Blocking until the operator stops a long-running command."""

from __future__ import annotations

import signal
import threading

__all__ = ["StopSignal"]


class StopSignal:
    """SIGINT (Ctrl-C) or SIGTERM (a service manager), caught from construction.

    Handlers are installed explicitly rather than relying on Python's
    KeyboardInterrupt: a process started in the background by a
    non-interactive shell inherits SIGINT as *ignored*, and a service manager
    stops processes with SIGTERM, which Python does not handle at all.

    Construct it *before* a server announces it is ready: a supervisor that
    reads the announcement and signals at once would otherwise hit the
    inherited disposition, and an ignored SIGINT leaves the server running.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self._stop.set())

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until a stop signal arrived (True) or ``timeout_s`` passed."""
        return self._stop.wait(timeout_s)
