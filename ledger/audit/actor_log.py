"""One actor's audit log on disk: append records durably, then sign a head.

Both hooks (the department's mod, the coordinator's observer) write through
:class:`ActorLog`. Each commit opens the actor's :class:`~ledger.store.LogStore`
under an exclusive file lock, checks its integrity (the store does on
opening), appends the records in one transaction, signs a new tree head when
a signing domain is configured, and closes it. Opening per commit costs a
rehash of the log, but it is what stays correct when Flower hands one
department's messages to different processes (simulation actors, deployment
ClientApp processes): a store kept open by one process would not see another
process's appends.
"""

from __future__ import annotations

import contextlib
import fcntl
from typing import TYPE_CHECKING

from ledger.audit.layout import LOCK_FILE, LOG_NAME, log_path
from ledger.records import now_ms
from ledger.store import LogStore

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from pathlib import Path

    from eth_account.signers.local import LocalAccount

    from ledger.records import AuditRecord
    from ledger.tree_head import SignedTreeHead, SigningDomain

__all__ = ["ActorLog", "append_and_sign", "export_logs"]


class ActorLog:
    """The log of ``account`` in ``directory``; heads signed for ``domain``.

    ``domain=None`` keeps records without signing heads (no registry is
    configured): they are durable, but nothing commits the actor to them.
    """

    def __init__(
        self, directory: Path, account: LocalAccount, domain: SigningDomain | None
    ) -> None:
        self.directory = directory
        self.account = account
        self.domain = domain

    @property
    def path(self) -> Path:
        """The log's SQLite file."""
        return log_path(self.directory, self.account.address)

    @contextlib.contextmanager
    def open(self) -> Iterator[LogStore]:
        """The store, opened (and integrity-checked) under the actor's lock."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / LOCK_FILE).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            store = LogStore(self.path, actor=self.account.address, log_name=LOG_NAME)
            try:
                yield store
            finally:
                store.close()

    def commit(self, records: Sequence[AuditRecord]) -> SignedTreeHead | None:
        """Append ``records`` durably and sign the new head; return it."""
        if not records:
            return None
        with self.open() as store:
            return append_and_sign(store, records, self.account, self.domain)


def append_and_sign(
    store: LogStore,
    records: Sequence[AuditRecord],
    account: LocalAccount,
    domain: SigningDomain | None,
) -> SignedTreeHead | None:
    """Append ``records`` to the open ``store``; sign its head if ``domain``."""
    store.append_many(records)
    if domain is None:
        return None
    latest = store.latest_tree_head()
    # Heads may not go back in time; a clock stepped back must not stop the
    # actor from committing to what it just wrote.
    floor = latest.head.timestamp if latest is not None else 0
    return store.sign_head(account, domain, timestamp_ms=max(now_ms(), floor))


def export_logs(paths: Iterable[Path], directory: Path) -> list[Path]:
    """Export each log file into ``directory`` as ``<folder>-<file>.jsonl``.

    The folder (a department's name, ``coordinator``) keeps the files apart
    and readable: ``dept-0-audit-0x….jsonl``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        target = directory / f"{path.parent.name}-{path.stem}.jsonl"
        with LogStore(path) as store:
            store.export(target)
        written.append(target)
    return written
