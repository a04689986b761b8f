"""Exported audit logs: one file an auditor verifies offline.

The file is JSON Lines, UTF-8, one JSON object per line, in this order:

1. a header::

       {"format": "fedgov-audit-log", "version": 1, "actor": "0x...",
        "log_name": "audit", "log_id": "0x<64 hex>", "size": N}

2. ``N`` record lines, indices ``0 .. N-1`` in order::

       {"index": i, "record": {...the record's canonical JSON object...}}

3. one line per signed tree head, oldest first::

       {"signed_head": {"tree_size": n, "root_hash": "0x<64 hex>",
        "timestamp_ms": t, "signer": "0x...", "signature": "0x<130 hex>",
        "chain_id": c, "verifying_contract": "0x..."}}

4. (version 2) one line per stored checkpoint, oldest first: the C2SP
   signed note as transmitted, the log's signature and any witnesses'
   cosignatures included (:mod:`ledger.checkpoint`)::

       {"checkpoint": "<origin>\n<size>\n<root>\n\n— <origin> ...\n"}

Readers accept versions 1 (no checkpoint lines) and 2.

A record's leaf is ``SHA-256(0x00 || canonical bytes)``, the canonical bytes
being the RFC 8785 serialisation of its object (:mod:`ledger.records`): the
writer embeds them verbatim, and a reader re-canonicalises whatever it
parses, so reformatting the file does not change a hash, while changing a
value does. :func:`verify_export` rebuilds the tree and checks every signed
head: its log id, its EIP-712 signature by the log's actor, and its root.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedgov.files import atomic_writer
from ledger.errors import LogIntegrityError, RecordError
from ledger.integrity import HeadEntry, check_signed_heads
from ledger.merkle import MerkleTree, leaf_hash
from ledger.records import AuditRecord
from ledger.tree_head import SignedTreeHead, SigningDomain, TreeHead, log_id_for

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "ExportedLog",
    "LogVerification",
    "read_export",
    "verify_export",
    "verify_exported_log",
    "write_export",
]

EXPORT_FORMAT = "fedgov-audit-log"
EXPORT_VERSION = 2
_READABLE_VERSIONS = (1, 2)


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def write_export(
    path: str | Path,
    *,
    actor: str,
    log_name: str,
    records: Sequence[bytes],
    heads: Sequence[HeadEntry],
    checkpoints: Sequence[str] = (),
) -> None:
    """Write an export file; ``records`` are canonical record bytes.

    Written to a temporary file then renamed, so a reader never sees half.
    """
    target = Path(path)
    header = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "actor": actor,
        "log_name": log_name,
        "log_id": _hex(log_id_for(actor, log_name)),
        "size": len(records),
    }
    with atomic_writer(target) as out:
        out.write(json.dumps(header).encode() + b"\n")
        for index, data in enumerate(records):
            out.write(b'{"index":%d,"record":%s}\n' % (index, data))
        for signed, domain in heads:
            head = signed.head
            entry = {
                "tree_size": head.tree_size,
                "root_hash": _hex(head.root_hash),
                "timestamp_ms": head.timestamp,
                "signer": signed.signer,
                "signature": _hex(signed.signature),
                "chain_id": domain.chain_id,
                "verifying_contract": domain.verifying_contract,
            }
            out.write(json.dumps({"signed_head": entry}).encode() + b"\n")
        for note in checkpoints:
            out.write(json.dumps({"checkpoint": note}).encode() + b"\n")


def _own_record(record: AuditRecord, index: int, actor: str) -> bytes:
    if record.actor != actor:
        raise LogIntegrityError(
            index, f"written by {record.actor}, not the log's actor {actor}"
        )
    return record.encode()


@dataclass(frozen=True)
class ExportedLog:
    """A whole log as read back: records (each valid and written by the
    log's actor) and signed heads, before any Merkle check."""

    actor: str
    log_name: str
    log_id: bytes
    records: tuple[bytes, ...]
    """Canonical record bytes, index order."""
    heads: tuple[HeadEntry, ...]
    checkpoints: tuple[str, ...] = ()
    """Checkpoint notes as stored (not verified here: see ledger.witness_policy)."""

    @classmethod
    def from_records(
        cls,
        *,
        actor: str,
        log_name: str,
        records: Iterable[AuditRecord],
        heads: Iterable[HeadEntry],
    ) -> ExportedLog:
        """Collect decoded records; raise :class:`LogIntegrityError` for one
        written by another actor."""
        return cls(
            actor=actor,
            log_name=log_name,
            log_id=log_id_for(actor, log_name),
            records=tuple(
                _own_record(record, index, actor)
                for index, record in enumerate(records)
            ),
            heads=tuple(heads),
        )


@dataclass(frozen=True)
class LogVerification:
    """What a verified log proves: ``size`` records under ``root``."""

    actor: str
    log_name: str
    log_id: bytes
    size: int
    root: bytes
    heads: tuple[SignedTreeHead, ...]
    tree: MerkleTree = field(compare=False, repr=False)
    """The rebuilt tree: roots and proofs at any size, e.g. an anchored one."""

    @property
    def latest_head(self) -> SignedTreeHead | None:
        """The most recent signed head, if any."""
        return self.heads[-1] if self.heads else None


def _lines(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                try:
                    yield number, json.loads(line)
                except (UnicodeDecodeError, json.JSONDecodeError) as e:
                    raise LogIntegrityError(
                        None, f"{path}:{number}: not JSON: {e}"
                    ) from e
    except OSError as e:
        raise LogIntegrityError(None, f"cannot read {path}: {e}") from e


def _field(entry: Any, name: str, kind: type, where: str) -> Any:
    value = entry.get(name) if isinstance(entry, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise LogIntegrityError(None, f"{where}: {name!r} must be a {kind.__name__}")
    return value


def _hex_field(entry: Any, name: str, size: int, where: str) -> bytes:
    text = _field(entry, name, str, where)
    try:
        if not text.startswith("0x"):
            raise ValueError("no 0x prefix")
        data = bytes.fromhex(text[2:])
    except ValueError as e:
        raise LogIntegrityError(None, f"{where}: {name!r} is not hex: {e}") from e
    if len(data) != size:
        raise LogIntegrityError(None, f"{where}: {name!r} must be {size} bytes")
    return data


def read_export(path: str | Path) -> ExportedLog:
    """Parse an export file; raise :class:`LogIntegrityError` if it is malformed.

    Each record must satisfy the record schema and be written by the log's
    actor; the Merkle checks are :func:`verify_exported_log`'s.
    """
    source = Path(path)
    lines = _lines(source)
    number, header = next(lines, (1, None))
    where = f"{source}:{number} (header)"
    if _field(header, "format", str, where) != EXPORT_FORMAT:
        raise LogIntegrityError(None, f"{where}: not a {EXPORT_FORMAT} file")
    version = _field(header, "version", int, where)
    if version not in _READABLE_VERSIONS:
        raise LogIntegrityError(
            None, f"{where}: version {version} is not one of {_READABLE_VERSIONS}"
        )
    actor = _field(header, "actor", str, where)
    log_name = _field(header, "log_name", str, where)
    log_id = _hex_field(header, "log_id", 32, where)
    size = _field(header, "size", int, where)
    try:
        derived = log_id_for(actor, log_name)
    except ValueError as e:
        raise LogIntegrityError(None, f"{where}: bad actor {actor!r}: {e}") from e
    if derived != log_id:
        raise LogIntegrityError(None, f"{where}: log_id is not log_id_for(actor, name)")
    records: list[bytes] = []
    heads: list[HeadEntry] = []
    checkpoints: list[str] = []
    for number, entry in lines:
        where = f"{source}:{number}"
        if isinstance(entry, dict) and "checkpoint" in entry and version > 1:
            checkpoints.append(_field(entry, "checkpoint", str, where))
            continue
        if checkpoints:
            raise LogIntegrityError(None, f"{where}: line after the checkpoints")
        if isinstance(entry, dict) and "signed_head" in entry:
            heads.append(_parse_head(entry["signed_head"], log_id, where))
            continue
        if heads:
            raise LogIntegrityError(len(records), f"{where}: record after signed heads")
        index = _field(entry, "index", int, where)
        if index != len(records):
            raise LogIntegrityError(
                len(records), f"{where}: record {len(records)} expected, found {index}"
            )
        try:
            record = AuditRecord.from_json_object(entry.get("record"))
        except RecordError as e:
            raise LogIntegrityError(index, f"{where}: {e}") from e
        records.append(_own_record(record, index, actor))
    if len(records) != size:
        raise LogIntegrityError(
            min(len(records), size),
            f"{source}: the header announces {size} records, "
            f"the file holds {len(records)}",
        )
    return ExportedLog(
        actor, log_name, log_id, tuple(records), tuple(heads), tuple(checkpoints)
    )


def _parse_head(entry: Any, log_id: bytes, where: str) -> HeadEntry:
    try:
        head = TreeHead(
            log_id=log_id,
            tree_size=_field(entry, "tree_size", int, where),
            root_hash=_hex_field(entry, "root_hash", 32, where),
            timestamp=_field(entry, "timestamp_ms", int, where),
        )
        signed = SignedTreeHead(
            head=head,
            signer=_field(entry, "signer", str, where),
            signature=_hex_field(entry, "signature", 65, where),
        )
        domain = SigningDomain(
            chain_id=_field(entry, "chain_id", int, where),
            verifying_contract=_field(entry, "verifying_contract", str, where),
        )
    except ValueError as e:
        raise LogIntegrityError(None, f"{where}: bad signed head: {e}") from e
    return signed, domain


def verify_exported_log(
    log: ExportedLog, *, domain: SigningDomain | None = None
) -> LogVerification:
    """Rebuild the tree of ``log`` and check every signed head against it.

    Pass ``domain`` (the chain and registry the auditor trusts) to also
    require every head to be signed for it.
    """
    tree = MerkleTree(leaf_hash(data) for data in log.records)
    check_signed_heads(
        tree, log.heads, log_id=log.log_id, actor=log.actor, domain=domain
    )
    return LogVerification(
        actor=log.actor,
        log_name=log.log_name,
        log_id=log.log_id,
        size=tree.size,
        root=tree.root(),
        heads=tuple(signed for signed, _ in log.heads),
        tree=tree,
    )


def verify_export(
    path: str | Path, *, domain: SigningDomain | None = None
) -> LogVerification:
    """Read and verify an export file: the auditor's one call."""
    return verify_exported_log(read_export(path), domain=domain)
