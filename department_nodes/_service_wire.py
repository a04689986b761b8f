"""The department service's wire: one Flower message and its context, over a Unix socket.

A frame is ``MAGIC``, a kind byte, a part count and the parts, each prefixed
by its length (big-endian). A request holds Flower's own protobufs of the
message and its :class:`~flwr.app.Context`; a reply holds the reply message
and the context's state after the handler ran (``REPLY``), or the error the
department's ClientApp raised (``FAILED``), which the relay raises again so
that Flower reports it as it reports any ClientApp exception.

This module is imported by the thin ClientApp a ``flwr-clientapp`` process
runs for every message, so it imports nothing heavy (of fedgov, only
:mod:`fedgov.local_socket`, whose errors this wire's derive from).
"""

from __future__ import annotations

import socket
import struct
from enum import IntEnum
from typing import TYPE_CHECKING, TypeVar

from flwr.app import Context, Message, RecordDict
from flwr.common.serde import (
    context_from_proto,
    context_to_proto,
    message_from_proto,
    message_to_proto,
    recorddict_from_proto,
    recorddict_to_proto,
)
from flwr.proto.message_pb2 import Context as ProtoContext
from flwr.proto.message_pb2 import Message as ProtoMessage
from flwr.proto.recorddict_pb2 import RecordDict as ProtoRecordDict
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as Protobuf

from fedgov.local_socket import LocalSocketError, PeerClosedError, read_exactly

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "MAX_FRAME_BYTES",
    "FrameKind",
    "ServiceClosedError",
    "ServiceWireError",
    "decode_reply",
    "decode_request",
    "encode_failure",
    "encode_reply",
    "encode_request",
    "receive_frame",
    "send_frame",
]

MAGIC = b"FGS1"
MAX_FRAME_BYTES = 4 << 30
"""The largest frame read (a model's arrays travel in it)."""

_HEADER = struct.Struct(">4sBI")
_LENGTH = struct.Struct(">Q")


class ServiceWireError(LocalSocketError):
    """A frame that is not the department service's.

    A connection cut short within a frame raises
    :class:`~fedgov.local_socket.PeerClosedError`; catch
    :class:`~fedgov.local_socket.LocalSocketError` for both.
    """


class ServiceClosedError(ServiceWireError):
    """The peer closed the connection before a frame began (a readiness probe)."""


class FrameKind(IntEnum):
    REQUEST = 1
    REPLY = 2
    FAILED = 3


def send_frame(sock: socket.socket, kind: FrameKind, parts: Sequence[bytes]) -> None:
    """Write one frame of ``parts``, in one write.

    A peer may close as soon as it has read the whole frame. Written piece by
    piece, a last empty part (a reply with no state) was a write of nothing
    after the peer had everything, which failed with a broken pipe although
    the frame had arrived.
    """
    pieces = [_HEADER.pack(MAGIC, int(kind), len(parts))]
    for part in parts:
        pieces += (_LENGTH.pack(len(part)), part)
    sock.sendall(b"".join(pieces))


def receive_frame(
    sock: socket.socket, *, max_bytes: int = MAX_FRAME_BYTES
) -> tuple[FrameKind, list[bytes]]:
    """Read one frame; refuse one that is not ours or larger than ``max_bytes``.

    A peer that closes before the frame's first byte raises
    :class:`ServiceClosedError`; one that closes within it,
    :class:`~fedgov.local_socket.PeerClosedError`.
    """
    try:
        header = read_exactly(sock, _HEADER.size, what="a frame's header")
    except PeerClosedError as e:
        if e.received:
            raise
        raise ServiceClosedError("connection closed before a frame") from e
    magic, kind, count = _HEADER.unpack(header)
    if magic != MAGIC:
        raise ServiceWireError(f"not a department service frame (starts {magic!r})")
    try:
        frame_kind = FrameKind(kind)
    except ValueError as e:
        raise ServiceWireError(f"unknown frame kind {kind}") from e
    if count > 3:
        raise ServiceWireError(f"a frame holds at most 3 parts, this one {count}")
    parts: list[bytes] = []
    total = 0
    for index in range(count):
        what = f"part {index + 1} of {count} of a frame"
        length = read_exactly(sock, _LENGTH.size, what=f"the length of {what}")
        (size,) = _LENGTH.unpack(length)
        total += size
        if total > max_bytes:
            raise ServiceWireError(
                f"frame larger than {max_bytes} bytes: refused before reading it"
            )
        parts.append(read_exactly(sock, size, what=what))
    return frame_kind, parts


_Proto = TypeVar("_Proto", bound=Protobuf)


def _parsed(proto_type: type[_Proto], data: bytes, what: str) -> _Proto:
    proto: _Proto = proto_type()
    try:
        proto.ParseFromString(data)
    except DecodeError as e:
        raise ServiceWireError(f"{what}: not a Flower {proto_type.__name__}") from e
    return proto


def encode_request(message: Message, context: Context) -> list[bytes]:
    return [
        message_to_proto(message).SerializeToString(),
        context_to_proto(context).SerializeToString(),
    ]


def decode_request(parts: Sequence[bytes]) -> tuple[Message, Context]:
    if len(parts) != 2:
        raise ServiceWireError(f"a request holds 2 parts, this one {len(parts)}")
    message = message_from_proto(_parsed(ProtoMessage, parts[0], "request message"))
    context = context_from_proto(_parsed(ProtoContext, parts[1], "request context"))
    return message, context


def encode_reply(reply: Message, state: RecordDict) -> list[bytes]:
    return [
        message_to_proto(reply).SerializeToString(),
        recorddict_to_proto(state).SerializeToString(),
    ]


def encode_failure(reason: str) -> list[bytes]:
    return [reason.encode("utf-8", "replace")]


def decode_reply(
    kind: FrameKind, parts: Sequence[bytes]
) -> tuple[Message, RecordDict] | str:
    """The reply and the context's new state, or the failure's text."""
    if kind is FrameKind.FAILED and len(parts) == 1:
        return parts[0].decode("utf-8", "replace")
    if kind is not FrameKind.REPLY or len(parts) != 2:
        raise ServiceWireError(f"unexpected {kind.name} frame of {len(parts)} parts")
    reply = message_from_proto(_parsed(ProtoMessage, parts[0], "reply message"))
    state = recorddict_from_proto(_parsed(ProtoRecordDict, parts[1], "reply state"))
    return reply, state
