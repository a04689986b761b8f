"""The eligibility roll: who may obtain a credential, committed to on chain.

The registrar keeps the roll (residents' identifiers, private); the chain
holds only its RFC 9162 Merkle root and size. Each leaf is an **entry
commitment** ``SHA-256("fedgov-roll-entry-v1" || salt || resident id)`` with a
fresh 32-byte salt per resident, so the public list of leaves reveals how many
residents are eligible and nothing about who they are. A resident who is told
their salt can recompute their entry and watch the chain for the one
credential recorded against it.

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
]

MAX_RESIDENT_ID_BYTES = 256
_ENTRY_TAG = b"fedgov-roll-entry-v1"
_SALT_BYTES = 32
_FORMAT = "fedgov-roll-v1"


def entry_commitment(resident: str, salt: bytes) -> bytes:
    """The 32-byte roll leaf data of ``resident`` under ``salt``."""
    return hashlib.sha256(_ENTRY_TAG + salt + resident.encode("utf-8")).digest()


@dataclass(frozen=True)
class RollEntry:
    """One eligible resident: their identifier and the salt hiding it."""

    resident: str
    salt: bytes

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

    @property
    def commitment(self) -> bytes:
        return entry_commitment(self.resident, self.salt)


@dataclass(frozen=True)
class RollProof:
    """Everything the contract needs to check that an entry is on the roll."""

    index: int
    size: int
    entry: bytes
    path: tuple[bytes, ...]


class Roll:
    """The registrar's roll of eligible residents, in a fixed order."""

    def __init__(self, entries: Sequence[RollEntry]) -> None:
        if not entries:
            raise ConfigurationError("entries", "the roll needs at least one resident")
        self._entries = tuple(entries)
        self._index: dict[str, int] = {}
        for i, entry in enumerate(self._entries):
            if entry.resident in self._index:
                first = self._index[entry.resident]
                raise RollError(entry.resident, f"listed twice (rows {first} and {i})")
            self._index[entry.resident] = i
        self._tree = MerkleTree()
        self._tree.extend(leaf_hash(entry.commitment) for entry in self._entries)

    @classmethod
    def build(cls, residents: Iterable[str]) -> Roll:
        """A roll of ``residents`` (in this order), each with a fresh salt."""
        return cls([RollEntry(r, secrets.token_bytes(_SALT_BYTES)) for r in residents])

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

    def public_leaves(self) -> list[bytes]:
        """The entry commitments in roll order: publishable, they name nobody."""
        return [entry.commitment for entry in self._entries]

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
            path=tuple(self._tree.inclusion_proof(index)),
        )

    def save(self, path: Path) -> None:
        """Write the roll (private: it names residents) as JSON, owner-only."""
        document = {
            "format": _FORMAT,
            "root": self.root.hex(),
            "residents": [
                {"id": entry.resident, "salt": entry.salt.hex()}
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
                    RollEntry(row["id"], bytes.fromhex(row["salt"]))
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
