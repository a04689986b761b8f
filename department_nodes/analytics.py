"""A department's side of a DP analytics query: access, budget, then data, then noise.

A query arrives as a Flower ``QUERY`` message whose ``"query"`` ConfigRecord
holds :meth:`privacy.mechanisms.Query.to_config`. The department

1. re-validates the query against its *own* copy of the dataset's
   declaration (it never trusts the coordinator's checks, nor its
   declaration: a query naming another declaration digest is refused) and
   refuses a bad one, spending nothing; then its access gate
   (:mod:`department_nodes.access`) checks the analyst's signed request for
   exactly this query, and refuses one outside its policy;
2. computes the noise and the spend from the query alone;
3. checks the spend against the *same* durable budget book DP-SGD rounds
   charge, and refuses cleanly when it would go over the limit: its records
   are never read for a refused query;
4. loads its records (train and held-out sides: all it holds, from its own
   source), checked against the declaration: records that break it are
   refused ("data invalid" and the reason class) and nothing is spent;
5. charges the spend (``kind="query"``, atomically), computes the exact
   local answer, adds OpenDP's discrete Gaussian noise and replies.

The reply carries only the noisy vector, the noise std of each block and
epsilon figures under the metric keys of :data:`REPLY_METRIC_KEYS`, plus the
usual ``"fedgov"`` record (department, status, reason). It never carries a
record count or any other exact figure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from numpy.typing import NDArray

from department_nodes._message_job import message_job
from department_nodes.access import RoleSource, Subject
from department_nodes.data_access import DatasetMismatchError, vault_records
from department_nodes.node import DepartmentNode, NodePolicy, own_declaration
from fedgov import protocol as p
from fedgov.data import (
    DataError,
    DepartmentSources,
    Source,
    get_dataset,
    load_department,
)
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob
from ledger.record_fields import PHASE_QUERY
from privacy.budget import Budget
from privacy.errors import BudgetExceeded, BudgetRolledBack
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
    state_dir: Path | None,
    source: Source | None = None,
    key_dir: Path | None = None,
) -> pd.DataFrame:
    """Every record ``department`` holds of ``dataset`` (both sides of its split):
    the copy sealed in its vault under ``state_dir`` (refused once destroyed),
    else its own ``source``, or its share of a built-in dataset's installed
    file (``state_dir=None``: vault-less, outside any department's state).
    ``dataset`` is the declaration's reference (a built-in id or a file)."""
    sealed = vault_records(
        state_dir, department, get_dataset(dataset).id, key_dir=key_dir
    )
    data = load_department(
        dataset,
        department,
        partition="natural",
        seed=seed,
        source=None if sealed is not None else source,
        records=sealed,
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


def answer_query(
    msg: Message,
    context: Context,
    *,
    job: TrainJob | None = None,
    sources: DepartmentSources | None = None,
    roles: RoleSource | None = None,
) -> Message:
    """Answer one QUERY message for the department ``context`` names.

    ``job`` replaces the run_config (in-process simulations have none); it
    supplies the state directory, the default budget, the departments and
    the analyst's signed request, as for training. ``sources`` is a
    simulation's mapping of departments to their sources (a deployed
    department names its own in its node config); ``roles`` answers who
    holds the analyst role (default: the chain the node configuration names).
    """
    config = msg.content.config_records.get(p.Record.QUERY) or ConfigRecord()
    try:
        run_job = job if job is not None else message_job(msg, context)
    except ConfigurationError as exc:
        return _refuse(
            msg, _unresolved_name(context), f"invalid job record, nothing spent: {exc}"
        )
    named = str(config.get("dataset", run_job.dataset))
    declaration = own_declaration(context, job, named)
    try:
        # The run's job for this query's dataset: its budget, its departments;
        # a query reads every record a department holds (natural partition).
        query_job = replace(
            run_job, dataset=named, declaration=declaration, partition="natural"
        )
        policy = NodePolicy.from_context(
            context, query_job, sources=sources, declaration=declaration
        )
        node = DepartmentNode(query_job, policy, context.state, roles=roles)
    except (ConfigurationError, DatasetMismatchError, DataError) as exc:
        return _refuse(
            msg,
            _unresolved_name(context),
            f"no records of {named}, nothing spent: {exc}",
        )
    try:
        query = Query.from_config(config, declaration=node.dataset.reference)
    except QueryError as exc:
        return _refuse(msg, policy.department, f"invalid query, nothing spent: {exc}")
    return _answer(msg, query, node)


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
    refused before any record is read; records that break the declaration
    are refused before anything is spent.
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
    try:
        limit = node.budget_book.ensure_limit(
            query.dataset_id,
            Budget(
                epsilon=node.policy.budget_epsilon or node.job.budget_epsilon,
                delta=node.job.delta,
            ),
            floor=node.budget_floor,
        )
        node.budget_book.check(query.dataset_id, plan.spend, accountant=plan.accountant)
    except BudgetRolledBack as exc:
        logger.error("query %s refused at %s: %s", query.query_id, department, exc)
        return LocalAnswer(department, None, (), 0.0, 0.0, 0.0, reason=str(exc))
    except BudgetExceeded as exc:
        return LocalAnswer(
            department, None, (), 0.0, exc.spent, exc.limit, reason=str(exc)
        )
    try:
        records = department_records(
            node.dataset.reference,
            department,
            seed=node.job.seed,
            state_dir=node.policy.state_dir,
            source=node.dataset.source,
            key_dir=node.policy.vault_key_dir,
        )
    except DataError as exc:
        logger.warning(
            "%s: records refused for query %s: %s", department, query.query_id, exc
        )
        status = node.budget_book.status(query.dataset_id)
        return LocalAnswer(
            department,
            None,
            (),
            0.0,
            status.spent,
            limit.epsilon,
            reason=p.data_invalid(exc.reason_class),
        )
    try:
        record = node.budget_book.charge(
            query.dataset_id,
            plan.spend,
            accountant=plan.accountant,
            kind=SPEND_KIND,
            job_id=query.query_id,
            floor=node.budget_floor,
        )
    except BudgetRolledBack as exc:
        logger.error("query %s refused at %s: %s", query.query_id, department, exc)
        return LocalAnswer(department, None, (), 0.0, 0.0, 0.0, reason=str(exc))
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
    try:
        noisy = release_gaussian(plan, exact_answer(query, records))
    except Exception as exc:
        # Whatever failed, the spend is made and stays (the audit mod records
        # it): the refusal reports the charge instead of nothing spent.
        logger.error("query %s failed at %s: %s", query.query_id, department, exc)
        return LocalAnswer(
            department,
            None,
            (),
            plan.epsilon,
            record.epsilon_after,
            limit.epsilon,
            reason=f"failed after epsilon {plan.epsilon:.4g} was charged: {exc}",
        )
    return LocalAnswer(
        department,
        noisy,
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
                p.Metric.EPSILON_QUERY: answer.epsilon_query,
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
