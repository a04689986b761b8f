"""A typed client of the audit log gRPC service.

Every method takes the 32-byte log id (``log_id_for(actor, log_name)``) and
maps a failed call (``grpc.RpcError``) to :class:`LogServiceError`, whose
``code`` is the gRPC status name: ``NOT_FOUND`` for an unknown log,
``INVALID_ARGUMENT`` for a refused record, ``OUT_OF_RANGE`` for an index
past the end, ``UNAVAILABLE`` when the server cannot be reached in time...

The client trusts nothing it reads for more than transport: records are
decoded strictly, and proofs are for the caller to verify against a root it
trusts (a signed head it checked, an on-chain anchor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from fedgov.errors import ConfigurationError
from ledger._proto import audit_log_pb2 as pb
from ledger._proto import audit_log_pb2_grpc as pb_grpc
from ledger._wire import (
    consistency_from_wire,
    head_from_wire,
    head_to_wire,
    inclusion_from_wire,
)
from ledger.errors import LogServiceError
from ledger.export import ExportedLog
from ledger.records import AuditRecord
from ledger.service import MAX_MESSAGE_BYTES
from ledger.transport import ClientTLS, warn_insecure

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType

    from ledger.integrity import HeadEntry
    from ledger.merkle import ConsistencyProof, InclusionProof
    from ledger.tree_head import SignedTreeHead

__all__ = ["LogClient", "LogInfo"]

# Room for protobuf framing around the records of one AppendRecords call.
_BATCH_BYTES = MAX_MESSAGE_BYTES // 2


@dataclass(frozen=True)
class LogInfo:
    """Who a log belongs to and how large it is now."""

    log_id: bytes
    actor: str
    log_name: str
    size: int
    root: bytes


class LogClient:
    """A connection to an audit log server at ``target`` (``host:port``).

    Pass ``tls``, or ``insecure=True`` for plaintext (it warns). Each call
    gives up after ``timeout_s`` seconds. Thread-safe.
    """

    def __init__(
        self,
        target: str,
        *,
        tls: ClientTLS | None = None,
        insecure: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        if (tls is None) == (not insecure):
            raise ConfigurationError(
                "tls", "give TLS settings, or insecure=True (tests only), not both"
            )
        if timeout_s <= 0:
            raise ConfigurationError("timeout_s", f"must be positive, got {timeout_s}")
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        if tls is None:
            warn_insecure("client", target)
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            self._channel = grpc.secure_channel(
                target, tls.credentials(), options=options + tls.channel_options()
            )
        # The generated module is untyped (grpcio-tools writes no annotations).
        self._stub = pb_grpc.AuditLogStub(self._channel)  # type: ignore[no-untyped-call]
        self._timeout_s = timeout_s

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=self._timeout_s)
        except grpc.RpcError as e:
            raise LogServiceError(method, e.code().name, e.details() or "") from e

    # -- writing --

    def append(self, log_id: bytes, records: Iterable[AuditRecord]) -> int:
        """Durably append records; return the index of the first.

        Records go in batches of a few MiB, one server transaction each: if a
        later batch fails, the earlier ones stay appended.
        """
        return self.append_encoded(log_id, (record.encode() for record in records))

    def append_encoded(self, log_id: bytes, records: Iterable[bytes]) -> int:
        """Durably append records given as their canonical bytes (a replica's
        push); return the index of the first. Batched as :meth:`append`."""
        first: int | None = None
        batch: list[bytes] = []
        batch_bytes = 0
        for data in records:
            if batch and batch_bytes + len(data) > _BATCH_BYTES:
                index = self._append_batch(log_id, batch)
                first = index if first is None else first
                batch, batch_bytes = [], 0
            batch.append(data)
            batch_bytes += len(data)
        index = self._append_batch(log_id, batch)
        return index if first is None else first

    def _append_batch(self, log_id: bytes, batch: list[bytes]) -> int:
        response = self._call(
            "AppendRecords", pb.AppendRecordsRequest(log_id=log_id, records=batch)
        )
        return int(response.first_index)

    def sign_tree_head(self, log_id: bytes) -> SignedTreeHead:
        """Ask the server to sign the log's current head (it must hold the key)."""
        signed, _ = head_from_wire(
            self._call("SignTreeHead", pb.SignTreeHeadRequest(log_id=log_id))
        )
        return signed

    def add_signed_heads(self, log_id: bytes, entries: Iterable[HeadEntry]) -> int:
        """Store heads the actor signed elsewhere in the server's replica; how many
        were new."""
        response = self._call(
            "AddSignedTreeHeads",
            pb.AddSignedTreeHeadsRequest(
                log_id=log_id, signed_heads=[head_to_wire(e) for e in entries]
            ),
        )
        return int(response.stored)

    def add_checkpoints(self, log_id: bytes, notes: Iterable[str]) -> int:
        """Store checkpoint notes in the server's replica; how many were new."""
        response = self._call(
            "AddCheckpoints", pb.AddCheckpointsRequest(log_id=log_id, notes=list(notes))
        )
        return int(response.stored)

    # -- reading --

    def checkpoints(self, log_id: bytes) -> list[str]:
        """The log's checkpoint notes, oldest first, as transmitted."""
        response = self._call("GetCheckpoints", pb.GetCheckpointsRequest(log_id=log_id))
        return list(response.notes)

    def log_info(self, log_id: bytes) -> LogInfo:
        """The log's actor, name, current size and root."""
        info = self._call("GetLogInfo", pb.GetLogInfoRequest(log_id=log_id))
        return LogInfo(
            log_id=info.log_id,
            actor=info.actor,
            log_name=info.log_name,
            size=info.tree_size,
            root=info.root_hash,
        )

    def latest_tree_head(self, log_id: bytes) -> SignedTreeHead | None:
        """The log's most recent signed head, if any."""
        response = self._call(
            "GetLatestSignedTreeHead", pb.GetLatestSignedTreeHeadRequest(log_id=log_id)
        )
        if not response.HasField("signed_head"):
            return None
        signed, _ = head_from_wire(response.signed_head)
        return signed

    def signed_head_entries(self, log_id: bytes) -> list[HeadEntry]:
        """Every signed head, oldest first, with the domain it was signed for."""
        response = self._call(
            "GetSignedTreeHeads", pb.GetSignedTreeHeadsRequest(log_id=log_id)
        )
        return [head_from_wire(message) for message in response.signed_heads]

    def signed_heads(self, log_id: bytes) -> list[SignedTreeHead]:
        """Every signed head, oldest first."""
        return [signed for signed, _ in self.signed_head_entries(log_id)]

    def inclusion_proof(
        self, log_id: bytes, index: int, size: int | None = None
    ) -> InclusionProof:
        """Proof that record ``index`` is in the log of ``size`` (default: now)."""
        request = pb.GetInclusionProofRequest(log_id=log_id, leaf_index=index)
        if size is not None:
            request.tree_size = size
        return inclusion_from_wire(self._call("GetInclusionProof", request))

    def consistency_proof(
        self, log_id: bytes, size1: int, size2: int | None = None
    ) -> ConsistencyProof:
        """Proof that the log at ``size1`` is a prefix of it at ``size2``."""
        request = pb.GetConsistencyProofRequest(log_id=log_id, size1=size1)
        if size2 is not None:
            request.size2 = size2
        return consistency_from_wire(self._call("GetConsistencyProof", request))

    def encoded_records(
        self, log_id: bytes, start: int, end: int | None = None
    ) -> list[bytes]:
        """Canonical bytes of records ``[start, end)`` (default: to the end now)."""
        end = self.log_info(log_id).size if end is None else end
        records: list[bytes] = []
        while start + len(records) < end:
            page = self._call(
                "GetRecords",
                pb.GetRecordsRequest(
                    log_id=log_id,
                    start=start + len(records),
                    count=end - start - len(records),
                ),
            )
            if not page.records:
                raise LogServiceError(
                    "GetRecords",
                    "OUT_OF_RANGE",
                    f"no records at {start + len(records)}",
                )
            records.extend(page.records)
        return records

    def records(
        self, log_id: bytes, start: int, end: int | None = None
    ) -> list[AuditRecord]:
        """Records ``[start, end)`` (default: to the end now), strictly decoded."""
        return [
            AuditRecord.decode(data)
            for data in self.encoded_records(log_id, start, end)
        ]

    def fetch_log(self, log_id: bytes) -> ExportedLog:
        """Everything the log holds, as an export file would: for
        :func:`ledger.export.verify_exported_log`.

        Heads and checkpoints are read first, so each covers records that are
        fetched.
        """
        heads = self.signed_head_entries(log_id)
        checkpoints = self.checkpoints(log_id)
        info = self.log_info(log_id)
        return ExportedLog(
            actor=info.actor,
            log_name=info.log_name,
            log_id=info.log_id,
            records=tuple(self.encoded_records(log_id, 0, info.size)),
            heads=tuple(heads),
            checkpoints=tuple(checkpoints),
        )

    # -- lifetime --

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> LogClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
