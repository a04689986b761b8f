"""One actor's audit log on disk: append records durably, then sign a head.

Both hooks (the department's mod, the coordinator's observer) write through
:class:`ActorLog`. Each commit takes the actor's exclusive file lock, appends
the records in one transaction and signs a new tree head when a signing
domain is configured.

Flower may hand one department's messages to several processes (simulation
actors, deployment ClientApp processes), so a store kept open by one process
can be stale. Each process keeps the stores it opened, and under the lock
compares the file's record count with its own: if another process appended
since, it reopens the store, which rehashes the log and checks every signed
head (the store's integrity check, milliseconds per head). A log is thus
checked whenever a process first opens it or finds it changed by another,
and a commit otherwise costs its own transaction and signature only.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from fedgov.files import private_dir, private_file
from ledger.layout import LOCK_FILE, LOG_NAME, log_path
from ledger.log_files import stored_size
from ledger.records import now_ms
from ledger.store import LogStore

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from eth_account.signers.local import LocalAccount

    from ledger.records import AuditRecord
    from ledger.tree_head import SignedTreeHead, SigningDomain
    from ledger.witness_client import CheckpointPublisher

__all__ = ["ActorLog", "append_and_sign", "export_logs"]


class ActorLog:
    """The log of ``account`` in ``directory``; heads signed for ``domain``.

    ``domain=None`` keeps records without signing heads (no registry is
    configured): they are durable, but nothing commits the actor to them.
    With ``checkpoints``, every signed head is also published as a C2SP
    checkpoint (and cosigned by the county's witnesses).
    """

    def __init__(
        self,
        directory: Path,
        account: LocalAccount,
        domain: SigningDomain | None,
        *,
        checkpoints: CheckpointPublisher | None = None,
    ) -> None:
        self.directory = directory
        self.account = account
        self.domain = domain
        self.checkpoints = checkpoints

    @property
    def path(self) -> Path:
        """The log's SQLite file."""
        return log_path(self.directory, self.account.address)

    @contextlib.contextmanager
    def open(self) -> Iterator[LogStore]:
        """The store, current and integrity-checked, under the actor's lock."""
        with private_file(self.directory / LOCK_FILE).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            key = self.path.resolve()
            store = _checkout(key, self.account.address)
            try:
                yield store
            finally:
                _checkin(key, store)

    def commit(self, records: Sequence[AuditRecord]) -> SignedTreeHead | None:
        """Append ``records`` durably and sign the new head; return it."""
        if not records:
            return None
        with self.open() as store:
            return append_and_sign(
                store, records, self.account, self.domain, self.checkpoints
            )


_MAX_OPEN = 16
_open: OrderedDict[Path, LogStore] = OrderedDict()
_in_use: set[Path] = set()
_open_lock = threading.Lock()


def _checkout(path: Path, actor: str) -> LogStore:
    with _open_lock:
        store = _open.pop(path, None)
        _in_use.add(path)
    try:
        if store is not None and stored_size(path) != store.size:
            store.close()  # another process appended: reopen and re-check
            store = None
        if store is None:
            store = LogStore(path, actor=actor, log_name=LOG_NAME)
        return store
    except BaseException:
        with _open_lock:
            _in_use.discard(path)
        raise


def _checkin(path: Path, store: LogStore) -> None:
    with _open_lock:
        _in_use.discard(path)
        _open[path] = store
        idle = [p for p in _open if p not in _in_use]
        for evicted in idle[: max(0, len(_open) - _MAX_OPEN)]:
            _open.pop(evicted).close()


def append_and_sign(
    store: LogStore,
    records: Sequence[AuditRecord],
    account: LocalAccount,
    domain: SigningDomain | None,
    checkpoints: CheckpointPublisher | None = None,
) -> SignedTreeHead | None:
    """Append ``records`` to the open ``store``; sign its head if ``domain``,
    and publish it as a checkpoint with ``checkpoints``."""
    store.append_many(records)
    if domain is None:
        return None
    latest = store.latest_tree_head()
    # Heads may not go back in time; a clock stepped back must not stop the
    # actor from committing to what it just wrote.
    floor = latest.head.timestamp if latest is not None else 0
    signed = store.sign_head(account, domain, timestamp_ms=max(now_ms(), floor))
    if checkpoints is not None:
        checkpoints.publish(store)
    return signed


def export_logs(paths: Iterable[Path], directory: Path) -> list[Path]:
    """Export each log file into ``directory`` as ``<folder>-<file>.jsonl``.

    The folder (a department's name, ``coordinator``) keeps the files apart
    and readable: ``dept-0-audit-0x….jsonl``.
    """
    private_dir(directory)
    written = []
    for path in paths:
        target = directory / f"{path.parent.name}-{path.stem}.jsonl"
        with LogStore(path) as store:
            store.export(target)
        written.append(target)
    return written
