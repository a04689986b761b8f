"""Exported logs: an auditor verifies them offline; edits are found."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from fedgov.errors import ConfigurationError
from ledger.errors import LogIntegrityError
from ledger.export import read_export, verify_export
from ledger.store import LogStore
from ledger.tree_head import SigningDomain
from tests.ledger._log_fixtures import ACTOR, DOMAIN, OTHER, make_record

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    """An export of 12 records with heads at 5 and 12."""
    with LogStore(tmp_path / "log.db", actor=ACTOR.address, log_name="n1") as store:
        store.append_many(make_record(i) for i in range(5))
        store.sign_head(ACTOR, DOMAIN, timestamp_ms=10)
        store.append_many(make_record(i) for i in range(5, 12))
        store.sign_head(ACTOR, DOMAIN, timestamp_ms=20)
        store.export(tmp_path / "log.jsonl")
    return tmp_path / "log.jsonl"


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _rewrite(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_export_verifies_offline(exported: Path, tmp_path: Path) -> None:
    # Execute
    result = verify_export(exported, domain=DOMAIN)

    # Assert
    with LogStore(tmp_path / "log.db") as store:
        assert result.size == 12
        assert result.root == store.root()
        assert result.heads == tuple(store.signed_heads())
        assert result.latest_head == store.latest_tree_head()
        assert result.log_id == store.log_id
        assert (result.actor, result.log_name) == (ACTOR.address, "n1")
        assert result.tree.root(5) == store.root(5)


def test_import_recreates_the_store(exported: Path, tmp_path: Path) -> None:
    # Execute
    with (
        LogStore.import_export(exported, tmp_path / "copy.db") as copy,
        LogStore(tmp_path / "log.db") as original,
    ):
        # Assert: same records, same heads (signatures not redone).
        assert copy.records(0) == original.records(0)
        assert copy.signed_heads() == original.signed_heads()
        assert copy.log_id == original.log_id

    with pytest.raises(ConfigurationError, match="exists"):
        LogStore.import_export(exported, tmp_path / "copy.db")


def test_reformatted_export_still_verifies(exported: Path) -> None:
    # Prepare: re-serialise every line with spaces and other key order.
    lines = _lines(exported)
    for i in range(12):
        record = json.loads(lines[1 + i])["record"]
        lines[1 + i] = json.dumps(
            {"record": dict(reversed(record.items())), "index": i}
        )
    _rewrite(exported, lines)

    # Execute / Assert: canonical bytes, hence hashes, are unchanged.
    assert verify_export(exported).size == 12


def _edit_record(exported: Path, index: int, **changes: object) -> None:
    lines = _lines(exported)
    entry = json.loads(lines[1 + index])
    entry["record"].update(changes)
    lines[1 + index] = json.dumps(entry)
    _rewrite(exported, lines)


def test_edited_value_breaks_the_root(exported: Path) -> None:
    _edit_record(exported, 7, record_count=999)

    with pytest.raises(LogIntegrityError, match=r"records \[5, 12\)"):
        verify_export(exported)


def test_non_canonical_value_is_refused(exported: Path) -> None:
    _edit_record(exported, 2, epsilon="0.250")

    with pytest.raises(LogIntegrityError, match="canonical decimal") as caught:
        verify_export(exported)
    assert caught.value.index == 2


def test_record_of_another_actor_is_refused(exported: Path) -> None:
    _edit_record(exported, 3, actor=OTHER.address)

    with pytest.raises(LogIntegrityError, match="not the log's actor") as caught:
        verify_export(exported)
    assert caught.value.index == 3


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda ls: ls[:4] + ls[5:], "record 3 expected, found 4"),
        (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], "record 0 expected, found 1"),
        (lambda ls: ls[:12], "announces 12 records"),
        (lambda ls: ls[:12] + ls[13:], "announces 12 records"),
        (lambda ls: [*ls[:13], ls[14], ls[13]], "goes back in size or time"),
        (lambda ls: [ls[0].replace('"n1"', '"n2"'), *ls[1:]], "log_id is not"),
        (lambda ls: ["{}", *ls[1:]], "'format' must be a str"),
        (lambda ls: [*ls[:5], "not json", *ls[5:]], "not JSON"),
        (lambda ls: [*ls, ls[1]], "record after signed heads"),
    ],
)
def test_structural_edits_are_refused(exported: Path, edit: object, match: str) -> None:
    _rewrite(exported, edit(_lines(exported)))  # type: ignore[operator]

    with pytest.raises(LogIntegrityError, match=match):
        verify_export(exported)


def test_dropped_heads_leave_nothing_signed(exported: Path) -> None:
    # Only the on-chain anchors can show heads were dropped; offline, the
    # auditor sees an unsigned log rather than a false guarantee.
    _rewrite(exported, _lines(exported)[:13])

    result = verify_export(exported)

    assert (result.size, result.heads, result.latest_head) == (12, (), None)


def test_tampered_head_is_refused(exported: Path) -> None:
    lines = _lines(exported)
    entry = json.loads(lines[-1])
    entry["signed_head"]["tree_size"] = 11
    _rewrite(exported, [*lines[:-1], json.dumps(entry)])

    with pytest.raises(LogIntegrityError, match="does not recover"):
        verify_export(exported)


def test_heads_for_another_domain_are_refused_when_a_domain_is_required(
    exported: Path,
) -> None:
    other = SigningDomain(chain_id=1, verifying_contract=DOMAIN.verifying_contract)

    with pytest.raises(LogIntegrityError, match="was signed for"):
        verify_export(exported, domain=other)


def test_missing_file_is_an_integrity_error(tmp_path: Path) -> None:
    with pytest.raises(LogIntegrityError, match="cannot read"):
        read_export(tmp_path / "absent.jsonl")
