"""The auditor's access checks: who asked for every spend, and nothing after destruction.

Pure, over one department's logs (every key's, oldest first) and the
chain's facts. In log order:

- every ``access_policy`` record is a policy the department applies from
  then on; every ``data_use_agreement`` carries a data officer's signed
  agreement and the analyst's signed application it answers, both of which
  must verify in the county's access domain, the officer being one the
  department's policy at that point names;
- every ``access_granted`` record carries the analyst's signed request: it
  must verify, be the analyst and id the record names, hold the record's
  dataset and purpose, and ``decide`` must allow it again under the policy
  the record names and the agreements recorded before it, at the record's
  time (and with the same agreement); the analyst must have held the
  analyst role at the block the department checked, a block no later than
  the one that anchored the record (a revocation in between is a warning);
- every ``budget_spend`` and ``data_read`` must follow an ``access_granted``
  of the same job, round and message phase, for the same dataset, whose
  request's epsilon covers the spend (a query's epsilon, a training job's
  running total);
- once a ``dataset_destroyed`` record names a dataset, no record may read
  it, spend on it, grant access to it or release it.

A department that never recorded a policy runs without access control
(development mode): the report lists it (``open_departments``), and its
unmatched spends and reads fail when the auditor requires access control
(``--require-access``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from auditor.report import Check
from fedgov import protocol as p
from fedgov.access import Agreement
from fedgov.access_policy import AccessPolicy, PolicyError, decide
from ledger.access import SignedAgreement, SignedApprovalRequest, SignedRequest
from ledger.access_records import (
    AGREEMENT,
    AGREEMENT_ID,
    ANALYST,
    APPLICATION,
    APPLICATION_ID,
    POLICY,
    POLICY_SHA256,
    REQUEST,
    REQUEST_ID,
    ROLE_BLOCK,
)
from ledger.errors import AccessSignatureError
from ledger.record_fields import PHASE_QUERY
from ledger.records import Action, AuditRecord

if TYPE_CHECKING:
    from auditor._index import DepartmentLogs, Ref
    from auditor._log_checks import Findings, RoleSpan
    from ledger.access import AccessDomain

__all__ = ["AccessFacts", "analysts_in", "check_access"]

# What may not follow a dataset's destruction.
_USES = frozenset(
    {
        Action.DATA_READ,
        Action.BUDGET_SPEND,
        Action.TRAIN_ROUND,
        Action.EVALUATE,
        Action.ANALYTICS_QUERY,
        Action.ACCESS_GRANTED,
        Action.RECORD_RELEASE,
    }
)
# What needs a granted request in its message.
_GATED = (Action.BUDGET_SPEND, Action.DATA_READ)
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class AccessFacts:
    """What the access checks need from outside the logs."""

    domain: AccessDomain
    """The county's access domain: chain id and Roles contract."""
    analyst_spans: Mapping[str, tuple[RoleSpan, ...]] = field(default_factory=dict)
    """Each analyst's analyst-role history (checksummed address)."""
    require: bool = False
    """Fail, not warn, when a department runs without an access policy."""


def analysts_in(records: Iterable[AuditRecord]) -> set[str]:
    """The analysts ``access_granted`` records name (whose roles to fetch)."""
    found: set[str] = set()
    for record in records:
        if record.action is Action.ACCESS_GRANTED and ANALYST in record.details:
            found.add(record.details[ANALYST])
    return found


@dataclass
class _Grant:
    ref: Ref
    request: SignedRequest


@dataclass
class _State:
    policies: dict[str, AccessPolicy] = field(default_factory=dict)
    policy: AccessPolicy | None = None
    agreements: dict[str, Agreement] = field(default_factory=dict)
    destroyed: dict[str, Ref] = field(default_factory=dict)
    grants: dict[tuple[str, int, str], _Grant] = field(default_factory=dict)
    unmatched: list[Ref] = field(default_factory=list)


def check_access(
    department: DepartmentLogs,
    out: Findings,
    facts: AccessFacts | None,
    anchor_block: Callable[[Ref], int | None],
) -> bool:
    """Run the access checks over ``department``'s records (see the module docs).

    ``anchor_block`` gives the block that anchored a record (``None``: not
    anchored). Without ``facts`` (no chain to read the access domain from),
    only destruction is checked. Returns whether the department served
    spends or reads without any access policy (development mode).
    """
    state = _State()
    for ref in department.refs():
        record = ref.record
        destroyed = state.destroyed.get(record.dataset)
        if destroyed is not None and record.action in _USES:
            out.fail(
                Check.ACCESS,
                ref.log.label,
                f"{department.name} {_doing(record.action.value)} {record.dataset} "
                f"after destroying its records of it (record {destroyed.index} of "
                f"{destroyed.log.label})",
                index=ref.index,
            )
        if record.action is Action.DATASET_DESTROYED:
            state.destroyed.setdefault(record.dataset, ref)
        if facts is None:
            continue
        if record.action is Action.ACCESS_POLICY:
            _policy(ref, state, out)
        elif record.action is Action.DATA_USE_AGREEMENT:
            _agreement(ref, state, facts, out)
        elif record.action is Action.ACCESS_GRANTED:
            _grant(department, ref, state, facts, anchor_block, out)
        elif record.action in _GATED:
            _gated(department, ref, state, facts, out)
    return bool(state.unmatched)


def _doing(action: str) -> str:
    return {
        "data_read": "read",
        "budget_spend": "spent on",
        "train_round": "trained on",
        "evaluate": "evaluated on",
        "analytics_query": "answered a query on",
        "access_granted": "granted access to",
        "record_release": "released records of",
    }.get(action, action)


def _policy(ref: Ref, state: _State, out: Findings) -> None:
    details = ref.record.details
    try:
        policy = AccessPolicy.from_json(json.loads(details.get(POLICY, "")))
    except (ValueError, PolicyError) as e:
        out.fail(
            Check.ACCESS,
            ref.log.label,
            f"an unreadable access policy: {e}",
            index=ref.index,
        )
        return
    if policy.digest().hex() != details.get(POLICY_SHA256):
        out.fail(
            Check.ACCESS,
            ref.log.label,
            "the access policy does not hash to the digest its record names",
            index=ref.index,
        )
        return
    state.policies[details[POLICY_SHA256]] = policy
    state.policy = policy


def _agreement(ref: Ref, state: _State, facts: AccessFacts, out: Findings) -> None:
    details = ref.record.details
    domain = facts.domain
    try:
        signed, _ = SignedAgreement.from_text(details.get(AGREEMENT, ""))
        officer = signed.verify(domain)
        application, _ = SignedApprovalRequest.from_text(details.get(APPLICATION, ""))
        analyst = application.verify(domain)
    except AccessSignatureError as e:
        out.fail(
            Check.ACCESS, ref.log.label, f"data-use agreement: {e}", index=ref.index
        )
        return
    agreement = signed.statement
    problems = [
        (
            signed.id(domain) == details.get(AGREEMENT_ID),
            "is not the agreement it names",
        ),
        (
            application.id(domain) == details.get(APPLICATION_ID)
            and agreement.application == application.digest(domain),
            "does not answer the application it names",
        ),
        (agreement.analyst.lower() == analyst.lower(), "names another analyst"),
        (
            state.policy is not None and state.policy.is_officer(officer),
            f"is signed by {officer}, whom no access policy of the department names "
            "a data officer",
        ),
        (
            agreement.max_epsilon <= application.statement.max_epsilon + _TOLERANCE
            and agreement.expires_at <= application.statement.expires_at
            and set(agreement.columns) <= set(application.statement.columns),
            "allows more than the analyst asked for",
        ),
    ]
    for ok, text in problems:
        if not ok:
            out.fail(
                Check.ACCESS,
                ref.log.label,
                f"data-use agreement {text}",
                index=ref.index,
            )
            return
    state.agreements[signed.id(domain)] = agreement


def _grant(
    department: DepartmentLogs,
    ref: Ref,
    state: _State,
    facts: AccessFacts,
    anchor_block: Callable[[Ref], int | None],
    out: Findings,
) -> None:
    record, details, label = ref.record, ref.record.details, ref.log.label

    def fail(text: str) -> None:
        out.fail(Check.ACCESS, label, text, index=ref.index)

    try:
        signed, _ = SignedRequest.from_text(details.get(REQUEST, ""))
        analyst = signed.verify(facts.domain)
    except AccessSignatureError as e:
        fail(f"{department.name} granted access on a request that does not verify: {e}")
        return
    request = signed.statement
    if (
        analyst != details.get(ANALYST)
        or signed.id(facts.domain) != details.get(REQUEST_ID)
        or request.dataset != record.dataset
        or request.purpose != record.purpose
    ):
        fail(
            f"{department.name}'s grant names analyst {details.get(ANALYST)}, request "
            f"{details.get(REQUEST_ID)}, {record.dataset} for {record.purpose!r}; its "
            f"signed request is {analyst}'s {signed.id(facts.domain)}, "
            f"{request.dataset} for {request.purpose!r}"
        )
        return
    policy = state.policies.get(details.get(POLICY_SHA256, ""))
    if policy is None:
        fail(
            f"{department.name} granted request {details.get(REQUEST_ID)} under policy "
            f"{details.get(POLICY_SHA256)}, which it never recorded"
        )
        return
    named = details.get(AGREEMENT)
    if named is not None and named not in state.agreements:
        fail(
            f"{department.name} granted request {details.get(REQUEST_ID)} under "
            f"agreement {named}, which it never recorded (or which does not verify)"
        )
        return
    agreements = {named: state.agreements[named]} if named is not None else {}
    decision = decide(request, policy, agreements, record.timestamp_ms // 1000)
    if not decision.allowed:
        fail(
            f"{department.name} granted request {details.get(REQUEST_ID)}, which its "
            f"recorded policy refuses: {decision.reason}"
        )
        return
    if decision.agreement != details.get(AGREEMENT):
        fail(
            f"{department.name} granted request {details.get(REQUEST_ID)} under "
            f"agreement {details.get(AGREEMENT, 'none')}, its policy needs "
            f"{decision.agreement or 'none'}"
        )
        return
    _check_role(department, ref, analyst, facts, anchor_block, out)
    key = (record.job, record.round, record.details.get("phase", ""))
    state.grants[key] = _Grant(ref, signed)


def _check_role(
    department: DepartmentLogs,
    ref: Ref,
    analyst: str,
    facts: AccessFacts,
    anchor_block: Callable[[Ref], int | None],
    out: Findings,
) -> None:
    label = ref.log.label
    try:
        checked = int(ref.record.details.get(ROLE_BLOCK, ""))
    except ValueError:
        out.fail(Check.ACCESS, label, "a grant names no role block", index=ref.index)
        return
    spans = facts.analyst_spans.get(analyst, ())
    if not any(span.held_at_block(checked) for span in spans):
        out.fail(
            Check.ACCESS,
            label,
            f"{department.name} let {analyst} in as an analyst at block {checked}, "
            "where the address did not hold the analyst role",
            index=ref.index,
        )
        return
    anchored = anchor_block(ref)
    if anchored is None:
        return
    if checked > anchored:
        out.fail(
            Check.ACCESS,
            label,
            f"{department.name} says it checked {analyst}'s role at block {checked}, "
            f"after the block {anchored} that anchored its record",
            index=ref.index,
            block=anchored,
        )
    elif not all(
        span.held_at_block(anchored) for span in spans if span.held_at_block(checked)
    ):
        out.warn(
            Check.ACCESS,
            label,
            f"{analyst}'s analyst role was revoked between the department's check "
            f"(block {checked}) and the anchor of its record (block {anchored})",
            index=ref.index,
            block=anchored,
        )


def _gated(
    department: DepartmentLogs,
    ref: Ref,
    state: _State,
    facts: AccessFacts,
    out: Findings,
) -> None:
    record = ref.record
    if record.details.get("phase") not in ("train", "evaluate", PHASE_QUERY):
        return  # not a message's record (a data officer's, say)
    key = (record.job, record.round, record.details.get("phase", ""))
    grant = state.grants.get(key)
    if grant is None:
        if state.policy is None and not facts.require:
            state.unmatched.append(ref)
            return
        out.fail(
            Check.ACCESS,
            ref.log.label,
            f"{department.name}'s {record.action.value} of {record.dataset} in round "
            f"{record.round} of {record.job!r} matches no signed request it granted",
            index=ref.index,
        )
        return
    request = grant.request.statement
    if request.dataset != record.dataset:
        out.fail(
            Check.ACCESS,
            ref.log.label,
            f"{department.name} spent on {record.dataset} under a request for "
            f"{request.dataset}",
            index=ref.index,
        )
        return
    if record.action is not Action.BUDGET_SPEND:
        return
    try:
        spent = float(record.details.get(p.Metric.EPSILON_JOB, "nan"))
    except ValueError:
        spent = float("nan")
    # Calibration lands at or just below the epsilon asked, never above it.
    within = spent <= request.epsilon * (1 + 1e-6) + _TOLERANCE
    if not within:
        out.fail(
            Check.ACCESS,
            ref.log.label,
            f"{department.name} spent epsilon {record.details.get(p.Metric.EPSILON_JOB)} "
            f"on {record.job!r}; the analyst's request allows "
            f"{request.epsilon}",
            index=ref.index,
        )
