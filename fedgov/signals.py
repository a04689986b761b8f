"""Blocking until the operator stops a long-running command."""

from __future__ import annotations

import signal
import threading

__all__ = ["wait_for_stop_signal"]


def wait_for_stop_signal() -> None:
    """Block until SIGINT (Ctrl-C) or SIGTERM (a service manager) arrives.

    Handlers are installed explicitly rather than relying on Python's
    KeyboardInterrupt: a process started in the background by a
    non-interactive shell inherits SIGINT as *ignored*, and a service manager
    stops processes with SIGTERM, which Python does not handle at all.
    """
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
