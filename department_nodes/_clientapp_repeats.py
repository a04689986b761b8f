"""What flwr 1.42's ``flwr-clientapp`` repeats for every message, done once in a warm one.

Two things a ``flwr-clientapp`` does for every message cost a department
CPU for nothing when its process is forked from a warm one
(:mod:`department_nodes.warm_clientapp`); :func:`skip_repeats` makes the
fork server's children skip them, keeping Flower's outcome:

* **Installing the app's bundle again.** flwr 1.42's ``flwr-clientapp`` calls ``install_from_fab(fab, skip_prompt=True)``
for every message: it unpacks the whole bundle into a temporary folder and
checks the hash of every file in it, then finds the app's folder for that
bundle already there and returns it unchanged (``validate_and_install``
returns an existing folder when asked not to prompt). For fedgov's bundle
that is a couple of hundred files and about 0.2 s of a department's CPU per
message on a quiet 2-core machine, a second under load: most of what a
question costs a department. :func:`installed_or_install` keeps Flower's
behaviour and skips only the repeat: the first time a bundle is seen,
Flower's own install runs (unpack, hash every file, copy) and, once it
returned, the bundle's SHA-256 is recorded with the folder it went to
(``<FLWR_HOME>/apps/.fedgov-installed/<sha256>``). A later message with the
same bundle, byte for byte, gets that folder if it is still there, as
Flower's own install would have returned it. Any other bundle, or a record
whose folder is gone, goes through Flower's install again.
* **A telemetry event nobody sends.** Each ``flwr-clientapp`` run starts a
  telemetry event whose payload describes the platform, running ``uname -p``
  and ``file -b`` in subprocesses, and then, with ``FLWR_TELEMETRY_ENABLED=0``
  (fedgov's processes are offline: :mod:`fedgov.engines`), sends nothing.
  With telemetry off, the children's event is not built at all.

Both are replaced where ``flwr-clientapp`` looks them up
(``flwr.supernode.runtime.run_clientapp``); nothing else of Flower changes.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Future
from pathlib import Path
from typing import Final

from flwr.cli import install as flower_install
from flwr.common.constant import APP_DIR
from flwr.supercore.telemetry import EventType
from flwr.supercore.utils import get_flwr_home
from flwr.supernode.runtime import run_clientapp

from fedgov.files import private_dir, write_atomic

__all__ = ["RECORDS", "TELEMETRY_ENV", "installed_or_install", "skip_repeats"]

RECORDS: Final = ".fedgov-installed"
"""The folder, beside the installed apps, recording which bundle went where."""

TELEMETRY_ENV: Final = "FLWR_TELEMETRY_ENABLED"


def _records() -> Path:
    return get_flwr_home() / APP_DIR / RECORDS


def installed_or_install(
    fab_file: Path | bytes, install_dir: Path | None = None, skip_prompt: bool = False
) -> Path:
    """Flower's ``install_from_fab``, minus the repeat of a bundle installed before."""
    if not isinstance(fab_file, bytes) or install_dir is not None or not skip_prompt:
        return flower_install.install_from_fab(fab_file, install_dir, skip_prompt)
    digest = hashlib.sha256(fab_file).hexdigest()
    record = _records() / digest
    try:
        folder = Path(record.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        folder = None
    if folder is not None and folder.is_dir():
        return folder
    folder = flower_install.install_from_fab(fab_file, None, True)
    private_dir(record.parent)
    write_atomic(record, str(folder).encode("utf-8"))
    return folder


def _no_event(
    event_type: EventType, event_details: dict[str, object] | None = None
) -> Future[str]:
    del event_type, event_details
    done: Future[str] = Future()
    done.set_result("disabled")
    return done


def skip_repeats() -> None:
    """Make this process's ``flwr-clientapp`` skip what it repeats per message.

    Each bundle is installed once; with telemetry off (``TELEMETRY_ENV`` is
    ``0``), no telemetry event is built.
    """
    run_clientapp.install_from_fab = installed_or_install  # type: ignore[attr-defined]
    if os.environ.get(TELEMETRY_ENV) == "0":
        run_clientapp.event = _no_event  # type: ignore[attr-defined]
