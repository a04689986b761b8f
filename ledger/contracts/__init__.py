"""fedgov's Vyper contracts and their committed, compiled artifacts.

The ``.vy`` sources live next to this file; ``python -m ledger.contracts.build``
compiles each contract named in :data:`CONTRACT_NAMES` into
``artifacts/<Name>.json`` (ABI, creation and runtime bytecode, compiler version,
EVM version and the SHA-256 of every source file that went in). The artifacts
are committed, so running fedgov needs no compiler; a test recompiles them and
compares byte for byte.

This module only reads artifacts. It refuses one whose recorded sources no
longer match the ``.vy`` files beside it (a contract edited without rebuilding),
and skips that check where the sources are not installed.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.errors import ContractArtifactError

__all__ = [
    "ARTIFACT_DIR",
    "CONTRACT_NAMES",
    "SOURCE_DIR",
    "ContractArtifact",
    "load_artifact",
    "source_sha256",
]

SOURCE_DIR = Path(__file__).resolve().parent
ARTIFACT_DIR = SOURCE_DIR / "artifacts"
CONTRACT_NAMES: tuple[str, ...] = ("Roles", "AnchorRegistry", "Consultation")


@dataclass(frozen=True)
class ContractArtifact:
    """One compiled contract, as committed under ``artifacts/``."""

    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: bytes
    bytecode_runtime: bytes
    compiler: str
    evm_version: str
    sources: tuple[tuple[str, str], ...]
    """(file name, SHA-256 hex) of every source compiled in, sorted by name."""


def source_sha256(path: Path) -> str:
    """The SHA-256 (hex) of a contract source file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@functools.cache
def load_artifact(name: str) -> ContractArtifact:
    """The committed artifact of contract ``name`` (e.g. ``"AnchorRegistry"``)."""
    path = ARTIFACT_DIR / f"{name}.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        artifact = ContractArtifact(
            name=raw["contract"],
            abi=tuple(raw["abi"]),
            bytecode=bytes.fromhex(raw["bytecode"].removeprefix("0x")),
            bytecode_runtime=bytes.fromhex(raw["bytecode_runtime"].removeprefix("0x")),
            compiler=raw["compiler"],
            evm_version=raw["evm_version"],
            sources=tuple(sorted(raw["sources"].items())),
        )
    except FileNotFoundError as e:
        raise ContractArtifactError(
            name, f"{path} is missing; run `python -m ledger.contracts.build`"
        ) from e
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ContractArtifactError(name, f"{path} is malformed: {e!r}") from e
    if artifact.name != name:
        raise ContractArtifactError(name, f"{path} holds contract {artifact.name!r}")
    for file_name, digest in artifact.sources:
        source = SOURCE_DIR / file_name
        if source.is_file() and source_sha256(source) != digest:
            raise ContractArtifactError(
                name,
                f"{file_name} changed since the artifact was built; "
                "run `python -m ledger.contracts.build`",
            )
    return artifact
