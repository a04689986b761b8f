# pragma version 0.4.3
"""
@title fedgov AnchorRegistry
@notice Anchors the signed tree heads of fedgov audit logs on chain.
@dev    A tree head is EIP-712 typed data (see ledger/tree_head.py):
            EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)
            TreeHead(bytes32 logId,uint64 treeSize,bytes32 rootHash,uint64 timestamp)
        with name "fedgov-audit-log", version "1", this chain and this contract.
        Authority comes from the signature, not from the transaction's sender, so a
        coordinator may relay a department's head. The signer must hold the
        COORDINATOR or DEPARTMENT role: those are the actors that keep audit logs.
        Auditors and registrars may not anchor (an auditor must not write the logs
        it audits; a registrar's consultations live in their own contract).
        A log belongs to the account it is derived from: logId must equal
        keccak256("fedgov-log:" + checksummed signer + ":" + logName), the
        derivation of ledger.tree_head.log_id_for, so no account can anchor (or
        squat) another account's log. Tree sizes strictly increase per log, which
        rejects stale and replayed heads.
"""

import role_ids
import IRoles

event Anchored:
    logId: indexed(bytes32)
    signer: indexed(address)
    treeSize: uint64
    rootHash: bytes32
    timestamp: uint64
    # Block of this log's previous anchor (0 for the first): auditors walk a log's
    # anchors backwards with one single-block log query per anchor.
    previousAnchorBlock: uint256

struct Anchor:
    tree_size: uint64
    root_hash: bytes32
    timestamp: uint64
    signer: address
    block_number: uint256

DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
TREE_HEAD_TYPEHASH: constant(bytes32) = keccak256(
    "TreeHead(bytes32 logId,uint64 treeSize,bytes32 rootHash,uint64 timestamp)"
)
NAME_HASH: constant(bytes32) = keccak256("fedgov-audit-log")
VERSION_HASH: constant(bytes32) = keccak256("1")
# secp256k1 order / 2: larger s values are the malleable twin of a signature (EIP-2).
# (= 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0)
HALF_CURVE_ORDER: constant(uint256) = (
    57896044618658097711785492504343953926418782139537452191302581570759080747168
)
MAX_LOG_NAME: constant(uint256) = 64

roles: public(immutable(IRoles))
_latest: HashMap[bytes32, Anchor]
anchor_count: public(HashMap[bytes32, uint256])
# Every log ever anchored, in the order of its first anchor: the chain's own list
# of the logs that exist, so an auditor never has to trust the set it is handed.
log_count: public(uint256)
log_ids: public(HashMap[uint256, bytes32])


@deploy
def __init__(roles_contract: address):
    assert roles_contract.is_contract, "AnchorRegistry: roles is not a contract"
    roles = IRoles(roles_contract)


@view
@external
def domain_separator() -> bytes32:
    return self._domain_separator()


@view
@external
def tree_head_digest(
    log_id: bytes32, tree_size: uint64, root_hash: bytes32, timestamp: uint64
) -> bytes32:
    return self._digest(log_id, tree_size, root_hash, timestamp)


@pure
@external
def log_id_for(account: address, log_name: String[MAX_LOG_NAME]) -> bytes32:
    return self._log_id(account, log_name)


@view
@external
def latest(log_id: bytes32) -> Anchor:
    return self._latest[log_id]


@external
def anchor(
    signer: address,
    log_name: String[MAX_LOG_NAME],
    log_id: bytes32,
    tree_size: uint64,
    root_hash: bytes32,
    timestamp: uint64,
    signature: Bytes[65],
):
    digest: bytes32 = self._digest(log_id, tree_size, root_hash, timestamp)
    assert self._recover(digest, signature) == signer, (
        "AnchorRegistry: signature is not the signer's over this head and domain"
    )
    assert (
        staticcall roles.has_role(signer, role_ids.COORDINATOR)
        or staticcall roles.has_role(signer, role_ids.DEPARTMENT)
    ), "AnchorRegistry: signer holds neither coordinator nor department role"
    assert log_id == self._log_id(signer, log_name), (
        "AnchorRegistry: log id is not derived from signer and log name"
    )
    previous: Anchor = self._latest[log_id]
    assert tree_size > previous.tree_size, (
        "AnchorRegistry: tree size must exceed the latest anchored size"
    )
    self._latest[log_id] = Anchor(
        tree_size=tree_size,
        root_hash=root_hash,
        timestamp=timestamp,
        signer=signer,
        block_number=block.number,
    )
    self.anchor_count[log_id] += 1
    if previous.block_number == 0:
        self.log_ids[self.log_count] = log_id
        self.log_count += 1
    log Anchored(
        logId=log_id,
        signer=signer,
        treeSize=tree_size,
        rootHash=root_hash,
        timestamp=timestamp,
        previousAnchorBlock=previous.block_number,
    )


@view
@internal
def _domain_separator() -> bytes32:
    return keccak256(
        abi_encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chain.id, self)
    )


@view
@internal
def _digest(
    log_id: bytes32, tree_size: uint64, root_hash: bytes32, timestamp: uint64
) -> bytes32:
    struct_hash: bytes32 = keccak256(
        abi_encode(TREE_HEAD_TYPEHASH, log_id, tree_size, root_hash, timestamp)
    )
    return keccak256(concat(b"\x19\x01", self._domain_separator(), struct_hash))


@pure
@internal
def _recover(digest: bytes32, signature: Bytes[65]) -> address:
    assert len(signature) == 65, "AnchorRegistry: signature must be 65 bytes"
    r: uint256 = convert(extract32(signature, 0), uint256)
    s: uint256 = convert(extract32(signature, 32), uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    assert v == 27 or v == 28, "AnchorRegistry: signature v must be 27 or 28"
    assert s <= HALF_CURVE_ORDER, "AnchorRegistry: signature s is not canonical"
    recovered: address = ecrecover(digest, v, r, s)
    assert recovered != empty(address), "AnchorRegistry: invalid signature"
    return recovered


@pure
@internal
def _log_id(account: address, log_name: String[MAX_LOG_NAME]) -> bytes32:
    return keccak256(
        concat(
            b"fedgov-log:0x",
            self._checksum_hex(account),
            b":",
            convert(log_name, Bytes[MAX_LOG_NAME]),
        )
    )


@pure
@internal
def _checksum_hex(account: address) -> Bytes[40]:
    # EIP-55: the 40 lower-case hex digits, then each letter upper-cased where the
    # matching nibble of keccak256(lower-case digits) is 8 or more. The digits are
    # built as big-endian words, one ASCII byte per digit: 32 in `head`, 8 in `tail`.
    value: uint256 = convert(account, uint256)
    head: uint256 = 0
    tail: uint256 = 0
    for i: uint256 in range(40):
        nibble: uint256 = (value >> (4 * (39 - i))) & 15
        char: uint256 = nibble + 48
        if nibble >= 10:
            char = nibble + 87
        if i < 32:
            head |= char << (8 * (31 - i))
        else:
            tail |= char << (8 * (63 - i))
    lower: Bytes[40] = concat(
        convert(head, bytes32), slice(convert(tail, bytes32), 0, 8)
    )
    digest: uint256 = convert(keccak256(lower), uint256)
    for i: uint256 in range(40):
        nibble: uint256 = (value >> (4 * (39 - i))) & 15
        if nibble >= 10 and (digest >> (4 * (63 - i))) & 15 >= 8:
            if i < 32:
                head -= 32 << (8 * (31 - i))
            else:
                tail -= 32 << (8 * (63 - i))
    return concat(convert(head, bytes32), slice(convert(tail, bytes32), 0, 8))
