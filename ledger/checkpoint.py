"""Checkpoints (C2SP ``tlog-checkpoint``): a log's signed head as a signed note.

Beside the EIP-712 heads it anchors on chain (:mod:`ledger.tree_head`),
each actor publishes its log's heads in the format transparency-log
witnesses and monitors read. The note text is three lines::

    <origin>
    <tree size, decimal, no leading zero>
    <base64 of the RFC 9162 / RFC 6962 Merkle root>

followed by the log's Ed25519 note signature, under a key whose name is
the origin. fedgov's origins name the county and the log::

    <county>.fedgov/<EIP-55 address of the actor>/<log name>

e.g. ``lakeview.fedgov/0x5B38Da6a701c568545dCfcB03FcB875f56beddC4/audit``.
The county is a DNS label (lower-case letters, digits, ``-``); the log name
(``audit`` for every actor) is kept to ``[A-Za-z0-9._-]`` so the origin is a
valid key name: no space, no ``+``. A checkpoint is only ever made of a head
the actor also signed as EIP-712 (:meth:`ledger.store.LogStore.add_checkpoint`
refuses any other), so both commit to one history.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from eth_utils.address import is_address, to_checksum_address

from fedgov.errors import ConfigurationError
from ledger.errors import MalformedNoteError
from ledger.merkle import HASH_SIZE
from ledger.note import Note, NoteSigner

__all__ = [
    "ORIGIN_SUFFIX",
    "Checkpoint",
    "LogOrigin",
    "origin_for",
    "parse_origin",
    "sign_checkpoint",
]

ORIGIN_SUFFIX = ".fedgov"
_U64_MAX = 2**64 - 1
_COUNTY = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_LOG_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SIZE = re.compile(r"0|[1-9][0-9]*")
_ORIGIN = re.compile(
    rf"(?P<county>{_COUNTY.pattern})\.fedgov/(?P<actor>0x[0-9A-Fa-f]{{40}})/"
    rf"(?P<log_name>{_LOG_NAME.pattern})"
)


@dataclass(frozen=True)
class LogOrigin:
    """What a fedgov origin names: the county, the log's actor and its name."""

    county: str
    actor: str
    log_name: str

    def __str__(self) -> str:
        return f"{self.county}{ORIGIN_SUFFIX}/{self.actor}/{self.log_name}"


def origin_for(county: str, actor: str, log_name: str) -> str:
    """The origin of ``actor``'s log ``log_name`` in ``county``."""
    if not _COUNTY.fullmatch(county):
        raise ConfigurationError(
            "county",
            f"{county!r} must be a DNS label: 1-63 lower-case letters, digits or "
            "'-', not starting or ending with '-'",
        )
    if not is_address(actor):
        raise ConfigurationError("actor", f"must be an Ethereum address: {actor!r}")
    if not _LOG_NAME.fullmatch(log_name):
        raise ConfigurationError(
            "log_name",
            f"{log_name!r} cannot name a checkpointed log: 1-64 of [A-Za-z0-9._-]",
        )
    return str(LogOrigin(county, to_checksum_address(actor), log_name))


def parse_origin(origin: str) -> LogOrigin | None:
    """The county, actor and log an origin names; ``None`` if not fedgov's form."""
    match = _ORIGIN.fullmatch(origin)
    if match is None or to_checksum_address(match["actor"]) != match["actor"]:
        return None
    return LogOrigin(match["county"], match["actor"], match["log_name"])


@dataclass(frozen=True)
class Checkpoint:
    """A log's origin, size and root (plus opaque extension lines, if any)."""

    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise MalformedNoteError("a checkpoint's origin is one non-empty line")
        if not 0 <= self.tree_size <= _U64_MAX:
            raise MalformedNoteError(f"tree size {self.tree_size} does not fit uint64")
        if len(self.root_hash) != HASH_SIZE:
            raise MalformedNoteError(
                f"root hash is {len(self.root_hash)} bytes, not {HASH_SIZE}"
            )
        if any(not line or "\n" in line for line in self.extensions):
            raise MalformedNoteError("extension lines are non-empty single lines")

    def text(self) -> str:
        """The note text: origin, size, base64 root, extensions, each a line."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        lines = [self.origin, str(self.tree_size), root, *self.extensions]
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint's note text (no signatures)."""
        if not text.endswith("\n"):
            raise MalformedNoteError("a checkpoint's text ends with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedNoteError(
                f"a checkpoint has at least 3 lines (origin, size, root), got {len(lines)}"
            )
        origin, size, root, *extensions = lines
        if not _SIZE.fullmatch(size):
            raise MalformedNoteError(
                f"tree size {size[:40]!r} is not decimal without leading zeros"
            )
        try:
            root_hash = base64.b64decode(root.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error) as e:
            raise MalformedNoteError(f"root hash {root[:60]!r} is not base64") from e
        return cls(origin, int(size), root_hash, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> Note:
    """``checkpoint`` signed by the log's note key, whose name must be its origin."""
    if signer.name != checkpoint.origin:
        raise ConfigurationError(
            "signer",
            f"is the key {signer.name!r}; a log's key is named after its origin "
            f"{checkpoint.origin!r}",
        )
    text = checkpoint.text()
    return Note(text, (signer.sign(text),))
