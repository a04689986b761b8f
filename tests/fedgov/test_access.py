"""Access statements and the department policy: formats, and decide() rule by rule."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedgov.access import (
    AccessFormatError,
    AccessRequest,
    Agreement,
    ApprovalRequest,
    RequestKind,
    decimal_text,
)
from fedgov.access_policy import (
    AccessPolicy,
    PolicyError,
    Refusal,
    decide,
    parse_policy,
)
from fedgov.job import TrainJob

ANALYST = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
OTHER = "0xAb8483F64d9C6d1EcF9b849Ae677dD3315835cb2"
OFFICER = "0x4B20993Bc481177ec7E8f571ceCaE8A9e22C02db"
NOW = 1_800_000_000


def _request(**changes: object) -> AccessRequest:
    fields: dict[str, object] = {
        "analyst": ANALYST,
        "purpose": "health-cost model",
        "kind": RequestKind.QUERY,
        "subject": b"\x01" * 32,
        "dataset": "randhie",
        "columns": ("mdvis", "female"),
        "epsilon": 0.5,
        "delta": 1e-5,
        "nonce": b"\x02" * 32,
        "issued_at": NOW - 60,
        "expires_at": NOW + 3600,
    }
    fields.update(changes)
    return AccessRequest(**fields)  # type: ignore[arg-type]


POLICY = textwrap.dedent(
    f"""\
    fedgov_access_policy: 1
    department: health-site-1
    data_officers: ["{OFFICER}"]
    max_epsilon: 1.0
    rules:
      - dataset: randhie
        purposes: [health-cost model]
        analysts: ["{ANALYST}"]
        kinds: [query]
        columns: [mdvis, female, xage]
        max_epsilon: 0.8
      - dataset: randhie
        purposes: [research]
        approval: required
    """
)


def _policy(text: str = POLICY) -> AccessPolicy:
    return parse_policy(text, origin="policy.yaml")


def _agreement(**changes: object) -> Agreement:
    application = ApprovalRequest(
        analyst=ANALYST,
        department="health-site-1",
        purpose="research",
        dataset="randhie",
        columns=("mdvis", "female", "xage"),
        max_epsilon=0.6,
        nonce=b"\x03" * 32,
        issued_at=NOW - 3600,
        expires_at=NOW + 86_400,
    )
    agreement = Agreement.answering(
        application, b"\x04" * 32, officer=OFFICER, issued_at=NOW - 60
    )
    return replace(agreement, **changes)  # type: ignore[arg-type]


def test_statements_round_trip_through_json() -> None:
    request = _request()
    agreement = _agreement()

    assert AccessRequest.from_json(request.to_json()) == request
    assert Agreement.from_json(agreement.to_json()) == agreement
    assert request.to_json()["epsilon"] == "0.5"
    assert request.to_json()["delta"] == "0.00001"
    assert request.columns == ("female", "mdvis")  # sorted


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"analyst": "0x12"}, "analyst", "20-byte address"),
        ({"purpose": " "}, "purpose", "printable"),
        ({"kind": "export"}, "kind", "one of"),
        ({"subject": b"\x01"}, "subject", "32-byte"),
        ({"columns": ("mdvis", "mdvis")}, "columns", "twice"),
        ({"columns": ("drop table",)}, "columns", "must match"),
        ({"epsilon": float("nan")}, "epsilon", "finite"),
        ({"delta": 1.0}, "delta", "[0, 1)"),
        ({"expires_at": NOW - 120}, "expires_at", "after issued_at"),
    ],
)
def test_a_malformed_request_names_its_field(
    changes: dict[str, object], field: str, rule: str
) -> None:
    with pytest.raises(AccessFormatError) as caught:
        _request(**changes)
    assert caught.value.field == field
    assert rule in str(caught.value)


def test_json_figures_must_be_canonical_decimal_text() -> None:
    data = _request().to_json()

    for text in ("0.50", "5e-1", 0.5):
        with pytest.raises(AccessFormatError, match="epsilon"):
            AccessRequest.from_json({**data, "epsilon": text})
    with pytest.raises(AccessFormatError, match="unknown"):
        AccessRequest.from_json({**data, "extra": 1})


def test_an_agreement_may_narrow_but_never_widen_the_application() -> None:
    agreement = _agreement()
    application = ApprovalRequest(
        analyst=ANALYST,
        department="health-site-1",
        purpose="research",
        dataset="randhie",
        columns=("mdvis",),
        max_epsilon=0.6,
        nonce=b"\x03" * 32,
        issued_at=NOW,
        expires_at=NOW + 100,
    )

    with pytest.raises(ValueError, match="longer"):
        Agreement.answering(
            application,
            b"\0" * 32,
            officer=OFFICER,
            issued_at=NOW,
            expires_at=NOW + 101,
        )
    with pytest.raises(ValueError, match="more epsilon"):
        Agreement.answering(
            application, b"\0" * 32, officer=OFFICER, issued_at=NOW, max_epsilon=0.7
        )
    with pytest.raises(ValueError, match="not asked"):
        Agreement.answering(
            application, b"\0" * 32, officer=OFFICER, issued_at=NOW, columns=("xage",)
        )
    assert agreement.max_epsilon == 0.6


def test_a_policy_reads_from_yaml_and_back_from_its_json() -> None:
    policy = _policy()

    assert policy.department == "health-site-1"
    assert policy.is_officer(OFFICER.upper().replace("0X", "0x"))
    assert policy.rules[0].analysts == (ANALYST.lower(),)
    assert policy.rules[1].analysts is None
    assert policy.rules[1].approval is True
    assert AccessPolicy.from_json(policy.to_json()) == policy
    assert len(policy.digest()) == 32


@pytest.mark.parametrize(
    ("old", "new", "key", "rule"),
    [
        (
            "fedgov_access_policy: 1",
            "fedgov_access_policy: 2",
            "fedgov_access_policy",
            "version 1",
        ),
        ("max_epsilon: 1.0", "max_epsilon: -1", "max_epsilon", "positive"),
        (f'["{OFFICER}"]', '["officer"]', "data_officers[0]", "0x address"),
        ("kinds: [query]", "kinds: [export]", "rules[0].kinds", "among"),
        ("approval: required", "approval: maybe", "rules[1].approval", "'required'"),
        ("purposes: [research]", "purposes: []", "rules[1].purposes", "at least one"),
        (
            "columns: [mdvis, female, xage]",
            "columns: []",
            "rules[0].columns",
            "at least one",
        ),
        (
            "  - dataset: randhie\n    purposes: [research]",
            "  - dataset: randhie\n    purpose: [research]",
            "rules[1]",
            "needs ['purposes']",
        ),
    ],
)
def test_a_bad_policy_names_the_key_and_the_rule(
    old: str, new: str, key: str, rule: str
) -> None:
    assert old in POLICY
    with pytest.raises(PolicyError) as caught:
        _policy(POLICY.replace(old, new, 1))

    assert caught.value.key == key
    assert rule in str(caught.value)
    assert str(caught.value).startswith("policy.yaml: ")


def test_a_request_within_a_rule_is_allowed() -> None:
    decision = decide(_request(), _policy(), {}, NOW)

    assert decision.allowed
    assert decision.rule == 0
    assert decision.agreement is None


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"expires_at": NOW}, Refusal.EXPIRED),
        ({"issued_at": NOW + 3000, "expires_at": NOW + 4000}, Refusal.NOT_YET_VALID),
        ({"epsilon": 1.5}, Refusal.EPSILON),
        ({"dataset": "adult"}, Refusal.DATASET),
        ({"purpose": "marketing"}, Refusal.PURPOSE),
        ({"analyst": OTHER}, Refusal.ANALYST),
        ({"kind": RequestKind.TRAIN}, Refusal.KIND),
        ({"columns": ("mdvis", "income")}, Refusal.COLUMNS),
        ({"epsilon": 0.9}, Refusal.EPSILON),
        ({"purpose": "research"}, Refusal.APPROVAL),
    ],
)
def test_each_refusal_names_its_code(changes: dict[str, object], code: Refusal) -> None:
    decision = decide(_request(**changes), _policy(), {}, NOW)

    assert not decision.allowed
    assert decision.refusal is code
    assert decision.reason.startswith(f"access refused ({code.value}): ")


def test_an_approval_rule_needs_a_valid_matching_agreement() -> None:
    request = _request(purpose="research", epsilon=0.5)
    policy = _policy()

    allowed = decide(request, policy, {"0xaa": _agreement()}, NOW)

    assert allowed.allowed
    assert allowed.agreement == "0xaa"
    for spoiled in (
        _agreement(expires_at=NOW),  # expired
        _agreement(officer=OTHER),  # not a data officer of this department
        _agreement(department="health-site-2"),
        _agreement(analyst=OTHER),
        _agreement(purpose="health-cost model"),
        _agreement(columns=("xage",)),
        _agreement(max_epsilon=0.4),
        _agreement(issued_at=NOW + 10, expires_at=NOW + 100),
    ):
        refused = decide(request, policy, {"0xaa": spoiled}, NOW)
        assert refused.refusal is Refusal.APPROVAL, spoiled


_columns = st.sets(st.sampled_from(["mdvis", "female", "xage", "income"]), max_size=4)


@settings(max_examples=200, deadline=None)
@given(
    columns=_columns,
    fewer=_columns,
    epsilon=st.floats(0.01, 2.0),
    smaller=st.floats(0.0, 1.0),
    purpose=st.sampled_from(["health-cost model", "research", "marketing"]),
)
def test_asking_for_less_is_never_refused_where_more_was_allowed(
    columns: set[str], fewer: set[str], epsilon: float, smaller: float, purpose: str
) -> None:
    policy = _policy()
    agreements = {"0xaa": _agreement()}
    wide = _request(columns=tuple(columns), epsilon=epsilon, purpose=purpose)
    narrow = _request(
        columns=tuple(columns & fewer), epsilon=epsilon * smaller, purpose=purpose
    )

    if decide(wide, policy, agreements, NOW).allowed:
        assert decide(narrow, policy, agreements, NOW).allowed


def test_the_job_digest_covers_what_is_computed_not_where_it_runs() -> None:
    job = TrainJob(job_id="j", dataset="randhie", epsilon=1.0)

    assert TrainJob.from_run_config(job.to_run_config()).digest() == job.digest()
    assert replace(job, run_dir="/x", state_dir="/y", round_timeout=5).digest() == (
        job.digest()
    )
    assert replace(job, access_request="{}").digest() == job.digest()
    for changed in (
        replace(job, epsilon=2.0),
        replace(job, dataset="adult"),
        replace(job, purpose="other"),
        replace(job, num_rounds=11),
        replace(job, job_id="k"),
    ):
        assert changed.digest() != job.digest()


def test_decimal_text_is_shortest_and_positional() -> None:
    assert [decimal_text(x) for x in (1.0, 1e-5, 0.5, 0.0, 2.25)] == [
        "1",
        "0.00001",
        "0.5",
        "0",
        "2.25",
    ]
