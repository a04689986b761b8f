"""Actor logs shared by several processes: each commit sees the others' appends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.verify import load_log
from ledger.actor_log import ActorLog
from ledger.store import LogStore
from tests.ledger._log_fixtures import ACTOR, DOMAIN, make_record

if TYPE_CHECKING:
    from pathlib import Path


def test_a_log_another_process_appended_to_is_reopened(tmp_path: Path) -> None:
    # Prepare: this process has the store open; another appends and signs.
    log = ActorLog(tmp_path, ACTOR, DOMAIN)
    log.commit([make_record(0)])
    with LogStore(log.path) as other:
        other.append(make_record(1))
        other.sign_head(ACTOR, DOMAIN)

    # Act
    head = log.commit([make_record(2)])

    # Assert
    assert head is not None
    assert head.head.tree_size == 3
    exported = load_log(log.path)
    assert len(exported.records) == 3
    assert [signed.head.tree_size for signed, _ in exported.heads] == [1, 2, 3]


def test_without_a_domain_records_are_kept_unsigned(tmp_path: Path) -> None:
    # Act
    head = ActorLog(tmp_path, ACTOR, None).commit([make_record(0), make_record(1)])

    # Assert
    assert head is None
    assert load_log(ActorLog(tmp_path, ACTOR, None).path).heads == ()
