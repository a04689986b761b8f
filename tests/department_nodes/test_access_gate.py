"""The department's access gate, step by step, with a stand-in for the chain's roles."""

from __future__ import annotations

import secrets
import textwrap
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import pytest
from eth_account import Account

from department_nodes.access import (
    AccessGate,
    AccessOutcome,
    AccessSettings,
    AgreementStore,
    Subject,
)
from fedgov.access import AccessRequest, Agreement, ApprovalRequest
from fedgov.access_policy import Refusal
from fedgov.job import TrainJob
from ledger.access import (
    AccessDomain,
    SignedAgreement,
    SignedApprovalRequest,
    SignedRequest,
)
from ledger.chain_roles import RoleCheck
from ledger.records import Role
from privacy.vault import DatasetVault

if TYPE_CHECKING:
    from pathlib import Path

ANALYST = Account.create()
OFFICER = Account.create()
DOMAIN = AccessDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
NOW = 1_800_000_000
JOB = TrainJob(job_id="job-1", dataset="randhie", epsilon=0.5, purpose="cost model")


@dataclass
class FakeRoles:
    """Who holds the analyst role, as the chain would answer at block 77."""

    analysts: set[str] = field(default_factory=set)

    def check_now(self, account: str, role: Role) -> RoleCheck:
        return RoleCheck(
            account, role, role is Role.ANALYST and account in self.analysts, 77
        )


def _policy(folder: Path, *, approval: str = "none") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "access-policy.yaml").write_text(
        textwrap.dedent(
            f"""\
            fedgov_access_policy: 1
            department: health-site-1
            data_officers: ["{OFFICER.address}"]
            max_epsilon: 1.0
            rules:
              - dataset: randhie
                purposes: [cost model]
                approval: {approval}
            """
        )
    )


def _signed(job: TrainJob = JOB, *, signer: object = ANALYST, **changes: object) -> str:
    request = AccessRequest(
        analyst=ANALYST.address,
        purpose=job.purpose,
        kind="train",
        subject=job.digest(),
        dataset=job.dataset,
        columns=Subject.training(job).columns,
        epsilon=job.epsilon or 0.0,
        delta=job.delta,
        nonce=secrets.token_bytes(32),
        issued_at=NOW - 10,
        expires_at=NOW + 3600,
    )
    request = replace(request, **changes)  # type: ignore[arg-type]
    if signer is ANALYST:
        return SignedRequest.sign(request, ANALYST, DOMAIN).to_text(DOMAIN)
    forged = SignedRequest.sign(
        replace(request, analyst=signer.address),  # type: ignore[attr-defined]
        signer,  # type: ignore[arg-type]
        DOMAIN,
    )
    return SignedRequest(request, forged.signature).to_text(DOMAIN)


def _gate(tmp_path: Path, *, analysts: set[str] | None = None) -> AccessGate:
    settings = AccessSettings.resolve(
        {"access-chain-id": 31337, "access-roles": DOMAIN.roles},
        state_dir=tmp_path,
        department="health-site-1",
    )
    roles = FakeRoles({ANALYST.address} if analysts is None else analysts)
    return AccessGate(settings, roles=roles, clock=lambda: NOW)


def _check(gate: AccessGate, signed: str, *, server_round: int = 1) -> AccessOutcome:
    return gate.check(
        Subject.training(JOB), signed=signed, server_round=server_round, phase="train"
    )


@pytest.fixture
def department(tmp_path: Path) -> Path:
    _policy(tmp_path / "departments" / "health-site-1")
    return tmp_path


def test_a_signed_request_within_the_policy_runs(department: Path) -> None:
    outcome = _check(_gate(department), _signed())

    assert outcome.allowed, outcome.decision.reason
    assert outcome.analyst == ANALYST.address
    assert outcome.role_block == 77
    assert outcome.policy is not None
    assert outcome.grant_details()["rule"] == "0"
    assert AccessOutcome.from_state(outcome.to_state()) == outcome


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: "", Refusal.UNSIGNED),
        (lambda: _signed(signer=Account.create()), Refusal.SIGNATURE),
        (lambda: '{"type": "AccessRequest"}', Refusal.SIGNATURE),
        (lambda: _signed(subject=b"\x00" * 32), Refusal.SUBJECT),
        (lambda: _signed(epsilon=0.4), Refusal.SUBJECT),
        (lambda: _signed(columns=("mdvis",)), Refusal.SUBJECT),
        (lambda: _signed(replace(JOB, purpose="marketing")), Refusal.SUBJECT),
        (lambda: _signed(expires_at=NOW), Refusal.EXPIRED),
    ],
)
def test_a_bad_request_is_refused_with_its_code(
    department: Path, make: object, code: Refusal
) -> None:
    outcome = _check(_gate(department), make())  # type: ignore[operator]

    assert not outcome.allowed
    assert outcome.decision.refusal is code
    assert outcome.denial_details()["refusal"] == code.value


def test_an_analyst_without_the_role_is_refused(department: Path) -> None:
    outcome = _check(_gate(department, analysts=set()), _signed())

    assert outcome.decision.refusal is Refusal.ROLE
    assert "block 77" in outcome.decision.reason
    assert outcome.denial_details()["analyst"] == ANALYST.address


def test_a_request_is_served_once_per_round(department: Path) -> None:
    gate, signed = _gate(department), _signed()

    first = _check(gate, signed)
    replayed = _check(gate, signed)
    next_round = _check(gate, signed, server_round=2)

    assert first.allowed
    assert replayed.decision.refusal is Refusal.REPLAY
    assert next_round.allowed


def test_an_approval_rule_needs_a_stored_agreement(tmp_path: Path) -> None:
    # Prepare
    folder = tmp_path / "departments" / "health-site-1"
    _policy(folder, approval="required")
    gate, store = _gate(tmp_path), AgreementStore(folder)
    application = ApprovalRequest(
        analyst=ANALYST.address,
        department="health-site-1",
        purpose="cost model",
        dataset="randhie",
        columns=Subject.training(JOB).columns,
        max_epsilon=1.0,
        nonce=b"\x01" * 32,
        issued_at=NOW - 100,
        expires_at=NOW + 86_400,
    )
    signed_application = SignedApprovalRequest.sign(application, ANALYST, DOMAIN)
    agreement = Agreement.answering(
        application,
        signed_application.digest(DOMAIN),
        officer=OFFICER.address,
        issued_at=NOW - 50,
    )

    # Execute
    before = _check(gate, _signed())
    path = store.add(SignedAgreement.sign(agreement, OFFICER, DOMAIN), DOMAIN)
    after = _check(gate, _signed())
    path.write_text(path.read_text().replace('"max_epsilon":"1"', '"max_epsilon":"9"'))
    tampered = _check(gate, _signed())

    # Assert
    assert before.decision.refusal is Refusal.APPROVAL
    assert after.allowed
    assert after.decision.agreement == path.stem
    assert tampered.decision.refusal is Refusal.APPROVAL


def test_a_destroyed_dataset_is_refused_before_anything_else(department: Path) -> None:
    DatasetVault(department, "health-site-1", "randhie").destroy(reason="retention")

    outcome = _check(_gate(department), _signed())

    assert outcome.decision.refusal is Refusal.DESTROYED


def test_without_a_policy_the_department_is_open_and_warns(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="NO access policy"):
        outcome = _check(_gate(tmp_path), "")

    assert outcome.allowed
    assert outcome.policy is None


def test_a_broken_policy_refuses_everything(department: Path) -> None:
    policy = department / "departments" / "health-site-1" / "access-policy.yaml"
    policy.write_text("fedgov_access_policy: 1\n")

    outcome = _check(_gate(department), _signed())

    assert outcome.decision.refusal is Refusal.POLICY
    assert "needs" in outcome.decision.reason
