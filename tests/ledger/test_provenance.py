"""Provenance manifests: a model file's signed statement of where it came from."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from eth_account import Account

from ledger.provenance import (
    ModelProvenance,
    ProvenanceError,
    SignedProvenance,
    manifest_path,
    read_manifest,
    verify_manifest,
    write_manifest,
)
from ledger.record_fields import file_sha256
from ledger.tree_head import SigningDomain

if TYPE_CHECKING:
    from pathlib import Path

COORDINATOR = Account.from_key("0x" + "44" * 32)
DOMAIN = SigningDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "final_model.pt"
    model.write_bytes(b"weights" * 100)
    statement = ModelProvenance(
        model_sha256=file_sha256(model),
        job="job-7",
        job_digest=b"\x07" * 32,
        epsilons=(("health-site-1", 0.99), ("health-site-2", 1.0)),
        log_id=b"\x01" * 32,
        tree_size=42,
        root_hash=b"\x02" * 32,
    )
    write_manifest(model, SignedProvenance.sign(statement, COORDINATOR, DOMAIN))
    return model


def test_a_written_manifest_verifies(tmp_path: Path) -> None:
    model = _model(tmp_path)

    manifest = verify_manifest(model, domain=DOMAIN)

    assert manifest_path(model).name == "final_model.pt.provenance.json"
    assert manifest.signer == COORDINATOR.address
    assert manifest.statement.epsilons == (
        ("health-site-1", 0.99),
        ("health-site-2", 1.0),
    )
    assert manifest.statement.tree_size == 42


def test_an_altered_model_is_caught(tmp_path: Path) -> None:
    model = _model(tmp_path)
    model.write_bytes(model.read_bytes() + b"\x00")

    with pytest.raises(ProvenanceError, match="model was altered"):
        verify_manifest(model)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("departments", 0, "epsilon"), "0.5"),
        (("job",), "job-8"),
        (("audit_head", "tree_size"), 41),
        (("departments", 1, "department"), "health-site-9"),
    ],
)
def test_an_altered_manifest_is_caught(
    tmp_path: Path, path: tuple[str | int, ...], value: object
) -> None:
    model = _model(tmp_path)
    file = manifest_path(model)
    data = json.loads(file.read_text())
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    file.write_text(json.dumps(data))

    with pytest.raises(ProvenanceError, match="manifest was altered"):
        verify_manifest(model)


def test_a_missing_or_foreign_manifest_is_named(tmp_path: Path) -> None:
    model = _model(tmp_path)

    with pytest.raises(ProvenanceError, match="not for chain"):
        verify_manifest(model, domain=SigningDomain(1, DOMAIN.verifying_contract))
    manifest_path(model).unlink()
    with pytest.raises(ProvenanceError, match="is missing"):
        read_manifest(model)
    manifest_path(model).write_text("{}")
    with pytest.raises(ProvenanceError, match="is not a fedgov-model-provenance"):
        read_manifest(model)
