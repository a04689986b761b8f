"""Warnings said once per command, however many processes and messages it spans.

An insecure mode (a plaintext key, a job without audit records, a connection
without TLS) must be said, loudly, but once: a demo whose six departments
each load their key in every round, in several Ray workers, would otherwise
bury everything else under the same sentence. :func:`warn_once` says a
warning the first time its ``key`` comes up in this process and remembers the
key in the environment (:data:`WARNED_ENV`), which every process the command
starts afterwards (Ray's workers, a SuperNode's ClientApp processes) inherits:
they stay silent about what was already said. A new command starts afresh.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Final

__all__ = ["WARNED_ENV", "warn_once"]

WARNED_ENV: Final = "FEDGOV_WARNED"
"""The keys of the warnings this command has said, one per line."""

_lock = threading.Lock()


def _said() -> set[str]:
    return {key for key in os.environ.get(WARNED_ENV, "").split("\n") if key}


def warn_once(
    key: str,
    message: str,
    category: type[Warning] = UserWarning,
    *,
    stacklevel: int = 2,
) -> bool:
    """Warn ``message`` unless this command already said ``key``; whether it did now.

    ``key`` names what the warning is about (``"plaintext-key:<path>"``): a
    warning about another actor or file is another key.
    """
    if "\n" in key:
        raise ValueError(f"warning key {key!r} must be one line")
    with _lock:
        said = _said()
        if key in said:
            return False
        os.environ[WARNED_ENV] = "\n".join(sorted({*said, key}))
    warnings.warn(message, category, stacklevel=stacklevel + 1)
    return True
