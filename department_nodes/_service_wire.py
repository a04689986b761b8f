"""The department service's wire: one Flower message and its context, over a Unix socket.

A frame is ``MAGIC``, a kind byte, a part count and the parts, each prefixed
by its length (big-endian). A request holds Flower's own protobufs of the
message and its :class:`~flwr.app.Context`; a reply holds the reply message
and the context's state after the handler ran (``REPLY``), or the error the
department's ClientApp raised (``FAILED``), which the relay raises again so
that Flower reports it as it reports any ClientApp exception.

This module is imported by the thin ClientApp a ``flwr-clientapp`` process
runs for every message, so it imports nothing heavy (of fedgov, only its
errors).
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from enum import IntEnum
from pathlib import Path
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

from fedgov.errors import FedgovError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

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
    "socket_address",
]

MAGIC = b"FGS1"
MAX_FRAME_BYTES = 4 << 30
"""The largest frame read (a model's arrays travel in it)."""

_HEADER = struct.Struct(">4sBI")
_LENGTH = struct.Struct(">Q")
# AF_UNIX paths hold 108 bytes with the terminating NUL.
_MAX_SUN_PATH = 107


class ServiceWireError(FedgovError):
    """A frame that is not the department service's, or a connection cut short."""


class ServiceClosedError(ServiceWireError):
    """The peer closed the connection before a frame began (a readiness probe)."""


class FrameKind(IntEnum):
    REQUEST = 1
    REPLY = 2
    FAILED = 3


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(min(size - len(chunks), 1 << 20))
        if not chunk and not chunks and size == _HEADER.size:
            raise ServiceClosedError("connection closed before a frame")
        if not chunk:
            raise ServiceWireError(
                f"connection closed after {len(chunks)} of {size} bytes of a frame"
            )
        chunks += chunk
    return bytes(chunks)


def send_frame(sock: socket.socket, kind: FrameKind, parts: Sequence[bytes]) -> None:
    """Write one frame of ``parts``."""
    sock.sendall(_HEADER.pack(MAGIC, int(kind), len(parts)))
    for part in parts:
        sock.sendall(_LENGTH.pack(len(part)))
        sock.sendall(part)


def receive_frame(
    sock: socket.socket, *, max_bytes: int = MAX_FRAME_BYTES
) -> tuple[FrameKind, list[bytes]]:
    """Read one frame; refuse one that is not ours or larger than ``max_bytes``."""
    magic, kind, count = _HEADER.unpack(_exactly(sock, _HEADER.size))
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
    for _ in range(count):
        (size,) = _LENGTH.unpack(_exactly(sock, _LENGTH.size))
        total += size
        if total > max_bytes:
            raise ServiceWireError(
                f"frame larger than {max_bytes} bytes: refused before reading it"
            )
        parts.append(_exactly(sock, size))
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


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """An address for ``path`` that fits AF_UNIX's 107 bytes.

    A longer path (a deep state folder) is reached through the folder's open
    descriptor under ``/proc/self/fd`` (Linux), which names the same inode.
    """
    text = str(path)
    if len(text.encode()) <= _MAX_SUN_PATH:
        yield text
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        short = f"/proc/self/fd/{fd}/{path.name}"
        if len(short.encode()) > _MAX_SUN_PATH or not Path("/proc/self/fd").is_dir():
            raise ServiceWireError(
                f"socket path {path} is longer than {_MAX_SUN_PATH} bytes"
            )
        yield short
    finally:
        os.close(fd)
