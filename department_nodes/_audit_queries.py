"""A department's records of one DP analytics query.

A query (a Flower ``QUERY`` message, :func:`department_nodes.analytics.answer_query`)
is charged to the same budget book as training, before any record is read,
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

import json
from typing import TYPE_CHECKING

from fedgov import protocol as p
from fedgov.types import ActorId, DatasetId, JobId, RunId
from ledger.record_fields import (
    ACCOUNTANT,
    MAX_REASON_CHARS,
    PHASE_QUERY,
    answer_sha256,
    number_text,
    query_sha256,
)
from ledger.records import ZERO_HASH, Action, AuditRecord, Role
from privacy.mechanisms import Query, QueryError, plan_answer

if TYPE_CHECKING:
    from collections.abc import Mapping

    from flwr.app import Message

    from fedgov.job import TrainJob

__all__ = ["department_query_records", "parse_query"]

_REPORTED = (p.Metric.EPSILON_TOTAL, p.Metric.EPSILON_LIMIT)


def parse_query(msg: Message, *, declaration: str = "") -> Query | None:
    """The query ``msg`` asks, read against the department's own ``declaration``
    (``""``: the built-in one), or ``None`` when it is malformed (and refused)."""
    config = msg.content.config_records.get(p.Record.QUERY)
    try:
        return Query.from_config(
            config if config is not None else {}, declaration=declaration or None
        )
    except QueryError:
        return None


def _raw_id(msg: Message) -> str:
    config: Mapping[str, object] = msg.content.config_records.get(p.Record.QUERY) or {}
    value = config.get("query-id", "")
    return value if isinstance(value, str) else ""


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
    fedgov: Mapping[str, object] = (
        reply.content.config_records.get(p.Record.FEDGOV) or {}
    )
    metrics: Mapping[str, object] = (
        reply.content.metric_records.get(p.Record.METRICS) or {}
    )

    def record(
        action: Action, *, details: Mapping[str, str], **fields: object
    ) -> AuditRecord:
        return AuditRecord(
            actor=ActorId(actor),
            role=Role.DEPARTMENT,
            action=action,
            timestamp_ms=timestamp_ms,
            dataset=DatasetId(query.dataset_id if query is not None else job.dataset),
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
    if str(fedgov.get(p.Reply.STATUS, "")) != p.Status.OK or query is None:
        details: dict[str, str] = {
            "reason": str(fedgov.get(p.Reply.REASON, ""))[:MAX_REASON_CHARS],
            **{key: number_text(figures[key]) for key in _REPORTED if key in figures},
        }
        if query is not None:
            details["query-sha256"] = query_sha256(query).hex()
        return [record(Action.ACCESS_DENIED, details=details)]

    plan = plan_answer(query)
    epsilon = figures.get(p.Metric.EPSILON_QUERY, 0.0)
    answer = metrics.get(p.Metric.QUERY_ANSWER, [])
    values = [float(v) for v in answer] if isinstance(answer, list) else []
    spend = record(
        Action.BUDGET_SPEND,
        details={
            p.Metric.NOISE_MULTIPLIER: number_text(plan.spend.noise_multiplier),
            p.Metric.SAMPLE_RATE: number_text(plan.spend.sample_rate),
            p.Metric.STEPS: number_text(plan.spend.steps),
            ACCOUNTANT: plan.accountant.value,
            # A query is a job of one spend: its epsilon is the job's.
            p.Metric.EPSILON_JOB: number_text(epsilon),
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
            "columns": json.dumps(list(query.columns_read)),
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
