"""The Merkle tree: known roots, agreement with the RFC's recursive definitions,
and proofs that verify exactly when they should."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedgov.errors import ConfigurationError
from ledger.errors import LogRangeError, ProofError
from ledger.merkle import (
    EMPTY_ROOT,
    ConsistencyProof,
    InclusionProof,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# The eight leaves of the RFC 6962 / Certificate Transparency reference tests.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


# -- the RFC 9162 section 2.1 definitions, written as literally as possible --


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = _k(len(leaves))
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [ref_mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], b), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


def _leaves(n: int) -> list[bytes]:
    # Distinct leaves: with repeated ones a proof for one index may truly
    # verify for another, which is no failure of the verifier.
    return [i.to_bytes(4, "big") for i in range(n)]


def _flip(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8 % len(data)] ^= 1 << (bit % 8)
    return bytes(flipped)


# -- fixed values --


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert MerkleTree().root() == EMPTY_ROOT


def test_leaf_and_node_hashes_use_domain_prefixes() -> None:
    assert leaf_hash(b"").hex() == CT_ROOTS[0]
    assert (
        node_hash(b"a" * 32, b"b" * 32)
        == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )


def test_roots_of_the_reference_tree_at_every_size() -> None:
    # Prepare
    tree = MerkleTree(leaf_hash(leaf) for leaf in CT_LEAVES)

    # Execute
    roots = [tree.root(size).hex() for size in range(1, 9)]

    # Assert
    assert roots == CT_ROOTS
    assert (
        root_from_leaf_hashes([leaf_hash(x) for x in CT_LEAVES[:5]]).hex()
        == (CT_ROOTS[4])
    )


def test_reference_inclusion_proof_of_leaf_5_in_8() -> None:
    # Prepare: the RFC 6962 reference proof (as in the vectors' inclusion/2).
    hashes = [leaf_hash(leaf) for leaf in CT_LEAVES]

    # Execute
    proof = inclusion_proof(5, hashes)

    # Assert
    assert [p.hex() for p in proof] == [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]


def test_reference_consistency_proof_from_6_to_8() -> None:
    hashes = [leaf_hash(leaf) for leaf in CT_LEAVES]

    proof = consistency_proof(6, hashes)

    assert [p.hex() for p in proof] == [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    verify_consistency(
        6, 8, bytes.fromhex(CT_ROOTS[5]), bytes.fromhex(CT_ROOTS[7]), proof
    )


# -- agreement with the recursive definitions --


@given(n=st.integers(min_value=0, max_value=70))
def test_incremental_roots_match_the_definition(n: int) -> None:
    leaves = _leaves(n)
    tree = MerkleTree()
    for leaf in leaves:
        tree.append(leaf_hash(leaf))

    assert [tree.root(size) for size in range(n + 1)] == [
        ref_mth(leaves[:size]) for size in range(n + 1)
    ]


@given(data=st.data(), n=st.integers(min_value=1, max_value=70))
def test_proofs_match_the_definition_for_every_earlier_size(
    data: st.DataObject, n: int
) -> None:
    # Prepare: a tree of n leaves; proofs asked about an earlier size.
    leaves = _leaves(n)
    tree = MerkleTree(leaf_hash(leaf) for leaf in leaves)
    size = data.draw(st.integers(min_value=1, max_value=n))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    size1 = data.draw(st.integers(min_value=1, max_value=size))

    # Execute
    path = tree.inclusion_proof(index, size)
    proof = tree.consistency_proof(size1, size)

    # Assert
    assert path == ref_path(index, leaves[:size])
    assert proof == ref_subproof(size1, leaves[:size], True)


# -- every proof verifies; every alteration fails --


@given(data=st.data(), n=st.integers(min_value=1, max_value=200))
def test_inclusion_proofs_verify_and_alterations_fail(
    data: st.DataObject, n: int
) -> None:
    # Prepare
    tree = MerkleTree(leaf_hash(leaf) for leaf in _leaves(n))
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = InclusionProof(
        index, n, tree.leaf_hash(index), tuple(tree.inclusion_proof(index))
    )
    root = tree.root()

    # Execute / Assert: the honest proof holds.
    proof.verify(root)

    # A flipped bit anywhere fails.
    bit = data.draw(st.integers(min_value=0, max_value=255))
    with pytest.raises(ProofError):
        verify_inclusion(index, n, _flip(proof.leaf_hash, bit), proof.hashes, root)
    with pytest.raises(ProofError):
        verify_inclusion(index, n, proof.leaf_hash, proof.hashes, _flip(root, bit))
    if proof.hashes:
        which = data.draw(st.integers(min_value=0, max_value=len(proof.hashes) - 1))
        altered = list(proof.hashes)
        altered[which] = _flip(altered[which], bit)
        with pytest.raises(ProofError):
            verify_inclusion(index, n, proof.leaf_hash, altered, root)
        with pytest.raises(ProofError):
            verify_inclusion(index, n, proof.leaf_hash, proof.hashes[:-1], root)
    with pytest.raises(ProofError):
        verify_inclusion(index, n, proof.leaf_hash, [*proof.hashes, root], root)

    # A wrong index fails.
    other = data.draw(st.integers(min_value=0, max_value=n))
    if other != index:
        with pytest.raises(ProofError):
            verify_inclusion(other, n, proof.leaf_hash, proof.hashes, root)

    # A wrong size fails against that size's root.
    wrong_size = data.draw(st.integers(min_value=index + 1, max_value=n + 5))
    if wrong_size != n:
        bigger = MerkleTree(leaf_hash(leaf) for leaf in _leaves(max(n, wrong_size)))
        with pytest.raises(ProofError):
            verify_inclusion(
                index,
                wrong_size,
                proof.leaf_hash,
                proof.hashes,
                bigger.root(wrong_size),
            )


@given(data=st.data(), n=st.integers(min_value=1, max_value=200))
def test_consistency_proofs_verify_and_alterations_fail(
    data: st.DataObject, n: int
) -> None:
    # Prepare
    tree = MerkleTree(leaf_hash(leaf) for leaf in _leaves(n))
    size1 = data.draw(st.integers(min_value=1, max_value=n))
    proof = ConsistencyProof(size1, n, tuple(tree.consistency_proof(size1)))
    root1, root2 = tree.root(size1), tree.root()

    # Execute / Assert
    proof.verify(root1, root2)

    bit = data.draw(st.integers(min_value=0, max_value=255))
    with pytest.raises(ProofError):
        proof.verify(_flip(root1, bit), root2)
    with pytest.raises(ProofError):
        proof.verify(root1, _flip(root2, bit))
    if proof.hashes:
        which = data.draw(st.integers(min_value=0, max_value=len(proof.hashes) - 1))
        altered = list(proof.hashes)
        altered[which] = _flip(altered[which], bit)
        with pytest.raises(ProofError):
            verify_consistency(size1, n, root1, root2, altered)
        with pytest.raises(ProofError):
            verify_consistency(size1, n, root1, root2, proof.hashes[:-1])
    with pytest.raises(ProofError):
        verify_consistency(size1, n, root1, root2, [*proof.hashes, root1])

    # Another old size, with that size's true root, fails with this proof.
    other = data.draw(st.integers(min_value=1, max_value=n))
    if other != size1:
        with pytest.raises(ProofError):
            verify_consistency(other, n, tree.root(other), root2, proof.hashes)


# -- malformed input --


@pytest.mark.parametrize(
    ("index", "size", "leaf", "proof", "root", "match"),
    [
        (-1, 4, b"\0" * 32, [], b"\0" * 32, "non-negative"),
        (True, 4, b"\0" * 32, [], b"\0" * 32, "non-negative integer"),
        (0, 4, b"\0" * 31, [], b"\0" * 32, "leaf_hash must be 32 bytes"),
        (0, 4, b"\0" * 32, [b"\0" * 33], b"\0" * 32, r"proof\[0\] must be 32 bytes"),
        (0, 4, b"\0" * 32, b"\0" * 32, b"\0" * 32, "sequence of hashes"),
        (0, 4, b"\0" * 32, ["x" * 32], b"\0" * 32, r"proof\[0\] must be 32 bytes"),
        (0, 4, b"\0" * 32, [], "0" * 32, "root must be 32 bytes"),
        (4, 4, b"\0" * 32, [], b"\0" * 32, "not below tree_size"),
        (0, 0, b"\0" * 32, [], b"\0" * 32, "not below tree_size"),
    ],
)
def test_malformed_inclusion_input_is_a_proof_error(
    index: object, size: object, leaf: object, proof: object, root: object, match: str
) -> None:
    with pytest.raises(ProofError, match=match):
        verify_inclusion(index, size, leaf, proof, root)  # type: ignore[arg-type]


def test_malformed_consistency_input_is_a_proof_error() -> None:
    good = b"\0" * 32
    with pytest.raises(ProofError, match="size2 must be a non-negative integer"):
        verify_consistency(1, -2, good, good, [])
    with pytest.raises(ProofError, match="root2 must be 32 bytes"):
        verify_consistency(1, 2, good, good[:5], [good])
    with pytest.raises(ProofError, match="larger than size2"):
        verify_consistency(3, 2, good, good, [good])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 2, good, good, [])


def test_tree_rejects_out_of_range_requests() -> None:
    tree = MerkleTree(leaf_hash(leaf) for leaf in _leaves(5))

    with pytest.raises(LogRangeError, match="index=5"):
        tree.inclusion_proof(5)
    with pytest.raises(LogRangeError, match="size=6"):
        tree.root(6)
    with pytest.raises(LogRangeError, match="index=-1"):
        tree.leaf_hash(-1)
    with pytest.raises(ConfigurationError, match="size1"):
        tree.consistency_proof(0)
    with pytest.raises(ConfigurationError, match="size1"):
        tree.consistency_proof(4, 3)
    with pytest.raises(ConfigurationError, match="32 bytes"):
        tree.append(b"short")


@settings(max_examples=20)
@given(n=st.integers(min_value=1, max_value=300))
def test_equal_sizes_have_an_empty_consistency_proof(n: int) -> None:
    tree = MerkleTree(leaf_hash(leaf) for leaf in _leaves(n))

    assert tree.consistency_proof(n) == []
    verify_consistency(n, n, tree.root(), tree.root(), [])
