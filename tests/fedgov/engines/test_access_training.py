"""A signed training job end to end: departments admit it, the model carries its provenance.

The in-process engine runs the product's apps (access gate, DP-SGD, budget
book, both audit hooks) on three departments with the embedded chain's Roles
contract; one round keeps it to seconds.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from eth_account import Account

from auditor.report import Check
from auditor.verify import load_log, verify_audit
from fedgov import protocol as p
from fedgov.access_policy import Refusal
from fedgov.cli import main
from fedgov.engines.access import sign_job
from fedgov.engines.inprocess import InProcessEngine
from ledger.layout import department_dir
from ledger.provenance import manifest_path, read_manifest
from ledger.records import Action, AuditRecord, Role
from tests.audit_federation import small_job
from tests.chain_fixtures import requires_anvil

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from fedgov.job import TrainJob
    from tests.audit_fixtures import AuditHarness


def _county_analyst(env: AuditHarness) -> LocalAccount:
    """An analyst holding the role, and a policy at every department."""
    account: LocalAccount = Account.create()
    admin = env.ledger.admin
    assert admin is not None
    env.roles.grant(account.address, Role.ANALYST, sender=admin)
    for name in env.names:
        department_dir(env.state_dir, name).mkdir(parents=True, exist_ok=True)
        (department_dir(env.state_dir, name) / "access-policy.yaml").write_text(
            textwrap.dedent(
                f"""\
                fedgov_access_policy: 1
                department: {name}
                data_officers: ["{admin.address}"]
                max_epsilon: 2.0
                rules:
                  - dataset: randhie
                    purposes: [federated-training]
                    kinds: [train]
                """
            )
        )
    return account


@pytest.fixture
def analyst(embedded_env: AuditHarness) -> LocalAccount:
    """An analyst holding the role, and a policy at every department."""
    return _county_analyst(embedded_env)


def _job(env: AuditHarness, tmp_path: Path) -> TrainJob:
    return small_job(
        num_rounds=1,
        run_dir=str(tmp_path / "run"),
        state_dir=str(env.state_dir),
        epsilon=1.0,
        accountant="rdp",
    )


def _engine(env: AuditHarness) -> InProcessEngine:
    """The in-process engine on ``env``'s ledger: it audits by itself."""
    return InProcessEngine(ledger=env.ledger, roles=env.roles)


def test_a_signed_job_trains_and_its_model_carries_a_checked_manifest(
    embedded_env: AuditHarness, analyst: LocalAccount, tmp_path: Path
) -> None:
    # Prepare
    env = embedded_env
    job = sign_job(_job(env, tmp_path), analyst, env.roles.access_domain)

    # Act
    record = _engine(env).run(job)
    assert record.checkpoint is not None
    report = env.verify(run_record=record)

    # Assert: every department trained under the analyst's request
    assert all(d.rounds_trained == 1 for d in record.departments)
    for name in env.names:
        path = next(p for p in env.log_paths() if p.parent.name == name)
        actions = [AuditRecord.decode(d).action for d in load_log(path).records]
        # The budget limit the first message created opens the log.
        assert actions[:4] == [
            Action.BUDGET_GRANT,
            Action.ACCESS_POLICY,
            Action.ACCESS_GRANTED,
            Action.BUDGET_SPEND,
        ]
        assert actions.count(Action.ACCESS_GRANTED) == 2  # train and evaluate
    assert report.ok, report.summary()
    assert report.warnings == ()
    manifest = read_manifest(record.checkpoint)
    assert manifest.signer == env.coordinator_address
    assert dict(manifest.statement.epsilons) == {
        d.department: d.epsilon_job for d in record.departments
    }
    assert manifest.statement.job_digest == job.digest()

    # ... and the auditor catches a manifest claiming less epsilon, a model
    # whose weights were edited, a model without its manifest.
    model = Path(record.checkpoint)

    def audit() -> list[str]:
        report = verify_audit(
            env.log_paths(),
            chain=env.chain,
            registry=env.registry.address,
            checkpoint=model,
        )
        return [f.message for f in report.failures if f.check is Check.PROVENANCE]

    assert audit() == []
    file = manifest_path(model)
    honest = file.read_text()
    data = json.loads(honest)
    data["departments"][0]["epsilon"] = "0.1"
    file.write_text(json.dumps(data))
    assert any("the manifest was altered" in m for m in audit())
    file.write_text(honest)
    weights = bytearray(model.read_bytes())
    weights[len(weights) // 2] ^= 0x01
    model.write_bytes(bytes(weights))
    assert any("the model was altered or swapped" in m for m in audit())
    file.unlink()
    assert any("is missing" in m for m in audit())


def test_a_job_the_coordinator_altered_is_refused_everywhere(
    embedded_env: AuditHarness, analyst: LocalAccount, tmp_path: Path
) -> None:
    # Prepare: the analyst signed epsilon 1; the coordinator sends epsilon 2
    env = embedded_env
    signed = sign_job(_job(env, tmp_path), analyst, env.roles.access_domain)
    altered = dataclasses.replace(signed, epsilon=2.0)

    # Act
    record = _engine(env).run(altered)

    # Assert
    (round_one,) = record.rounds
    assert {o["status"] for o in round_one["train"]} == {p.Outcome.REFUSED}
    assert all(
        o["reason"].startswith(f"access refused ({Refusal.SUBJECT.value})")
        for o in round_one["train"]
    )
    assert all(d.rounds_trained == 0 for d in record.departments)


@pytest.mark.anvil
@pytest.mark.parametrize(
    "chain", [pytest.param("anvil", marks=requires_anvil)], indirect=True
)
def test_the_auditor_checks_a_model_from_the_command_line(
    audit_env: AuditHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare: a signed job on a JSON-RPC chain, its model and manifest
    env = audit_env
    analyst = _county_analyst(env)
    job = sign_job(_job(env, tmp_path), analyst, env.roles.access_domain)
    record = _engine(env).run(job)
    assert record.checkpoint is not None
    model = Path(record.checkpoint)
    argv = ["audit", "verify", "--rpc", env.chain.endpoint, "--registry",
            env.registry.address, "--roles", env.roles.address, "--state-dir",
            str(env.state_dir), "--require-access", "--checkpoint", str(model)]  # fmt: skip

    # Act: the honest model, then one whose manifest claims less epsilon
    honest = main(argv)
    capsys.readouterr()
    file = manifest_path(model)
    data = json.loads(file.read_text())
    data["departments"][0]["epsilon"] = "0.1"
    file.write_text(json.dumps(data))
    altered = main(argv)

    # Assert
    assert honest == 0
    assert altered == 1
    err = capsys.readouterr().err
    assert "FAILED: [provenance]" in err
    assert "the manifest was altered" in err
