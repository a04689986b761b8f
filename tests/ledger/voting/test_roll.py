"""The eligibility roll: entries, proofs, and its file."""

from __future__ import annotations

import json
import stat
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedgov.errors import ConfigurationError
from ledger.merkle import leaf_hash, root_from_leaf_hashes, verify_inclusion
from ledger.voting.errors import RollError, VotingFileError
from ledger.voting.roll import Roll, RollEntry, entry_commitment

if TYPE_CHECKING:
    from pathlib import Path

_IDS = st.lists(
    st.text(min_size=1, max_size=20).filter(lambda s: s.strip()),
    min_size=1,
    max_size=30,
    unique=True,
)


@given(ids=_IDS, data=st.data())
def test_every_resident_has_a_proof_of_their_entry(
    ids: list[str], data: st.DataObject
) -> None:
    # Prepare
    roll = Roll.build(ids)
    resident = data.draw(st.sampled_from(ids))

    # Execute
    proof = roll.proof(resident)

    # Assert
    entry = roll.entry(resident)
    assert proof.entry == entry_commitment(resident, entry.salt)
    assert roll.root == root_from_leaf_hashes(
        leaf_hash(e) for e in roll.public_leaves()
    )
    verify_inclusion(
        proof.index, proof.size, leaf_hash(proof.entry), list(proof.path), roll.root
    )


def test_entries_hide_identifiers_behind_fresh_salts() -> None:
    first, second = Roll.build(["alice"]), Roll.build(["alice"])

    assert first.root != second.root
    assert b"alice" not in b"".join(first.public_leaves())


def test_bad_rolls_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least one resident"):
        Roll([])
    with pytest.raises(RollError, match="listed twice"):
        Roll.build(["a", "b", "a"])
    with pytest.raises(RollError, match="not blank"):
        RollEntry("  ", bytes(32))
    with pytest.raises(RollError, match="salt"):
        RollEntry("a", b"short")
    with pytest.raises(RollError, match="not on the roll"):
        Roll.build(["a"]).proof("b")


def test_the_roll_file_is_private_and_checked(tmp_path: Path) -> None:
    # Prepare
    roll = Roll.build(["alice", "bob", "carol"])
    path = tmp_path / "roll.json"

    # Execute
    roll.save(path)
    loaded = Roll.load(path)
    document = json.loads(path.read_text())
    document["residents"][1]["id"] = "mallory"
    path.write_text(json.dumps(document))

    # Assert
    assert loaded.root == roll.root
    assert loaded.entries == roll.entries
    assert path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO) == 0
    with pytest.raises(VotingFileError, match="do not hash to the recorded root"):
        Roll.load(path)
