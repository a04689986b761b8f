"""The audit log gRPC server: one process hosting one or more actors' logs.

Modelled on Trillian's log API (``ledger/proto/audit_log.proto``): batched
appends, the latest and all signed tree heads, inclusion proofs by index and
tree size, consistency proofs, record ranges. Each hosted log is a
:class:`LogStore`, keyed by its log id; the server signs a log's heads only
if it is given that actor's key.

Transport security: TLS with the server's certificate, and optionally mutual
TLS (``ServerTLS(client_ca=...)``) so that only clients holding a
certificate from that CA may connect at all, writers included. Plaintext is
refused unless ``insecure=True``, which warns loudly; it is for tests.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from fedgov.errors import ConfigurationError, FedgovError
from ledger._proto import audit_log_pb2 as pb
from ledger._proto import audit_log_pb2_grpc as pb_grpc
from ledger._wire import (
    consistency_to_wire,
    head_from_wire,
    head_to_wire,
    inclusion_to_wire,
)
from ledger.errors import (
    LogIntegrityError,
    LogRangeError,
    LogServiceError,
    LogStorageError,
    MalformedNoteError,
    RecordError,
)
from ledger.note import Note
from ledger.records import AuditRecord
from ledger.transport import ServerTLS, warn_insecure

if TYPE_CHECKING:
    from types import TracebackType

    from eth_account.signers.local import LocalAccount

    from ledger.store import LogStore
    from ledger.tree_head import SigningDomain

__all__ = ["MAX_MESSAGE_BYTES", "MAX_PAGE", "HostedLog", "LogServer"]

_log = logging.getLogger(__name__)

MAX_PAGE = 1000
"""Most records one GetRecords answer carries; clients page through more."""
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
"""Largest gRPC message either side accepts (a batch of appends)."""

# Most specific first: RecordError is also a ValueError, like ConfigurationError.
_STATUS: tuple[tuple[type[FedgovError], grpc.StatusCode], ...] = (
    (LogRangeError, grpc.StatusCode.OUT_OF_RANGE),
    (RecordError, grpc.StatusCode.INVALID_ARGUMENT),
    (ConfigurationError, grpc.StatusCode.INVALID_ARGUMENT),
    (LogIntegrityError, grpc.StatusCode.DATA_LOSS),
    (LogStorageError, grpc.StatusCode.UNAVAILABLE),
)


@dataclass(frozen=True)
class HostedLog:
    """A log the server hosts; with ``signer`` and ``domain`` it also signs heads."""

    store: LogStore
    signer: LocalAccount | None = None
    domain: SigningDomain | None = None

    def __post_init__(self) -> None:
        if (self.signer is None) != (self.domain is None):
            raise ConfigurationError(
                "signer", "give both signer and domain, or neither"
            )
        if self.signer is not None and self.signer.address != self.store.actor:
            raise ConfigurationError(
                "signer",
                f"is {self.signer.address}, the log's actor is {self.store.actor}",
            )


_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
_Method = Callable[[Any, _Request, Any], _Response]


def _rpc(method: _Method[_Request, _Response]) -> _Method[_Request, _Response]:
    """Turn the ledger's errors into gRPC status codes."""

    @functools.wraps(method)
    def wrapper(self: Any, request: _Request, context: Any) -> _Response:
        try:
            return method(self, request, context)
        except FedgovError as e:
            code = next(
                (code for kind, code in _STATUS if isinstance(e, kind)),
                grpc.StatusCode.INTERNAL,
            )
            if code in (grpc.StatusCode.DATA_LOSS, grpc.StatusCode.UNAVAILABLE):
                _log.error("audit log %s failed: %s", method.__name__, e)
            context.abort(code, str(e))
            raise  # abort raises; this keeps type checkers informed

    return wrapper


class _Servicer(pb_grpc.AuditLogServicer):
    def __init__(
        self,
        logs: dict[bytes, HostedLog],
        discover: Callable[[set[bytes]], Iterable[HostedLog]] | None,
    ) -> None:
        self._logs = logs
        self._discover = discover
        self._lock = threading.Lock()

    def _hosted(self, log_id: bytes, context: Any) -> HostedLog:
        hosted = self._logs.get(log_id)
        if hosted is None and self._discover is not None:
            with self._lock:
                for found in self._discover(set(self._logs)):
                    self._logs.setdefault(found.store.log_id, found)
                hosted = self._logs.get(log_id)
        if hosted is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no log 0x{log_id.hex()} here")
            raise AssertionError("unreachable: abort raises")
        return hosted

    @_rpc
    def AppendRecords(  # noqa: N802 - the generated servicer's names
        self, request: pb.AppendRecordsRequest, context: Any
    ) -> pb.AppendRecordsResponse:
        store = self._hosted(request.log_id, context).store
        records = []
        for position, data in enumerate(request.records):
            try:
                records.append(AuditRecord.decode(data))
            except RecordError as e:
                where = f"records[{position}]" + (f".{e.field}" if e.field else "")
                raise RecordError(where, e.rule) from e
        first = store.append_many(records)
        return pb.AppendRecordsResponse(
            first_index=first,
            tree_size=first + len(records),
            root_hash=store.root(first + len(records)),
        )

    @_rpc
    def SignTreeHead(  # noqa: N802
        self, request: pb.SignTreeHeadRequest, context: Any
    ) -> pb.SignedTreeHead:
        hosted = self._hosted(request.log_id, context)
        if hosted.signer is None or hosted.domain is None:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "this server holds no signing key for the log",
            )
            raise AssertionError("unreachable: abort raises")
        signed = hosted.store.sign_head(hosted.signer, hosted.domain)
        return head_to_wire((signed, hosted.domain))

    @_rpc
    def GetLogInfo(  # noqa: N802
        self, request: pb.GetLogInfoRequest, context: Any
    ) -> pb.LogInfo:
        store = self._hosted(request.log_id, context).store
        size = store.size
        return pb.LogInfo(
            log_id=store.log_id,
            actor=store.actor,
            log_name=store.log_name,
            tree_size=size,
            root_hash=store.root(size),
        )

    @_rpc
    def GetLatestSignedTreeHead(  # noqa: N802
        self, request: pb.GetLatestSignedTreeHeadRequest, context: Any
    ) -> pb.GetLatestSignedTreeHeadResponse:
        entries = self._hosted(request.log_id, context).store.signed_head_entries()
        if not entries:
            return pb.GetLatestSignedTreeHeadResponse()
        return pb.GetLatestSignedTreeHeadResponse(signed_head=head_to_wire(entries[-1]))

    @_rpc
    def GetSignedTreeHeads(  # noqa: N802
        self, request: pb.GetSignedTreeHeadsRequest, context: Any
    ) -> pb.GetSignedTreeHeadsResponse:
        entries = self._hosted(request.log_id, context).store.signed_head_entries()
        return pb.GetSignedTreeHeadsResponse(
            signed_heads=[head_to_wire(entry) for entry in entries]
        )

    @_rpc
    def GetInclusionProof(  # noqa: N802
        self, request: pb.GetInclusionProofRequest, context: Any
    ) -> pb.InclusionProof:
        store = self._hosted(request.log_id, context).store
        size = request.tree_size if request.HasField("tree_size") else None
        return inclusion_to_wire(store.inclusion_proof(request.leaf_index, size))

    @_rpc
    def GetConsistencyProof(  # noqa: N802
        self, request: pb.GetConsistencyProofRequest, context: Any
    ) -> pb.ConsistencyProof:
        store = self._hosted(request.log_id, context).store
        size2 = request.size2 if request.HasField("size2") else None
        return consistency_to_wire(store.consistency_proof(request.size1, size2))

    @_rpc
    def GetRecords(  # noqa: N802
        self, request: pb.GetRecordsRequest, context: Any
    ) -> pb.GetRecordsResponse:
        store = self._hosted(request.log_id, context).store
        size = store.size
        if request.count == 0:
            raise ConfigurationError("count", "must be positive")
        if request.start >= size:
            raise LogRangeError("start", request.start, size)
        end = min(request.start + min(request.count, MAX_PAGE), size)
        return pb.GetRecordsResponse(
            start=request.start, records=store.encoded_records(request.start, end)
        )

    @_rpc
    def AddSignedTreeHeads(  # noqa: N802
        self, request: pb.AddSignedTreeHeadsRequest, context: Any
    ) -> pb.AddSignedTreeHeadsResponse:
        store = self._hosted(request.log_id, context).store
        stored = 0
        for position, message in enumerate(request.signed_heads):
            try:
                signed, domain = head_from_wire(message)
            except ConfigurationError as e:
                raise ConfigurationError(f"signed_heads[{position}]", e.rule) from e
            stored += store.add_signed_head(signed, domain)
        return pb.AddSignedTreeHeadsResponse(stored=stored)

    @_rpc
    def GetCheckpoints(  # noqa: N802
        self, request: pb.GetCheckpointsRequest, context: Any
    ) -> pb.GetCheckpointsResponse:
        store = self._hosted(request.log_id, context).store
        return pb.GetCheckpointsResponse(notes=store.checkpoints())

    @_rpc
    def AddCheckpoints(  # noqa: N802
        self, request: pb.AddCheckpointsRequest, context: Any
    ) -> pb.AddCheckpointsResponse:
        store = self._hosted(request.log_id, context).store
        known = set(store.checkpoints())
        stored = 0
        for position, text in enumerate(request.notes):
            if text in known:
                continue
            try:
                store.add_checkpoint(Note.parse(text))
            except MalformedNoteError as e:
                raise ConfigurationError(f"notes[{position}]", str(e)) from e
            known.add(text)
            stored += 1
        return pb.AddCheckpointsResponse(stored=stored)


class LogServer:
    """A gRPC server for ``logs`` on ``address`` (``host:port``; port 0 picks one).

    Pass ``tls``, or ``insecure=True`` to serve plaintext (it warns). The
    port is bound on construction; :meth:`start` serves, :meth:`stop` ends.
    ``discover`` is asked, with the ids hosted so far, for logs that appeared
    since (a department enrolled while the server runs) whenever a call
    names an unknown log.
    """

    def __init__(
        self,
        logs: Iterable[HostedLog],
        *,
        discover: Callable[[set[bytes]], Iterable[HostedLog]] | None = None,
        address: str = "127.0.0.1:0",
        tls: ServerTLS | None = None,
        insecure: bool = False,
        max_workers: int = 8,
    ) -> None:
        if (tls is None) == (not insecure):
            raise ConfigurationError(
                "tls", "give TLS settings, or insecure=True (tests only), not both"
            )
        hosted: dict[bytes, HostedLog] = {}
        for log in logs:
            if log.store.log_id in hosted:
                raise ConfigurationError(
                    "logs", f"log 0x{log.store.log_id.hex()} is listed twice"
                )
            hosted[log.store.log_id] = log
        if max_workers < 1:
            raise ConfigurationError("max_workers", f"must be >= 1, got {max_workers}")
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers),
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        # The generated module is untyped (grpcio-tools writes no annotations).
        pb_grpc.add_AuditLogServicer_to_server(  # type: ignore[no-untyped-call]
            _Servicer(hosted, discover), self._server
        )
        try:
            if tls is None:
                warn_insecure("server", address)
                port = self._server.add_insecure_port(address)
            else:
                port = self._server.add_secure_port(address, tls.credentials())
        except RuntimeError as e:
            raise LogServiceError(
                "bind", "UNAVAILABLE", f"cannot bind {address}: {e}"
            ) from e
        if not port:
            raise LogServiceError("bind", "UNAVAILABLE", f"cannot bind {address}")
        self._port = int(port)
        self._host = address.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        """The bound port."""
        return self._port

    @property
    def target(self) -> str:
        """``host:port`` for a client."""
        return f"{self._host}:{self._port}"

    def start(self) -> None:
        """Serve in background threads."""
        self._server.start()
        _log.info("audit log service listening on %s", self.target)

    def stop(self, grace_s: float | None = 1.0) -> None:
        """Stop serving; in-flight calls get ``grace_s`` seconds to finish."""
        self._server.stop(grace_s).wait()

    def __enter__(self) -> LogServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
