from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SigningDomain(_message.Message):
    __slots__ = ("chain_id", "verifying_contract")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    VERIFYING_CONTRACT_FIELD_NUMBER: _ClassVar[int]
    chain_id: int
    verifying_contract: str
    def __init__(self, chain_id: _Optional[int] = ..., verifying_contract: _Optional[str] = ...) -> None: ...

class TreeHead(_message.Message):
    __slots__ = ("log_id", "tree_size", "root_hash", "timestamp_ms")
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_HASH_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    log_id: bytes
    tree_size: int
    root_hash: bytes
    timestamp_ms: int
    def __init__(self, log_id: _Optional[bytes] = ..., tree_size: _Optional[int] = ..., root_hash: _Optional[bytes] = ..., timestamp_ms: _Optional[int] = ...) -> None: ...

class SignedTreeHead(_message.Message):
    __slots__ = ("head", "signer", "signature", "domain")
    HEAD_FIELD_NUMBER: _ClassVar[int]
    SIGNER_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    head: TreeHead
    signer: str
    signature: bytes
    domain: SigningDomain
    def __init__(self, head: _Optional[_Union[TreeHead, _Mapping]] = ..., signer: _Optional[str] = ..., signature: _Optional[bytes] = ..., domain: _Optional[_Union[SigningDomain, _Mapping]] = ...) -> None: ...

class AppendRecordsRequest(_message.Message):
    __slots__ = ("log_id", "records")
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    log_id: bytes
    records: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, log_id: _Optional[bytes] = ..., records: _Optional[_Iterable[bytes]] = ...) -> None: ...

class AppendRecordsResponse(_message.Message):
    __slots__ = ("first_index", "tree_size", "root_hash")
    FIRST_INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_HASH_FIELD_NUMBER: _ClassVar[int]
    first_index: int
    tree_size: int
    root_hash: bytes
    def __init__(self, first_index: _Optional[int] = ..., tree_size: _Optional[int] = ..., root_hash: _Optional[bytes] = ...) -> None: ...

class SignTreeHeadRequest(_message.Message):
    __slots__ = ("log_id",)
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    log_id: bytes
    def __init__(self, log_id: _Optional[bytes] = ...) -> None: ...

class GetLogInfoRequest(_message.Message):
    __slots__ = ("log_id",)
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    log_id: bytes
    def __init__(self, log_id: _Optional[bytes] = ...) -> None: ...

class LogInfo(_message.Message):
    __slots__ = ("log_id", "actor", "log_name", "tree_size", "root_hash")
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    LOG_NAME_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_HASH_FIELD_NUMBER: _ClassVar[int]
    log_id: bytes
    actor: str
    log_name: str
    tree_size: int
    root_hash: bytes
    def __init__(self, log_id: _Optional[bytes] = ..., actor: _Optional[str] = ..., log_name: _Optional[str] = ..., tree_size: _Optional[int] = ..., root_hash: _Optional[bytes] = ...) -> None: ...

class GetLatestSignedTreeHeadRequest(_message.Message):
    __slots__ = ("log_id",)
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    log_id: bytes
    def __init__(self, log_id: _Optional[bytes] = ...) -> None: ...

class GetLatestSignedTreeHeadResponse(_message.Message):
    __slots__ = ("signed_head",)
    SIGNED_HEAD_FIELD_NUMBER: _ClassVar[int]
    signed_head: SignedTreeHead
    def __init__(self, signed_head: _Optional[_Union[SignedTreeHead, _Mapping]] = ...) -> None: ...

class GetSignedTreeHeadsRequest(_message.Message):
    __slots__ = ("log_id",)
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    log_id: bytes
    def __init__(self, log_id: _Optional[bytes] = ...) -> None: ...

class GetSignedTreeHeadsResponse(_message.Message):
    __slots__ = ("signed_heads",)
    SIGNED_HEADS_FIELD_NUMBER: _ClassVar[int]
    signed_heads: _containers.RepeatedCompositeFieldContainer[SignedTreeHead]
    def __init__(self, signed_heads: _Optional[_Iterable[_Union[SignedTreeHead, _Mapping]]] = ...) -> None: ...

class GetInclusionProofRequest(_message.Message):
    __slots__ = ("log_id", "leaf_index", "tree_size")
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    LEAF_INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    log_id: bytes
    leaf_index: int
    tree_size: int
    def __init__(self, log_id: _Optional[bytes] = ..., leaf_index: _Optional[int] = ..., tree_size: _Optional[int] = ...) -> None: ...

class InclusionProof(_message.Message):
    __slots__ = ("leaf_index", "tree_size", "leaf_hash", "hashes")
    LEAF_INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    hashes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, leaf_index: _Optional[int] = ..., tree_size: _Optional[int] = ..., leaf_hash: _Optional[bytes] = ..., hashes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetConsistencyProofRequest(_message.Message):
    __slots__ = ("log_id", "size1", "size2")
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE1_FIELD_NUMBER: _ClassVar[int]
    SIZE2_FIELD_NUMBER: _ClassVar[int]
    log_id: bytes
    size1: int
    size2: int
    def __init__(self, log_id: _Optional[bytes] = ..., size1: _Optional[int] = ..., size2: _Optional[int] = ...) -> None: ...

class ConsistencyProof(_message.Message):
    __slots__ = ("size1", "size2", "hashes")
    SIZE1_FIELD_NUMBER: _ClassVar[int]
    SIZE2_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    size1: int
    size2: int
    hashes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, size1: _Optional[int] = ..., size2: _Optional[int] = ..., hashes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetRecordsRequest(_message.Message):
    __slots__ = ("log_id", "start", "count")
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    log_id: bytes
    start: int
    count: int
    def __init__(self, log_id: _Optional[bytes] = ..., start: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class GetRecordsResponse(_message.Message):
    __slots__ = ("start", "records")
    START_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    start: int
    records: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, start: _Optional[int] = ..., records: _Optional[_Iterable[bytes]] = ...) -> None: ...

class AddSignedTreeHeadsRequest(_message.Message):
    __slots__ = ("log_id", "signed_heads")
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNED_HEADS_FIELD_NUMBER: _ClassVar[int]
    log_id: bytes
    signed_heads: _containers.RepeatedCompositeFieldContainer[SignedTreeHead]
    def __init__(self, log_id: _Optional[bytes] = ..., signed_heads: _Optional[_Iterable[_Union[SignedTreeHead, _Mapping]]] = ...) -> None: ...

class AddSignedTreeHeadsResponse(_message.Message):
    __slots__ = ("stored",)
    STORED_FIELD_NUMBER: _ClassVar[int]
    stored: int
    def __init__(self, stored: _Optional[int] = ...) -> None: ...

class GetCheckpointsRequest(_message.Message):
    __slots__ = ("log_id",)
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    log_id: bytes
    def __init__(self, log_id: _Optional[bytes] = ...) -> None: ...

class GetCheckpointsResponse(_message.Message):
    __slots__ = ("notes",)
    NOTES_FIELD_NUMBER: _ClassVar[int]
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, notes: _Optional[_Iterable[str]] = ...) -> None: ...

class AddCheckpointsRequest(_message.Message):
    __slots__ = ("log_id", "notes")
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    log_id: bytes
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, log_id: _Optional[bytes] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...

class AddCheckpointsResponse(_message.Message):
    __slots__ = ("stored",)
    STORED_FIELD_NUMBER: _ClassVar[int]
    stored: int
    def __init__(self, stored: _Optional[int] = ...) -> None: ...
