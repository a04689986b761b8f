"""Every RFC 9162 test vector of transparency-dev/merkle against our verifiers."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import ProofError
from ledger.merkle import verify_consistency, verify_inclusion

DATA = Path(__file__).parent / "data" / "rfc9162"
INCLUSION = sorted((DATA / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((DATA / "consistency").rglob("*.json"))

# Our one departure from the vectors: this case claims two 12-byte "roots"
# ("don't care 2") are consistent because they are equal. A SHA-256 root is
# 32 bytes, so our verifiers reject malformed hashes before comparing them.
STRICTER_THAN_VECTORS = {
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty"
}


def _case_id(path: Path) -> str:
    return str(path.relative_to(DATA).with_suffix(""))


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b64(item) for item in case["proof"] or []]


def test_vector_corpus_is_complete() -> None:
    # Prepare / Execute: what the copied corpus holds.
    counts = (len(INCLUSION), len(CONSISTENCY))

    # Assert: a lost directory would silently shrink the parametrised tests.
    assert counts == (98, 98)


@pytest.mark.parametrize("path", INCLUSION, ids=_case_id)
def test_inclusion_vector(path: Path) -> None:
    # Prepare
    case = json.loads(path.read_text())

    def execute() -> None:
        verify_inclusion(
            case["leafIdx"],
            case["treeSize"],
            _b64(case["leafHash"]),
            _proof(case),
            _b64(case["root"]),
        )

    # Execute / Assert
    if case["wantErr"]:
        with pytest.raises(ProofError):
            execute()
    else:
        execute()


@pytest.mark.parametrize("path", CONSISTENCY, ids=_case_id)
def test_consistency_vector(path: Path) -> None:
    # Prepare
    case = json.loads(path.read_text())

    def execute() -> None:
        verify_consistency(
            case["size1"],
            case["size2"],
            _b64(case["root1"]),
            _b64(case["root2"]),
            _proof(case),
        )

    # Execute / Assert
    if _case_id(path) in STRICTER_THAN_VECTORS:
        assert not case["wantErr"]
        with pytest.raises(ProofError, match="must be 32 bytes"):
            execute()
    elif case["wantErr"]:
        with pytest.raises(ProofError):
            execute()
    else:
        execute()


def test_stricter_case_passes_with_well_formed_roots() -> None:
    # Prepare: the deviating case's shape, with real 32-byte roots.
    root = bytes(range(32))

    # Execute / Assert: equal sizes, equal roots, empty proof is consistent.
    verify_consistency(1, 1, root, root, [])
