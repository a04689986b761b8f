"""A department's side of a DP analytics query: access, budget, then data, then noise.

A query arrives as a Flower ``QUERY`` message whose ``"query"`` ConfigRecord
holds :meth:`privacy.mechanisms.Query.to_config`. The department

1. re-validates the query against the dataset's schema (it never trusts the
   coordinator's checks) and refuses a bad one, spending nothing; then its
   access gate (:mod:`department_nodes.access`) checks the analyst's signed
   request for exactly this query, and refuses one outside its policy;
2. computes the noise and the spend from the query alone;
3. charges the spend to the *same* durable budget book DP-SGD rounds charge
   (``kind="query"``), atomically, and refuses cleanly when it would go over
   the limit: its records are never read for a refused query;
4. loads its records (train and held-out sides: all it holds), computes the
   exact local answer, adds OpenDP's discrete Gaussian noise and replies.

The reply carries only the noisy vector, the noise std of each block and
epsilon figures under the metric keys of :data:`REPLY_METRIC_KEYS`, plus the
usual ``"fedgov"`` record (department, status, reason). It never carries a
record count or any other exact figure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from numpy.typing import NDArray

from department_nodes.access import RoleSource, Subject
from department_nodes.data_access import open_records
from department_nodes.node import DepartmentNode, NodePolicy
from fedgov import protocol as p
from fedgov.data import department_ids
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob
from ledger.record_fields import PHASE_QUERY
from privacy.budget import Budget
from privacy.errors import BudgetExceeded
from privacy.mechanisms import (
    Query,
    QueryError,
    exact_answer,
    plan_answer,
    release_gaussian,
)

__all__ = [
    "REPLY_METRIC_KEYS",
    "SPEND_KIND",
    "LocalAnswer",
    "answer_query",
    "department_records",
    "local_answer",
]

logger = logging.getLogger(__name__)

REPLY_METRIC_KEYS: Final = frozenset(
    {
        p.Metric.QUERY_ANSWER,
        p.Metric.QUERY_NOISE_STD,
        p.Metric.EPSILON_QUERY,
        p.Metric.EPSILON_TOTAL,
        p.Metric.EPSILON_LIMIT,
    }
)
"""Every metric key a query reply uses: the boundary guard's allow-list for queries."""

SPEND_KIND: Final = "query"
"""The ``kind`` of a query's spend in the budget book."""


def department_records(
    dataset: str,
    department: str,
    *,
    seed: int,
    state_dir: Path,
    key_dir: Path | None = None,
) -> pd.DataFrame:
    """Every record ``department`` holds of ``dataset`` (both sides of its split),
    through its vault under ``state_dir`` (refused once destroyed)."""
    data = open_records(
        dataset,
        department,
        partition="natural",
        seed=seed,
        state_dir=state_dir,
        key_dir=key_dir,
    )
    return pd.concat([data.train.records, data.held_out.records])


def _reply(
    msg: Message,
    department: str,
    *,
    status: str,
    reason: str = "",
    metrics: Mapping[str, float | list[float]] | None = None,
) -> Message:
    content = RecordDict(
        {
            p.Record.FEDGOV: ConfigRecord(
                {
                    p.Reply.DEPARTMENT: department,
                    p.Reply.STATUS: status,
                    p.Reply.REASON: reason,
                }
            )
        }
    )
    if metrics:
        content[p.Record.METRICS] = MetricRecord(dict(metrics))
    return Message(content=content, reply_to=msg)


def _refuse(msg: Message, department: str, reason: str, **metrics: float) -> Message:
    logger.warning("query refused at %s: %s", department, reason)
    return _reply(
        msg, department, status=p.Status.REFUSED, reason=reason, metrics=metrics
    )


def _unresolved_name(context: Context) -> str:
    node = context.node_config
    if "department" in node:
        return str(node["department"])
    return f"partition-{node.get('partition-id', '?')}"


def _policy(context: Context, job: TrainJob, dataset: str) -> NodePolicy:
    return NodePolicy.from_context(
        context, job, [str(d) for d in department_ids(dataset)]
    )


def answer_query(
    msg: Message,
    context: Context,
    *,
    job: TrainJob | None = None,
    roles: RoleSource | None = None,
) -> Message:
    """Answer one QUERY message for the department ``context`` names.

    ``job`` replaces the run_config (in-process simulations have none); it
    supplies the state directory, the default budget and the analyst's
    signed request, as for training. ``roles`` answers who holds the analyst
    role (default: the chain the node configuration names).
    """
    run_job = job if job is not None else TrainJob.from_run_config(context.run_config)
    config = msg.content.config_records.get(p.Record.QUERY)
    try:
        query = Query.from_config(config if config is not None else {})
    except QueryError as exc:
        try:
            name = _policy(context, run_job, run_job.dataset).department
        except ConfigurationError:
            name = _unresolved_name(context)
        return _refuse(msg, name, f"invalid query, nothing spent: {exc}")
    try:
        policy = _policy(context, run_job, query.dataset)
    except ConfigurationError as exc:
        return _refuse(
            msg, _unresolved_name(context), f"no records of {query.dataset}: {exc}"
        )
    return _answer(
        msg, query, DepartmentNode(run_job, policy, context.state, roles=roles)
    )


@dataclass(frozen=True)
class LocalAnswer:
    """One department's answer to a query, or its refusal (``noisy is None``).

    Independent of how it travels: a QUERY reply (:func:`answer_query`) or a
    secure sum, whose provider sends ``noisy`` and reports the rest in clear.
    """

    department: str
    noisy: NDArray[np.float64] | None
    noise_std: tuple[float, ...]
    epsilon_query: float
    epsilon_total: float
    epsilon_limit: float
    reason: str = ""


def local_answer(query: Query, node: DepartmentNode) -> LocalAnswer:
    """Admit ``query`` through ``node``'s access gate, charge its spend to the
    budget book, then answer it from the department's records.

    A query the gate refuses, or a spend that would exceed the limit, is
    refused before any record is read.
    """
    department = node.policy.department
    access = node.admit(
        Subject.query(query, node.job), server_round=0, phase=PHASE_QUERY
    )
    if not access.allowed:
        return LocalAnswer(
            department, None, (), 0.0, 0.0, 0.0, reason=access.decision.reason
        )
    plan = plan_answer(query)
    limit = node.budget_book.ensure_limit(
        query.dataset,
        Budget(
            epsilon=node.policy.budget_epsilon or node.job.budget_epsilon,
            delta=node.job.delta,
        ),
    )
    try:
        record = node.budget_book.charge(
            query.dataset,
            plan.spend,
            accountant=plan.accountant,
            kind=SPEND_KIND,
            job_id=query.query_id,
        )
    except BudgetExceeded as exc:
        return LocalAnswer(
            department, None, (), 0.0, exc.spent, exc.limit, reason=str(exc)
        )
    logger.info(
        "query %s (%s) at %s: epsilon %.4f charged, %.4f spent in all",
        query.query_id,
        query.kind,
        department,
        plan.epsilon,
        record.epsilon_after,
    )
    records = department_records(
        query.dataset,
        department,
        seed=node.job.seed,
        state_dir=node.policy.state_dir,
        key_dir=node.policy.vault_key_dir,
    )
    return LocalAnswer(
        department,
        release_gaussian(plan, exact_answer(query, records)),
        plan.noise_std,
        plan.epsilon,
        record.epsilon_after,
        limit.epsilon,
    )


def _answer(msg: Message, query: Query, node: DepartmentNode) -> Message:
    answer = local_answer(query, node)
    if answer.noisy is None:
        return _refuse(
            msg,
            answer.department,
            answer.reason,
            **{
                p.Metric.EPSILON_TOTAL: answer.epsilon_total,
                p.Metric.EPSILON_LIMIT: answer.epsilon_limit,
            },
        )
    return _reply(
        msg,
        answer.department,
        status=p.Status.OK,
        metrics={
            p.Metric.QUERY_ANSWER: [float(v) for v in answer.noisy],
            p.Metric.QUERY_NOISE_STD: list(answer.noise_std),
            p.Metric.EPSILON_QUERY: answer.epsilon_query,
            p.Metric.EPSILON_TOTAL: answer.epsilon_total,
            p.Metric.EPSILON_LIMIT: answer.epsilon_limit,
        },
    )
