"""RFC 9162 Merkle tree hashing, proofs and their verification.

The tree is the one of Certificate Transparency v2 (RFC 9162 section 2.1),
with SHA-256:

* a leaf hashes as ``SHA-256(0x00 || data)``,
* an interior node as ``SHA-256(0x01 || left || right)``,
* the empty tree's root is ``SHA-256("")``,
* a tree of ``n > 1`` leaves splits at ``k``, the largest power of two below
  ``n``: its left subtree holds the first ``k`` leaves, its right the rest.

The distinct prefixes keep a leaf from passing for an interior node (second
pre-image attacks). Proofs list sibling hashes bottom-up, exactly as RFC 9162
sections 2.1.3 and 2.1.4 define them, so any RFC 9162 verifier checks ours.

:class:`MerkleTree` is the incremental tree behind the log store: it keeps the
hash of every complete, aligned subtree (level ``k`` holds one 32-byte hash
per run of ``2**k`` leaves) in flat byte arrays, about 64 bytes per leaf.
An append costs O(1) hashes amortised (O(log n) at worst), and any root or
proof for any earlier size costs O(log n) lookups plus O(log n) hashes for
the ragged right edge: nothing is rehashed from the leaves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fedgov.errors import ConfigurationError
from ledger.errors import LogRangeError, ProofError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "ConsistencyProof",
    "InclusionProof",
    "MerkleTree",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """The RFC 9162 hash of one leaf: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 9162 hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (for ``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _consistency_path(
    size1: int, size2: int, range_hash: Callable[[int, int], bytes]
) -> list[bytes]:
    """RFC 9162 SUBPROOF(size1, D[0:size2], true), ``range_hash(start, end)``
    giving MTH(D[start:end]); ``0 < size1 <= size2``."""
    proof: list[bytes] = []
    low, high, remaining, whole = 0, size2, size1, True
    while remaining != high - low:
        middle = low + _split(high - low)
        if remaining <= middle - low:
            proof.append(range_hash(middle, high))
            high = middle
        else:
            proof.append(range_hash(low, middle))
            remaining -= middle - low
            low = middle
            whole = False
    if not whole:
        proof.append(range_hash(low, high))
    proof.reverse()
    return proof


class MerkleTree:
    """An append-only RFC 9162 tree over leaf hashes, with cached subtrees.

    Not thread-safe by itself: the log store serialises access.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        # _levels[k] concatenates the hashes of the complete subtrees of 2**k
        # leaves, left to right: a flat bytearray costs 32 bytes per hash
        # where a list of bytes objects would cost about 100.
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        """The number of leaves."""
        return self._size

    def append(self, leaf_hash: bytes) -> int:
        """Add one leaf hash; return its 0-based index."""
        if len(leaf_hash) != HASH_SIZE:
            raise ConfigurationError(
                "leaf_hash", f"must be {HASH_SIZE} bytes, got {len(leaf_hash)}"
            )
        index = self._size
        levels = self._levels
        levels[0] += leaf_hash
        node, position, level = leaf_hash, index, 0
        # Each time the new node is a right child, its parent becomes complete.
        while position & 1:
            start = (position - 1) * HASH_SIZE
            node = hashlib.sha256(
                _NODE_PREFIX + levels[level][start : start + HASH_SIZE] + node
            ).digest()
            level += 1
            position >>= 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += node
        self._size = index + 1
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> int:
        """Add leaf hashes in order; return the index of the first one."""
        first = self._size
        for item in leaf_hashes:
            self.append(item)
        return first

    def leaf_hash(self, index: int) -> bytes:
        """The hash of leaf ``index``."""
        self._check_index("index", index, self._size)
        return self._subtree(0, index)

    def root(self, size: int | None = None) -> bytes:
        """The root of the tree made of the first ``size`` leaves (default: all)."""
        size = self._size if size is None else size
        self._check_index("size", size, self._size + 1)
        return self._range_hash(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 ``PATH(index, D[size])``: sibling hashes, bottom-up."""
        size = self._size if size is None else size
        self._check_index("size", size, self._size + 1)
        self._check_index("index", index, size)
        path: list[bytes] = []
        low, high = 0, size
        while high - low > 1:
            middle = low + _split(high - low)
            if index < middle:
                path.append(self._range_hash(middle, high))
                high = middle
            else:
                path.append(self._range_hash(low, middle))
                low = middle
        path.reverse()
        return path

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """RFC 9162 ``PROOF(size1, D[size2])`` for ``0 < size1 <= size2``."""
        size2 = self._size if size2 is None else size2
        self._check_index("size2", size2, self._size + 1)
        if not 0 < size1 <= size2:
            raise ConfigurationError(
                "size1",
                f"must satisfy 0 < size1 <= size2={size2}, got {size1} "
                "(nothing is provable about the empty tree)",
            )
        return _consistency_path(size1, size2, self._range_hash)

    def frontier(self, size: int | None = None) -> list[bytes]:
        """The roots of the complete subtrees the first ``size`` leaves make,
        largest first: what :class:`CompactRange` needs to go on from there."""
        size = self._size if size is None else size
        self._check_index("size", size, self._size + 1)
        out, start = [], 0
        for level in reversed(range(size.bit_length())):
            if size >> level & 1:
                out.append(self._subtree(level, start >> level))
                start += 1 << level
        return out

    def _subtree(self, level: int, position: int) -> bytes:
        start = position * HASH_SIZE
        return bytes(self._levels[level][start : start + HASH_SIZE])

    def _range_hash(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)``, a range the RFC's splits produce.

        Such a range starts on a multiple of a power of two at least its
        length, so it is a run of complete subtrees of decreasing size: their
        right fold is the RFC's recursive split.
        """
        pieces: list[bytes] = []
        count = end - start
        for level in reversed(range(count.bit_length())):
            if count >> level & 1:
                pieces.append(self._subtree(level, start >> level))
                start += 1 << level
        result = pieces.pop()
        while pieces:
            result = node_hash(pieces.pop(), result)
        return result

    @staticmethod
    def _check_index(argument: str, value: int, bound: int) -> None:
        if not 0 <= value < bound:
            raise LogRangeError(argument, value, bound)


def root_from_leaf_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    """The RFC 9162 root of a tree with these leaf hashes."""
    return MerkleTree(leaf_hashes).root()


def inclusion_proof(leaf_index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 proof that leaf ``leaf_index`` is in the tree of ``leaf_hashes``."""
    return MerkleTree(leaf_hashes).inclusion_proof(leaf_index)


def consistency_proof(size1: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 proof that the first ``size1`` of ``leaf_hashes`` form a prefix."""
    return MerkleTree(leaf_hashes).consistency_proof(size1)


def _require_size(argument: str, value: object) -> int:
    # bool is an int subclass; True is no tree size.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofError(f"{argument} must be a non-negative integer, got {value!r}")
    return value


def _require_hash(argument: str, value: object) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        shown = len(value) if isinstance(value, bytes | bytearray) else type(value)
        raise ProofError(f"{argument} must be {HASH_SIZE} bytes, got {shown}")
    return bytes(value)


def _require_proof(proof: Sequence[bytes]) -> list[bytes]:
    if isinstance(proof, bytes | bytearray | str):
        raise ProofError("proof must be a sequence of hashes, not one byte string")
    return [_require_hash(f"proof[{i}]", item) for i, item in enumerate(proof)]


def verify_inclusion(
    leaf_index: int,
    tree_size: int,
    leaf_hash: bytes,
    proof: Sequence[bytes],
    root: bytes,
) -> None:
    """Check that ``leaf_hash`` is leaf ``leaf_index`` of the tree ``root``.

    RFC 9162 section 2.1.3.2. Raises :class:`ProofError` on any failure,
    malformed input included; returns ``None`` when the proof holds.
    """
    index = _require_size("leaf_index", leaf_index)
    size = _require_size("tree_size", tree_size)
    computed = _require_hash("leaf_hash", leaf_hash)
    expected = _require_hash("root", root)
    path = _require_proof(proof)
    if index >= size:
        raise ProofError(f"leaf_index {index} is not below tree_size {size}")
    fn, sn = index, size - 1
    for sibling in path:
        if sn == 0:
            raise ProofError(f"proof has {len(path)} hashes, more than the tree needs")
        if fn & 1 or fn == sn:
            computed = node_hash(sibling, computed)
            # Skip the levels where this node has no right sibling.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            computed = node_hash(computed, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"proof has {len(path)} hashes, fewer than the tree needs")
    if computed != expected:
        raise ProofError(f"leaf {index} does not lead to the root of tree size {size}")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``root1`` of ``size1`` is a prefix of ``root2`` of ``size2``.

    RFC 9162 section 2.1.4.2, with equal sizes accepted for an empty proof and
    equal roots. A proof from the empty tree (``size1 == 0``) is rejected: it
    states nothing, and accepting it would let a verifier believe it checked
    something. Raises :class:`ProofError` on any failure, malformed input
    included.
    """
    old_size = _require_size("size1", size1)
    new_size = _require_size("size2", size2)
    old_root = _require_hash("root1", root1)
    new_root = _require_hash("root2", root2)
    path = _require_proof(proof)
    if old_size > new_size:
        raise ProofError(f"size1 {old_size} is larger than size2 {new_size}")
    if old_size == 0:
        raise ProofError("size1 is 0: consistency with the empty tree proves nothing")
    if old_size == new_size:
        if path:
            raise ProofError(f"size1 == size2 == {old_size} but the proof is not empty")
        if old_root != new_root:
            raise ProofError(f"size1 == size2 == {old_size} but the roots differ")
        return
    if not path:
        raise ProofError(f"empty proof for size1 {old_size} < size2 {new_size}")
    # A power-of-two old tree is a complete subtree: its root is the first
    # node of the path and the proof leaves it out.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    old_computed = new_computed = path[0]
    for sibling in path[1:]:
        if sn == 0:
            raise ProofError(f"proof has {len(proof)} hashes, more than the trees need")
        if fn & 1 or fn == sn:
            old_computed = node_hash(sibling, old_computed)
            new_computed = node_hash(sibling, new_computed)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            new_computed = node_hash(new_computed, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"proof has {len(proof)} hashes, fewer than the trees need")
    if old_computed != old_root:
        raise ProofError(f"proof does not lead to root1 of size {old_size}")
    if new_computed != new_root:
        raise ProofError(f"proof does not lead to root2 of size {new_size}")


@dataclass(frozen=True)
class InclusionProof:
    """A leaf's inclusion proof, with what it claims to prove."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    hashes: tuple[bytes, ...]

    def verify(self, root: bytes) -> None:
        """Raise :class:`ProofError` unless the leaf is in the tree ``root``."""
        verify_inclusion(
            self.leaf_index, self.tree_size, self.leaf_hash, self.hashes, root
        )


@dataclass(frozen=True)
class ConsistencyProof:
    """A proof that the log of ``size1`` records is a prefix of that of ``size2``."""

    size1: int
    size2: int
    hashes: tuple[bytes, ...]

    def verify(self, root1: bytes, root2: bytes) -> None:
        """Raise :class:`ProofError` unless ``root1`` is a prefix of ``root2``."""
        verify_consistency(self.size1, self.size2, root1, root2, self.hashes)


class CompactRange:
    """An RFC 9162 tree known only by its right edge, then grown by new leaves.

    ``frontier`` holds the roots of the complete subtrees the first
    ``size`` leaves make, largest first (:meth:`MerkleTree.frontier`): about
    log2(size) hashes instead of the leaves. From them and the leaves
    appended since, it gives the root at any size from ``size`` on, and the
    RFC 9162 consistency proof from ``size`` to a later size: an auditor who
    kept the frontier of the last head it checked verifies a log's new
    records without reading the old ones.
    """

    def __init__(self, size: int = 0, frontier: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ConfigurationError("size", f"must be >= 0, got {size}")
        expected = bin(size).count("1")
        if len(frontier) != expected:
            raise ConfigurationError(
                "frontier",
                f"a tree of {size} leaves has {expected} complete subtrees on its "
                f"edge, not {len(frontier)}",
            )
        self._base = size
        self._size = size
        self._nodes: dict[tuple[int, int], bytes] = {}
        start = 0
        hashes = iter(frontier)
        for level in reversed(range(size.bit_length())):
            if size >> level & 1:
                node = _require_hash("frontier", next(hashes))
                self._nodes[(level, start >> level)] = node
                start += 1 << level

    @property
    def base(self) -> int:
        """The size the range started from."""
        return self._base

    @property
    def size(self) -> int:
        return self._size

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append leaf hashes after the range's end."""
        nodes = self._nodes
        for item in leaf_hashes:
            node = _require_hash("leaf_hash", item)
            position, level = self._size, 0
            nodes[(0, position)] = node
            while position & 1:
                node = node_hash(nodes[(level, position - 1)], node)
                level += 1
                position >>= 1
                nodes[(level, position)] = node
            self._size += 1

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves, ``base <= size <= self.size``."""
        size = self._size if size is None else size
        if not self._base <= size <= self._size:
            raise LogRangeError("size", size, self._size + 1)
        return self._range_hash(0, size) if size else EMPTY_ROOT

    def frontier(self, size: int | None = None) -> list[bytes]:
        """The frontier at ``size`` (to go on from there next time)."""
        size = self._size if size is None else size
        self.root(size)  # checks the range
        out, start = [], 0
        for level in reversed(range(size.bit_length())):
            if size >> level & 1:
                out.append(self._node(level, start >> level))
                start += 1 << level
        return out

    def consistency_proof(self, size2: int | None = None) -> list[bytes]:
        """RFC 9162 ``PROOF(base, D[size2])``: the range's start is a prefix."""
        size1, size2 = self._base, self._size if size2 is None else size2
        self.root(size2)
        if not 0 < size1 <= size2:
            raise ConfigurationError(
                "size1", "nothing is provable about the empty tree (base 0)"
            )
        return _consistency_path(size1, size2, self._range_hash)

    def _node(self, level: int, position: int) -> bytes:
        try:
            return self._nodes[(level, position)]
        except KeyError:
            raise ProofError(
                f"the subtree at level {level}, position {position} lies before "
                f"the compact range's start ({self._base} leaves) and is not on its edge"
            ) from None

    def _range_hash(self, start: int, end: int) -> bytes:
        pieces: list[bytes] = []
        count = end - start
        for level in reversed(range(count.bit_length())):
            if count >> level & 1:
                pieces.append(self._node(level, start >> level))
                start += 1 << level
        result = pieces.pop()
        while pieces:
            result = node_hash(pieces.pop(), result)
        return result
