"""The committed contract artifacts are exactly what the pinned compiler builds."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest

import ledger.contracts
from ledger.contracts import ARTIFACT_DIR, CONTRACT_NAMES, load_artifact
from ledger.contracts.build import build_artifact, main
from ledger.errors import ContractArtifactError

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_committed_artifact_is_reproduced_byte_for_byte(name: str) -> None:
    # Prepare
    committed = (ARTIFACT_DIR / f"{name}.json").read_text(encoding="utf-8")

    # Execute
    rebuilt = build_artifact(name)

    # Assert
    assert rebuilt == committed


def test_build_check_mode_passes_on_committed_artifacts() -> None:
    assert main(["--check"]) == 0


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_artifact_records_compiler_and_sources(name: str) -> None:
    # Execute
    artifact = load_artifact(name)

    # Assert
    assert artifact.compiler == "vyper 0.4.3"
    assert artifact.evm_version == "prague"
    assert f"{name}.vy" in dict(artifact.sources)
    assert "role_ids.vy" in dict(artifact.sources)
    # The metadata trailer is CBOR {"vyper": [0, 4, 3]} and its 2-byte length.
    assert artifact.bytecode[-13:-2] == bytes.fromhex("a165767970657283000403")


def _copy_contracts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    source_dir = tmp_path / "contracts"
    shutil.copytree(ledger.contracts.SOURCE_DIR, source_dir)
    monkeypatch.setattr(ledger.contracts, "SOURCE_DIR", source_dir)
    monkeypatch.setattr(ledger.contracts, "ARTIFACT_DIR", source_dir / "artifacts")
    return source_dir


def test_an_edited_source_makes_its_artifact_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    source_dir = _copy_contracts(tmp_path, monkeypatch)
    with (source_dir / "role_ids.vy").open("a", encoding="utf-8") as f:
        f.write("\n# edited\n")

    # Execute / Assert: both contracts import role_ids
    for name in CONTRACT_NAMES:
        with pytest.raises(ContractArtifactError, match=r"role_ids\.vy changed"):
            load_artifact.__wrapped__(name)


def test_missing_and_malformed_artifacts_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    source_dir = _copy_contracts(tmp_path, monkeypatch)
    (source_dir / "artifacts" / "Roles.json").unlink()
    (source_dir / "artifacts" / "AnchorRegistry.json").write_text("{}", "utf-8")

    # Execute / Assert
    with pytest.raises(ContractArtifactError, match="missing") as missing:
        load_artifact.__wrapped__("Roles")
    with pytest.raises(ContractArtifactError, match="malformed"):
        load_artifact.__wrapped__("AnchorRegistry")
    assert missing.value.name == "Roles"
