"""The eligibility roll: entries, proofs, and its file."""

from __future__ import annotations

import json
import stat
from typing import TYPE_CHECKING

import pytest
from eth_utils.address import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from fedgov.errors import ConfigurationError
from ledger.merkle import leaf_hash, root_from_leaf_hashes, verify_inclusion
from ledger.voting.errors import RollError, VotingFileError
from ledger.voting.roll import (
    Roll,
    RollEntry,
    entry_commitment,
    leaf_data,
    parse_residents,
)

if TYPE_CHECKING:
    from pathlib import Path

_IDS = st.lists(
    st.text(min_size=1, max_size=20).filter(lambda s: s.strip()),
    min_size=1,
    max_size=30,
    unique=True,
)


def _key(i: int) -> str:
    """A distinct, non-zero roll key address for row ``i``."""
    return "0x" + (i + 1).to_bytes(20, "big").hex()


def _roll(ids: list[str]) -> Roll:
    return Roll.build((resident, _key(i)) for i, resident in enumerate(ids))


@given(ids=_IDS, data=st.data())
def test_every_resident_has_a_proof_of_their_entry(
    ids: list[str], data: st.DataObject
) -> None:
    # Prepare
    roll = _roll(ids)
    resident = data.draw(st.sampled_from(ids))

    # Execute
    proof = roll.proof(resident)

    # Assert
    entry = roll.entry(resident)
    assert proof.entry == entry_commitment(resident, entry.salt)
    assert (
        proof.roll_key
        == entry.roll_key
        == to_checksum_address(_key(ids.index(resident)))
    )
    assert roll.root == root_from_leaf_hashes(
        leaf_hash(leaf_data(e, k)) for e, k in roll.public_leaves()
    )
    leaf = leaf_hash(leaf_data(proof.entry, proof.roll_key))
    verify_inclusion(proof.index, proof.size, leaf, list(proof.path), roll.root)


def test_entries_hide_identifiers_behind_fresh_salts() -> None:
    first, second = _roll(["alice"]), _roll(["alice"])

    assert first.root != second.root
    assert b"alice" not in b"".join(e for e, _k in first.public_leaves())


def test_bad_rolls_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least one resident"):
        Roll([])
    with pytest.raises(RollError, match="listed twice"):
        _roll(["a", "b", "a"])
    with pytest.raises(RollError, match=r"'b'.*also on row 0"):
        Roll.build([("a", _key(0)), ("b", _key(0))])
    with pytest.raises(RollError, match="not blank"):
        RollEntry("  ", bytes(32), _key(0))
    with pytest.raises(RollError, match="salt"):
        RollEntry("a", b"short", _key(0))
    with pytest.raises(RollError, match="non-zero 20-byte address"):
        RollEntry("a", bytes(32), "0x" + "00" * 20)
    with pytest.raises(RollError, match="non-zero 20-byte address"):
        RollEntry("a", bytes(32), "0x1234")
    with pytest.raises(RollError, match="not on the roll"):
        _roll(["a"]).proof("b")


def test_the_residents_file_pairs_identifiers_with_roll_keys() -> None:
    text = f"alice {_key(0)}\n\n  Jo Smith, 3 Mill St   {_key(1)}  \n"

    residents = parse_residents(text, source="residents.txt")

    assert residents == [("alice", _key(0)), ("Jo Smith, 3 Mill St", _key(1))]
    with pytest.raises(ConfigurationError, match=r"residents\.txt, line 2"):
        parse_residents(f"alice {_key(0)}\nbob\n", source="residents.txt")


def test_the_roll_file_is_private_and_checked(tmp_path: Path) -> None:
    # Prepare
    roll = _roll(["alice", "bob", "carol"])
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
