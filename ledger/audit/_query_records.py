"""A department's records of one DP analytics query.

A query (a Flower ``QUERY`` message, :func:`department_nodes.analytics.answer_query`)
is charged to the same budget ledger as training, before any record is read,
then answered with noise. Its records, one transaction:

==========  ================================================================
answered    ``budget_spend`` (the answer's Gaussian mechanism, recomputed
            from the query alone, its epsilon and the department's totals),
            ``data_read`` (which columns of which records, not how many
            rows), ``analytics_query`` (what was asked, the digest of the
            answer released)
refused     ``access_denied`` with the department's reason (over budget,
            invalid query: nothing was spent or read)
==========  ================================================================

Every record's ``job`` is the query's id and ``round`` is 0. The reply
deliberately carries no exact figure, so neither does the log: the
``data_read`` record's ``record_count`` is 0 and ``details["rows"]`` says
the count was withheld (the department reads every record it holds of the
dataset, both sides of its split; the query's ``where`` decides which count).
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import TYPE_CHECKING, Any

from fedgov import protocol as p
from fedgov.types import ActorId, DatasetId, JobId, RunId
from ledger.audit._fields import (
    ACCOUNTANT,
    ENTRY_DEPARTMENT,
    ENTRY_QUERY,
    MAX_REASON_CHARS,
    PHASE_QUERY,
    canonical_sha256,
    number_text,
)
from ledger.records import ZERO_HASH, Action, AuditRecord, Role

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from flwr.app import Message

    from coordinator.analytics import QueryResult
    from fedgov.job import TrainJob
    from privacy.mechanisms import Query

__all__ = [
    "KEY_ANSWER",
    "QUERY_RECORD",
    "answer_sha256",
    "coordinator_query_records",
    "department_query_records",
    "parse_query",
    "query_result_sha256",
    "query_sha256",
]

QUERY_RECORD = "query"  # department_nodes.analytics.QUERY_RECORD
KEY_ANSWER = "query-answer"  # department_nodes.analytics.KEY_ANSWER
_KEY_EPSILON_QUERY = "epsilon-query"
_REPORTED = ("epsilon-total", "epsilon-limit")


def answer_sha256(values: Sequence[float]) -> bytes:
    """SHA-256 of a released answer vector: its entries as little-endian float64."""
    return hashlib.sha256(struct.pack(f"<{len(values)}d", *values)).digest()


def query_sha256(query: Query) -> bytes:
    """SHA-256 of the query's wire form (:meth:`Query.to_config`), as compact JSON."""
    return canonical_sha256(query.to_config())


def query_result_sha256(result: Mapping[str, Any]) -> bytes:
    """SHA-256 of a released query result: its JSON form without ``elapsed_s``.

    ``result`` is :meth:`QueryResult.to_json` or the ``query_result.json``
    a deployed query run writes; timing is not part of what was released.
    """
    return canonical_sha256({k: v for k, v in result.items() if k != "elapsed_s"})


def parse_query(msg: Message) -> Query | None:
    """The query ``msg`` asks, or ``None`` when it is malformed (and refused)."""
    # Imported here: the mechanisms pull in OpenDP, which only queries need.
    from privacy.mechanisms import Query, QueryError

    config = msg.content.config_records.get(QUERY_RECORD)
    try:
        return Query.from_config(config if config is not None else {})
    except QueryError:
        return None


def _raw_id(msg: Message) -> str:
    # Flower's records are not built here: the auditor imports this module.
    config: Mapping[str, object] = msg.content.config_records.get(QUERY_RECORD) or {}
    value = config.get("query-id", "")
    return value if isinstance(value, str) else ""


def _columns(query: Query) -> list[str]:
    named = [query.column, query.group_by, *(w.column for w in query.where)]
    return sorted({c for c in named if c})


def department_query_records(
    msg: Message,
    reply: Message,
    query: Query | None,
    *,
    job: TrainJob,
    department: str,
    actor: str,
    timestamp_ms: int,
) -> list[AuditRecord]:
    """The records one answered (or refused) query leaves; none for an error reply.

    ``job`` supplies the declared purpose (the run's: its run_config in a
    deployment, the environment's job in process).
    """
    if reply.has_error():
        return []
    fedgov: Mapping[str, object] = reply.content.config_records.get(p.FEDGOV) or {}
    metrics: Mapping[str, object] = reply.content.metric_records.get(p.METRICS) or {}

    def record(
        action: Action, *, details: Mapping[str, str], **fields: object
    ) -> AuditRecord:
        return AuditRecord(
            actor=ActorId(actor),
            role=Role.DEPARTMENT,
            action=action,
            timestamp_ms=timestamp_ms,
            dataset=DatasetId(query.dataset if query is not None else job.dataset),
            purpose=job.purpose,
            job=JobId(query.query_id if query is not None else _raw_id(msg)),
            run=RunId(str(msg.metadata.run_id)),
            details={"department": department, "phase": PHASE_QUERY, **details},
            **fields,  # type: ignore[arg-type]
        )

    figures = {
        key: float(value)
        for key, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    if str(fedgov.get(p.KEY_STATUS, "")) != p.STATUS_OK or query is None:
        details = {
            "reason": str(fedgov.get(p.KEY_REASON, ""))[:MAX_REASON_CHARS],
            **{key: number_text(figures[key]) for key in _REPORTED if key in figures},
        }
        if query is not None:
            details["query-sha256"] = query_sha256(query).hex()
        return [record(Action.ACCESS_DENIED, details=details)]

    # Imported here, as in parse_query.
    from privacy.mechanisms import plan_answer

    plan = plan_answer(query)
    epsilon = figures.get(_KEY_EPSILON_QUERY, 0.0)
    answer = metrics.get(KEY_ANSWER, [])
    values = [float(v) for v in answer] if isinstance(answer, list) else []
    spend = record(
        Action.BUDGET_SPEND,
        details={
            "noise-multiplier": number_text(plan.spend.noise_multiplier),
            "sample-rate": number_text(plan.spend.sample_rate),
            "steps": number_text(plan.spend.steps),
            ACCOUNTANT: plan.accountant.value,
            # A query is a job of one spend: its epsilon is the job's.
            "epsilon-job": number_text(epsilon),
            **{key: number_text(figures[key]) for key in _REPORTED if key in figures},
        },
        epsilon=epsilon,
        delta=query.delta,
    )
    read = record(
        Action.DATA_READ,
        details={
            "split": "all",
            "rows": "withheld",
            "columns": json.dumps(_columns(query)),
        },
    )
    asked = record(
        Action.ANALYTICS_QUERY,
        details={
            "kind": query.kind,
            "column": query.column or "",
            "group-by": query.group_by or "",
            "query-sha256": query_sha256(query).hex(),
            "answer-length": str(len(values)),
        },
        epsilon=epsilon,
        delta=query.delta,
        result_hash=answer_sha256(values) if values else ZERO_HASH,
    )
    return [spend, read, asked]


def coordinator_query_records(
    result: QueryResult, *, job: TrainJob, actor: str, timestamp_ms: int
) -> list[AuditRecord]:
    """The coordinator's ``analytics_query`` records of one query it ran.

    One per department (``details["entry"] == "department"``: its status,
    reason and the epsilon figures it reported), then one for the query
    (``"entry" == "query"``: what was asked, who answered or refused, and the
    digest of the released result, :func:`query_result_sha256`). ``job``
    supplies the declared purpose.
    """
    query = result.query
    asked = query_sha256(query).hex()

    def record(*, details: Mapping[str, str], **fields: object) -> AuditRecord:
        return AuditRecord(
            actor=ActorId(actor),
            role=Role.COORDINATOR,
            action=Action.ANALYTICS_QUERY,
            timestamp_ms=timestamp_ms,
            dataset=DatasetId(query.dataset),
            purpose=job.purpose,
            job=JobId(query.query_id),
            details={"query-sha256": asked, **details},
            **fields,  # type: ignore[arg-type]
        )

    out = []
    by_status: dict[str, list[str]] = {}
    for report in result.departments:
        by_status.setdefault(report.status, []).append(report.department)
        details = {
            "entry": ENTRY_DEPARTMENT,
            "department": report.department,
            "status": report.status,
        }
        if report.reason:
            details["reason"] = report.reason[:MAX_REASON_CHARS]
        if report.status == p.STATUS_OK:
            details[_KEY_EPSILON_QUERY] = number_text(report.epsilon_query)
        if report.status == p.STATUS_OK or report.epsilon_limit > 0:
            details["epsilon-total"] = number_text(report.epsilon_total)
            details["epsilon-limit"] = number_text(report.epsilon_limit)
        out.append(record(details=details))
    out.append(
        record(
            details={
                "entry": ENTRY_QUERY,
                "kind": query.kind,
                "column": query.column or "",
                "group-by": query.group_by or "",
                "confidence": number_text(result.confidence),
                **{
                    status: json.dumps(sorted(who)) for status, who in by_status.items()
                },
            },
            epsilon=query.epsilon,
            delta=query.delta,
            result_hash=query_result_sha256(result.to_json()),
        )
    )
    return out
