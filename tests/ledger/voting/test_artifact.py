"""The committed Consultation artifact is the build of the committed sources."""

from __future__ import annotations

import pytest

from ledger.contracts import ARTIFACT_DIR, load_artifact
from ledger.contracts.build import build_artifact


def test_the_artifact_records_the_current_sources() -> None:
    # load_artifact refuses an artifact whose recorded source hashes are stale
    artifact = load_artifact("Consultation")

    assert artifact.compiler == "vyper 0.4.3"
    assert artifact.evm_version == "prague"
    assert {"Consultation.vy", "role_ids.vy", "IRoles.vyi"} <= dict(
        artifact.sources
    ).keys()
    # EIP-170: deployable code is at most 24,576 bytes
    assert len(artifact.bytecode_runtime) <= 24_576


@pytest.mark.slow
def test_the_artifact_is_reproduced_byte_for_byte() -> None:
    committed = (ARTIFACT_DIR / "Consultation.json").read_text(encoding="utf-8")

    assert build_artifact("Consultation") == committed
