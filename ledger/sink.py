"""The one hook through which the product emits audit records.

Code that does something auditable (reads a dataset, runs a round, spends
budget) calls ``sink.emit(record)`` on an :class:`AuditSink` it was given,
and does not care where the record goes:

* :class:`LocalLogSink` appends to a :class:`LogStore` in this process;
* :class:`RemoteLogSink` appends through the gRPC service;
* :class:`NullSink` drops records, for deployments that disable auditing
  by configuration; it warns when created.

Durability comes first: ``emit`` returns once the record is committed to
disk (locally, or by the server), and raises a :class:`LedgerError` if it
could not be, so that the caller never proceeds believing it was audited.
It stays short: one small transaction locally, one call bounded by the
client's timeout remotely. All sinks are thread-safe.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from fedgov.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger.client import LogClient
    from ledger.records import AuditRecord
    from ledger.store import LogStore

__all__ = [
    "AuditDisabledWarning",
    "AuditSink",
    "LocalLogSink",
    "NullSink",
    "RemoteLogSink",
]

_log = logging.getLogger(__name__)


@runtime_checkable
class AuditSink(Protocol):
    """Where audit records go."""

    def emit(self, record: AuditRecord) -> None:
        """Durably record ``record``, or raise a ``LedgerError``."""
        ...

    def emit_many(self, records: Sequence[AuditRecord]) -> None:
        """Durably record ``records`` together, or raise a ``LedgerError``."""
        ...


class LocalLogSink:
    """Appends to a log store in this process."""

    def __init__(self, store: LogStore) -> None:
        self._store = store

    def emit(self, record: AuditRecord) -> None:
        self._store.append(record)

    def emit_many(self, records: Sequence[AuditRecord]) -> None:
        self._store.append_many(records)


class RemoteLogSink:
    """Appends to the log ``log_id`` of an audit log server."""

    def __init__(self, client: LogClient, log_id: bytes) -> None:
        if len(log_id) != 32:
            raise ConfigurationError("log_id", f"must be 32 bytes, got {len(log_id)}")
        self._client = client
        self._log_id = log_id

    def emit(self, record: AuditRecord) -> None:
        self._client.append(self._log_id, [record])

    def emit_many(self, records: Sequence[AuditRecord]) -> None:
        self._client.append(self._log_id, records)


class AuditDisabledWarning(UserWarning):
    """Auditing is off: nothing this process does will be verifiable."""


class NullSink:
    """Drops every record: auditing disabled by configuration. Warns once."""

    def __init__(self, reason: str = "auditing disabled by configuration") -> None:
        message = f"audit records are DISCARDED ({reason}): actions are not auditable"
        warnings.warn(message, AuditDisabledWarning, stacklevel=2)
        _log.warning(message)

    def emit(self, record: AuditRecord) -> None:
        _log.debug("audit record discarded: %s %s", record.action, record.purpose)

    def emit_many(self, records: Sequence[AuditRecord]) -> None:
        _log.debug("%d audit records discarded", len(records))
