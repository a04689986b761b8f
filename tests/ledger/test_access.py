"""Signed access statements: EIP-712 signatures that nobody can forge or alter."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from eth_account import Account

from fedgov.access import AccessRequest, Agreement, ApprovalRequest, RequestKind
from fedgov.errors import ConfigurationError
from ledger.access import (
    AccessDomain,
    SignedAgreement,
    SignedApprovalRequest,
    SignedRequest,
)
from ledger.errors import AccessSignatureError

ANALYST = Account.from_key("0x" + "11" * 32)
OFFICER = Account.from_key("0x" + "22" * 32)
COORDINATOR = Account.from_key("0x" + "33" * 32)
DOMAIN = AccessDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
NOW = 1_800_000_000


def _request() -> AccessRequest:
    return AccessRequest(
        analyst=ANALYST.address,
        purpose="health-cost model",
        kind=RequestKind.TRAIN,
        subject=b"\x01" * 32,
        dataset="randhie",
        columns=("mdvis", "female"),
        epsilon=1.0,
        delta=1e-5,
        nonce=b"\x02" * 32,
        issued_at=NOW,
        expires_at=NOW + 3600,
    )


def test_a_signed_request_verifies_and_round_trips() -> None:
    signed = SignedRequest.sign(_request(), ANALYST, DOMAIN)

    back, domain = SignedRequest.from_text(signed.to_text(DOMAIN))

    assert back == signed
    assert domain == DOMAIN
    assert back.verify(DOMAIN) == ANALYST.address
    assert back.id(DOMAIN) == signed.id(DOMAIN)
    assert len(signed.digest(DOMAIN)) == 32


@pytest.mark.parametrize(
    "change",
    [
        {"epsilon": 2.0},
        {"subject": b"\x09" * 32},
        {"purpose": "marketing"},
        {"dataset": "adult"},
        {"columns": ("mdvis", "female", "income")},
        {"expires_at": NOW + 7200},
        {"kind": RequestKind.QUERY},
    ],
)
def test_any_alteration_breaks_the_signature(change: dict[str, object]) -> None:
    # Prepare: a coordinator edits the request it carries
    signed = SignedRequest.sign(_request(), ANALYST, DOMAIN)
    altered = SignedRequest(replace(signed.statement, **change), signed.signature)  # type: ignore[arg-type]

    # Execute / Assert
    with pytest.raises(AccessSignatureError, match="not by"):
        altered.verify(DOMAIN)


def test_a_request_signed_by_someone_else_or_for_another_county_fails() -> None:
    forged = SignedRequest(
        _request(),
        SignedRequest.sign(
            replace(_request(), analyst=COORDINATOR.address), COORDINATOR, DOMAIN
        ).signature,
    )
    signed = SignedRequest.sign(_request(), ANALYST, DOMAIN)

    with pytest.raises(AccessSignatureError, match="not by"):
        forged.verify(DOMAIN)
    for other in (
        AccessDomain(1, DOMAIN.roles),
        AccessDomain(31337, "0x" + "ee" * 20),
    ):
        with pytest.raises(AccessSignatureError, match="another deployment"):
            signed.verify(other)
    with pytest.raises(ConfigurationError, match="cannot sign"):
        SignedRequest.sign(_request(), COORDINATOR, DOMAIN)


def _verified(text: str) -> str:
    signed, _ = SignedRequest.from_text(text)
    return signed.verify(DOMAIN)


def test_malformed_signed_json_is_named() -> None:
    text = SignedRequest.sign(_request(), ANALYST, DOMAIN).to_text(DOMAIN)
    data = json.loads(text)

    cases = [
        "not json",
        json.dumps({**data, "type": "DataUseAgreement"}),
        json.dumps({**data, "signature": "0x1234"}),
        json.dumps({**data, "statement": {**data["statement"], "epsilon": "1.0"}}),
        json.dumps({k: v for k, v in data.items() if k != "domain"}),
    ]
    for case in cases:
        with pytest.raises(AccessSignatureError):
            _verified(case)


def test_an_agreement_answers_a_signed_application() -> None:
    application = ApprovalRequest(
        analyst=ANALYST.address,
        department="health-site-1",
        purpose="research",
        dataset="randhie",
        columns=("mdvis",),
        max_epsilon=0.5,
        nonce=b"\x05" * 32,
        issued_at=NOW,
        expires_at=NOW + 86_400,
    )
    signed_application = SignedApprovalRequest.sign(application, ANALYST, DOMAIN)
    agreement = Agreement.answering(
        application,
        signed_application.digest(DOMAIN),
        officer=OFFICER.address,
        issued_at=NOW + 10,
    )

    signed = SignedAgreement.sign(agreement, OFFICER, DOMAIN)
    back, _ = SignedAgreement.from_text(signed.to_text(DOMAIN))

    assert back.verify(DOMAIN) == OFFICER.address
    assert back.statement.application == signed_application.digest(DOMAIN)
    assert signed_application.verify(DOMAIN) == ANALYST.address
    with pytest.raises(AccessSignatureError):
        SignedAgreement(replace(agreement, max_epsilon=5.0), signed.signature).verify(
            DOMAIN
        )
    with pytest.raises(ConfigurationError, match="cannot sign"):
        SignedAgreement.sign(agreement, ANALYST, DOMAIN)
