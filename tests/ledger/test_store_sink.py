"""The audit sinks that need no server: local store, and the null sink."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import pytest

from fedgov.errors import ConfigurationError
from ledger.errors import LogStorageError
from ledger.sink import (
    AuditDisabledWarning,
    AuditSink,
    LocalLogSink,
    NullSink,
    RemoteLogSink,
)
from ledger.store import LogStore
from tests.ledger._log_fixtures import ACTOR, make_record

if TYPE_CHECKING:
    from pathlib import Path


def test_local_sink_appends_durably_from_many_threads(tmp_path: Path) -> None:
    # Prepare
    store = LogStore(tmp_path / "log.db", actor=ACTOR.address)
    sink: AuditSink = LocalLogSink(store)

    def emit(offset: int) -> None:
        for i in range(offset, offset + 10):
            sink.emit(make_record(i))
        sink.emit_many([make_record(offset + 10), make_record(offset + 11)])

    threads = [threading.Thread(target=emit, args=(k * 100,)) for k in range(3)]

    # Execute
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()

    # Assert: all 36 are on disk.
    with LogStore(tmp_path / "log.db") as reopened:
        assert reopened.size == 36


def test_local_sink_raises_when_the_record_cannot_be_stored(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db", actor=ACTOR.address)
    sink = LocalLogSink(store)
    store.close()

    with pytest.raises(LogStorageError, match="write failed"):
        sink.emit(make_record(0))


def test_null_sink_warns_loudly_and_drops(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING),
        pytest.warns(AuditDisabledWarning, match="DISCARDED"),
    ):
        sink = NullSink("audit.enabled=false")

    sink.emit(make_record(0))
    sink.emit_many([make_record(1)])

    assert "audit.enabled=false" in caplog.text
    assert isinstance(sink, AuditSink)


def test_remote_sink_needs_a_log_id() -> None:
    with pytest.raises(ConfigurationError, match="32 bytes"):
        RemoteLogSink(client=None, log_id=b"short")  # type: ignore[arg-type]
