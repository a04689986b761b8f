"""A department's records of who asked, who agreed, what left and what was destroyed.

The department's hook and its data officer's commands write these into the
department's own audit log; the auditor reads them back by the names below.

==========================  =================================================
``access_policy``           the policy the department applies from now on:
                            ``details["policy"]`` its canonical JSON,
                            ``["policy-sha256"]`` its digest
``access_granted``          a signed request the department let run, one per
                            message (train, evaluate, query), before its
                            spend and read: the signed request itself, its
                            id, the analyst, the block at which the analyst
                            held the role, the policy's digest, the rule
                            and (when one was needed) the agreement
``access_denied``           (also budget refusals) ``details["refusal"]`` the
                            code of :class:`fedgov.access_policy.Refusal`,
                            and the analyst and request id when known
``data_use_agreement``      a data officer's signed agreement, and the
                            analyst's signed application it answers
``record_release``          a fingerprinted record-level extract left
``dataset_destroyed``       the department crypto-shredded its records of a
                            dataset: when, why, which key, which files
==========================  =================================================
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final

from fedgov.types import ActorId, DatasetId, JobId, RunId
from ledger.record_fields import MAX_REASON_CHARS
from ledger.records import ZERO_HASH, Action, AuditRecord, Role

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from fedgov.access_policy import AccessPolicy

__all__ = [
    "AGREEMENT",
    "AGREEMENT_ID",
    "ANALYST",
    "APPLICATION",
    "APPLICATION_ID",
    "OFFICER",
    "PHASE_APPROVAL",
    "POLICY",
    "POLICY_SHA256",
    "REFUSAL",
    "REQUEST",
    "REQUEST_ID",
    "ROLE_BLOCK",
    "RULE",
    "agreement_record",
    "application_denied_record",
    "destruction_record",
    "policy_record",
    "release_record",
]

POLICY: Final = "policy"
POLICY_SHA256: Final = "policy-sha256"
REQUEST: Final = "request"
"""The signed request, compact JSON (:meth:`ledger.access.SignedRequest.to_text`)."""
REQUEST_ID: Final = "request-id"
ANALYST: Final = "analyst"
ROLE_BLOCK: Final = "role-block"
"""The block at which the department found the analyst holding the role."""
RULE: Final = "rule"
AGREEMENT: Final = "agreement"
"""A signed data-use agreement, compact JSON."""
AGREEMENT_ID: Final = "agreement-id"
APPLICATION: Final = "application"
APPLICATION_ID: Final = "application-id"
OFFICER: Final = "officer"
REFUSAL: Final = "refusal"
PHASE_APPROVAL: Final = "approval"
"""``details["phase"]`` of a data officer's records."""


def _record(
    action: Action,
    *,
    actor: str,
    department: str,
    timestamp_ms: int,
    dataset: str = "",
    purpose: str = "",
    details: Mapping[str, str],
    **fields: object,
) -> AuditRecord:
    return AuditRecord(
        actor=ActorId(actor),
        role=Role.DEPARTMENT,
        action=action,
        timestamp_ms=timestamp_ms,
        dataset=DatasetId(dataset),
        purpose=purpose,
        details={"department": department, **details},
        **fields,  # type: ignore[arg-type]
    )


def policy_record(
    policy: AccessPolicy, *, actor: str, timestamp_ms: int
) -> AuditRecord:
    """The ``access_policy`` record: the department applies ``policy`` from here on."""
    return _record(
        Action.ACCESS_POLICY,
        actor=actor,
        department=policy.department,
        timestamp_ms=timestamp_ms,
        details={POLICY: policy.canonical(), POLICY_SHA256: policy.digest().hex()},
    )


def agreement_record(
    *,
    actor: str,
    department: str,
    dataset: str,
    purpose: str,
    agreement: str,
    agreement_id: str,
    officer: str,
    analyst: str,
    application: str,
    application_id: str,
    timestamp_ms: int,
) -> AuditRecord:
    """The ``data_use_agreement`` record of an agreement a data officer signed."""
    return _record(
        Action.DATA_USE_AGREEMENT,
        actor=actor,
        department=department,
        timestamp_ms=timestamp_ms,
        dataset=dataset,
        purpose=purpose,
        details={
            "phase": PHASE_APPROVAL,
            AGREEMENT: agreement,
            AGREEMENT_ID: agreement_id,
            OFFICER: officer,
            ANALYST: analyst,
            APPLICATION: application,
            APPLICATION_ID: application_id,
        },
    )


def application_denied_record(
    *,
    actor: str,
    department: str,
    dataset: str,
    purpose: str,
    officer: str,
    analyst: str,
    application_id: str,
    reason: str,
    timestamp_ms: int,
) -> AuditRecord:
    """The ``access_denied`` record of an application a data officer turned down."""
    return _record(
        Action.ACCESS_DENIED,
        actor=actor,
        department=department,
        timestamp_ms=timestamp_ms,
        dataset=dataset,
        purpose=purpose,
        details={
            "phase": PHASE_APPROVAL,
            REFUSAL: "denied",
            "reason": reason[:MAX_REASON_CHARS],
            OFFICER: officer,
            ANALYST: analyst,
            APPLICATION_ID: application_id,
        },
    )


def destruction_record(
    *,
    actor: str,
    department: str,
    dataset: str,
    reason: str,
    key_id: str,
    held_since: int,
    destroyed_at: int,
    files: Sequence[tuple[str, int]],
    retention_days: int | None,
    timestamp_ms: int,
) -> AuditRecord:
    """The ``dataset_destroyed`` record: the department's records of
    ``dataset`` are crypto-shredded; no read of them may follow."""
    details = {
        "reason": reason[:MAX_REASON_CHARS],
        "key-id": key_id,
        "held-since": str(held_since),
        "destroyed-at": str(destroyed_at),
        "files": json.dumps([{"name": n, "bytes": b} for n, b in files]),
    }
    if retention_days is not None:
        details["retention-days"] = str(retention_days)
    return _record(
        Action.DATASET_DESTROYED,
        actor=actor,
        department=department,
        timestamp_ms=timestamp_ms,
        dataset=dataset,
        purpose="retention and destruction",
        details=details,
    )


def release_record(
    *,
    actor: str,
    department: str,
    dataset: str,
    purpose: str,
    release: str,
    recipient: str,
    rows: int,
    columns: Sequence[str],
    carriers: Sequence[str],
    marked: int,
    file_sha256: bytes,
    timestamp_ms: int,
) -> AuditRecord:
    """The ``record_release`` record of a fingerprinted extract given to ``recipient``."""
    return _record(
        Action.RECORD_RELEASE,
        actor=actor,
        department=department,
        timestamp_ms=timestamp_ms,
        dataset=dataset,
        purpose=purpose,
        job=JobId(release),
        run=RunId(""),
        record_count=rows,
        result_hash=file_sha256 if file_sha256 else ZERO_HASH,
        details={
            "release": release,
            "recipient": recipient,
            "columns": json.dumps(list(columns)),
            "carriers": json.dumps(list(carriers)),
            "marked": str(marked),
        },
    )
