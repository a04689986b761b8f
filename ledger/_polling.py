"""A background thread that polls until stopped, shared by the anchoring classes.

Subclasses implement :meth:`PollingThread._tick` (one round of work; it must
not raise) and :meth:`PollingThread.flush`; the thread wakes every ``poll_s``
seconds or when :meth:`PollingThread.notify` is called. Used as a context
manager the thread starts on entry and, on exit, stops and - unless the body
raised - flushes.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from fedgov.errors import ConfigurationError

__all__ = ["PollingThread"]


class PollingThread(ABC):
    """Start/stop/notify of one daemon thread calling :meth:`_tick` periodically."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    @abstractmethod
    def _poll_s(self) -> float:
        """Seconds between ticks."""

    @property
    @abstractmethod
    def _thread_name(self) -> str:
        """The thread's name, for logs and debuggers."""

    @abstractmethod
    def _tick(self) -> None:
        """One round of work; handles its own errors (the thread must live on)."""

    @abstractmethod
    def flush(self, timeout_s: float = 60.0) -> object:
        """Finish all pending work now, waiting at most ``timeout_s``."""

    def notify(self) -> None:
        """Wake the background thread now."""
        with self._wake:
            self._wake.notify_all()

    def start(self) -> None:
        """Start the background thread."""
        if self._thread is not None:
            raise ConfigurationError(type(self).__name__, "already started")
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name=self._thread_name, daemon=True
        )
        self._thread.start()

    def stop(self, *, flush: bool = True, timeout_s: float = 60.0) -> None:
        """Stop the background thread, then (by default) :meth:`flush`."""
        thread, self._thread = self._thread, None
        if thread is not None:
            with self._wake:
                self._stopping = True
                self._wake.notify_all()
            thread.join()
        if flush:
            self.flush(timeout_s)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(flush=exc_type is None)

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                self._wake.wait(self._poll_s)
                if self._stopping:
                    return
            self._tick()
