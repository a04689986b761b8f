"""The eligibility roll: who may obtain a credential, committed to on chain.

The registrar keeps the roll (residents' identifiers, private); the chain
holds only its RFC 9162 Merkle root and size. Each leaf is 52 bytes:

- the **entry commitment** ``SHA-256("fedgov-roll-entry-v1" || salt ||
  resident id)`` with a fresh 32-byte salt per resident, so the public list of
  leaves reveals how many residents are eligible and nothing about who they
  are; a resident who is told their salt can recompute their entry and watch
  the chain for the one credential recorded against it;
- the resident's **roll key**: the address of a key the resident made and
  registered with the registrar (``fedgov vote enroll``). The contract records
  a credential against an entry only with a request signed by that key, so
  the registrar cannot record one for a resident who never asked.

The tree is :mod:`ledger.merkle` (RFC 9162, SHA-256): one Merkle format for the
whole ledger, domain-separated leaves and nodes, proofs bound to an index and a
tree size. The contract re-derives the root from a proof with the SHA-256
precompile; ``experiments/bench/voting.py`` measures what that costs.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils.address import is_address, to_canonical_address, to_checksum_address

from fedgov.errors import ConfigurationError
from ledger.merkle import MerkleTree, leaf_hash
from ledger.voting._files import read_json, write_json
from ledger.voting.errors import RollError, VotingFileError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

__all__ = [
    "MAX_RESIDENT_ID_BYTES",
    "Roll",
    "RollEntry",
    "RollProof",
    "entry_commitment",
    "leaf_data",
    "parse_residents",
]

MAX_RESIDENT_ID_BYTES = 256
_ENTRY_TAG = b"fedgov-roll-entry-v1"
_SALT_BYTES = 32
_FORMAT = "fedgov-roll-v2"
_LEAVES_FORMAT = "fedgov-roll-leaves-v2"


def entry_commitment(resident: str, salt: bytes) -> bytes:
    """The 32-byte commitment to ``resident`` under ``salt``."""
    return hashlib.sha256(_ENTRY_TAG + salt + resident.encode("utf-8")).digest()


def leaf_data(entry: bytes, roll_key: str) -> bytes:
    """A roll leaf's data: entry commitment || roll key address (52 bytes)."""
    return entry + to_canonical_address(roll_key)


def parse_residents(text: str, *, source: str) -> list[tuple[str, str]]:
    """``(resident id, roll key)`` pairs from lines ``RESIDENT-ID ROLL-KEY``.

    The roll key is the line's last word, so an identifier may hold spaces;
    blank lines are skipped. ``source`` names the text in errors.
    """
    residents = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        words = line.strip().rsplit(maxsplit=1)
        if len(words) != 2:
            raise ConfigurationError(
                f"{source}, line {number}",
                "must be 'RESIDENT-ID ROLL-KEY' (the address `fedgov vote enroll` "
                f"printed for the resident), got {line.strip()!r}",
            )
        residents.append((words[0], words[1]))
    return residents


@dataclass(frozen=True)
class RollEntry:
    """One eligible resident: identifier, the salt hiding it, and their roll key."""

    resident: str
    salt: bytes
    roll_key: str
    """The address of the key that signs the resident's credential requests."""

    def __post_init__(self) -> None:
        size = len(self.resident.encode("utf-8"))
        if not self.resident.strip() or size > MAX_RESIDENT_ID_BYTES:
            raise RollError(
                self.resident,
                f"an identifier must be 1..{MAX_RESIDENT_ID_BYTES} UTF-8 bytes, "
                "not blank",
            )
        if len(self.salt) != _SALT_BYTES:
            raise RollError(self.resident, f"salt must be {_SALT_BYTES} bytes")
        if not is_address(self.roll_key) or int(self.roll_key, 16) == 0:
            raise RollError(
                self.resident,
                f"roll key must be a non-zero 20-byte address, got {self.roll_key!r}",
            )
        object.__setattr__(self, "roll_key", to_checksum_address(self.roll_key))

    @property
    def commitment(self) -> bytes:
        return entry_commitment(self.resident, self.salt)

    @property
    def leaf(self) -> bytes:
        return leaf_data(self.commitment, self.roll_key)


@dataclass(frozen=True)
class RollProof:
    """Everything the contract needs to check that an entry is on the roll."""

    index: int
    size: int
    entry: bytes
    roll_key: str
    path: tuple[bytes, ...]


class Roll:
    """The registrar's roll of eligible residents, in a fixed order."""

    def __init__(self, entries: Sequence[RollEntry]) -> None:
        if not entries:
            raise ConfigurationError("entries", "the roll needs at least one resident")
        self._entries = tuple(entries)
        self._index: dict[str, int] = {}
        keys: dict[str, int] = {}
        for i, entry in enumerate(self._entries):
            if entry.resident in self._index:
                first = self._index[entry.resident]
                raise RollError(entry.resident, f"listed twice (rows {first} and {i})")
            if entry.roll_key in keys:
                # One key on two entries would let one request be recorded twice.
                first = keys[entry.roll_key]
                raise RollError(
                    entry.resident,
                    f"roll key {entry.roll_key} is also on row {first}",
                )
            self._index[entry.resident] = i
            keys[entry.roll_key] = i
        self._tree = MerkleTree()
        self._tree.extend(leaf_hash(entry.leaf) for entry in self._entries)

    @classmethod
    def build(cls, residents: Iterable[tuple[str, str]]) -> Roll:
        """A roll of ``(resident id, roll key)`` pairs, in this order, fresh salts."""
        return cls(
            [
                RollEntry(resident, secrets.token_bytes(_SALT_BYTES), roll_key)
                for resident, roll_key in residents
            ]
        )

    @property
    def size(self) -> int:
        return len(self._entries)

    @property
    def root(self) -> bytes:
        """The RFC 9162 root the consultation is created with."""
        return self._tree.root()

    @property
    def entries(self) -> tuple[RollEntry, ...]:
        return self._entries

    def public_leaves(self) -> list[tuple[bytes, str]]:
        """(entry commitment, roll key) in roll order: publishable, they name nobody."""
        return [(entry.commitment, entry.roll_key) for entry in self._entries]

    def save_public(self, path: Path) -> None:
        """Write the root and the public leaves, for anyone to check the roll."""
        write_json(
            path,
            {
                "format": _LEAVES_FORMAT,
                "root": self.root.hex(),
                "leaves": [
                    {"entry": entry.hex(), "roll_key": roll_key}
                    for entry, roll_key in self.public_leaves()
                ],
            },
            private=False,
        )

    def __contains__(self, resident: object) -> bool:
        return resident in self._index

    def entry(self, resident: str) -> RollEntry:
        """The roll entry of ``resident``."""
        try:
            return self._entries[self._index[resident]]
        except KeyError:
            raise RollError(resident, "not on the roll") from None

    def proof(self, resident: str) -> RollProof:
        """The inclusion proof of ``resident``'s entry."""
        entry = self.entry(resident)
        index = self._index[resident]
        return RollProof(
            index=index,
            size=self.size,
            entry=entry.commitment,
            roll_key=entry.roll_key,
            path=tuple(self._tree.inclusion_proof(index)),
        )

    def save(self, path: Path) -> None:
        """Write the roll (private: it names residents) as JSON, owner-only."""
        document = {
            "format": _FORMAT,
            "root": self.root.hex(),
            "residents": [
                {
                    "id": entry.resident,
                    "salt": entry.salt.hex(),
                    "roll_key": entry.roll_key,
                }
                for entry in self._entries
            ],
        }
        write_json(path, document, private=True)

    @classmethod
    def load(cls, path: Path) -> Roll:
        """Read a roll written by :meth:`save`, checking its recorded root."""
        document = read_json(path, kind=_FORMAT)
        try:
            roll = cls(
                [
                    RollEntry(row["id"], bytes.fromhex(row["salt"]), row["roll_key"])
                    for row in document["residents"]
                ]
            )
            recorded = bytes.fromhex(document["root"])
        except (ValueError, KeyError, TypeError) as e:
            raise VotingFileError(str(path), f"malformed roll: {e!r}") from e
        if roll.root != recorded:
            raise VotingFileError(
                str(path), "the residents do not hash to the recorded root"
            )
        return roll
