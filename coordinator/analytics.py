"""The coordinator's side of a federated DP analytics query.

:func:`run_query` sends one :class:`~privacy.mechanisms.Query` as a Flower
``QUERY`` message to every connected department through the same Grid
(SuperLink) training uses, collects each department's noisy answer vector or
refusal, sums the answers and turns the sum into estimates with error bars
(:mod:`coordinator._analytics_result`). The coordinator never sees an exact
figure: each answer is already DP at the department that sent it, and only
their sum is used, so the sum could come from secure aggregation instead.

Engines: the coordinator's ServerApp (:func:`coordinator.server_app.make_server_app`
with ``query=``) runs one query, audited like training;
:func:`fedgov.engines.queries.run_simulated_query` runs it in Flower's
simulation engine, one simulated SuperNode per department (the dataset's
natural partition, or the departments given sources). A deployed run (``flwr run``) carries the query in its
run_config (:func:`query_to_run_config`, :func:`query_from_run_config`); the
deployed departments' ClientApp already answers QUERY messages.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import numpy as np
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.serverapp import Grid

from coordinator._analytics_result import (
    UNNAMED_NODE,
    DepartmentReport,
    Estimate,
    QueryResult,
    combined_noise_std,
    decode_total,
    format_result,
)
from fedgov import protocol as p
from fedgov.errors import ConfigurationError
from privacy.mechanisms import Query, QueryError, noise_blocks

__all__ = [
    "RUN_CONFIG_QUERY",
    "DepartmentReport",
    "Estimate",
    "QueryResult",
    "format_result",
    "query_from_run_config",
    "query_to_run_config",
    "run_query",
]

logger = logging.getLogger(__name__)

RUN_CONFIG_QUERY: Final = "query"
"""The run_config key of a deployed query run: the query's wire form as JSON."""


def _wait_for_nodes(grid: Grid, expected: int, wait: float) -> list[int]:
    deadline = time.monotonic() + wait
    while len(nodes := list(grid.get_node_ids())) < expected:
        if time.monotonic() >= deadline:
            logger.warning(
                "%d of %d departments connected after %.0f s; asking those",
                len(nodes),
                expected,
                wait,
            )
            break
        time.sleep(0.5)
    return sorted(nodes)


def _read_reply(
    reply: Message, query: Query
) -> tuple[DepartmentReport, tuple[np.ndarray, tuple[float, ...]] | None]:
    node = f"{UNNAMED_NODE}{reply.metadata.src_node_id}"
    if reply.has_error():
        return DepartmentReport(
            node, p.Outcome.FAILED, reply.error.reason or "error"
        ), None
    try:
        fedgov = reply.content.config_records[p.Record.FEDGOV]
        department = str(fedgov[p.Reply.DEPARTMENT])
        status = str(fedgov[p.Reply.STATUS])
        reason = str(fedgov.get(p.Reply.REASON, ""))
    except KeyError:
        return DepartmentReport(
            node, p.Outcome.FAILED, "reply without a fedgov record"
        ), None
    metrics = reply.content.metric_records.get(p.Record.METRICS)
    figures = {
        key: float(metrics[key])  # type: ignore[arg-type]
        for key in (
            p.Metric.EPSILON_QUERY,
            p.Metric.EPSILON_TOTAL,
            p.Metric.EPSILON_LIMIT,
        )
        if metrics is not None and key in metrics
    }
    report = DepartmentReport(
        department,
        status,
        reason,
        epsilon_query=figures.get(p.Metric.EPSILON_QUERY, 0.0),
        epsilon_total=figures.get(p.Metric.EPSILON_TOTAL, 0.0),
        epsilon_limit=figures.get(p.Metric.EPSILON_LIMIT, 0.0),
    )
    if status != p.Status.OK:
        return report, None
    blocks = noise_blocks(query)
    try:
        answer = np.asarray(metrics[p.Metric.QUERY_ANSWER], dtype=np.float64)  # type: ignore[index]
        stds = tuple(float(s) for s in metrics[p.Metric.QUERY_NOISE_STD])  # type: ignore[index,union-attr]
    except (KeyError, TypeError, ValueError):
        answer, stds = np.empty(0), ()
    if (
        answer.shape != (sum(b.size for b in blocks),)
        or len(stds) != len(blocks)
        or not np.all(np.isfinite(answer))
        or not all(s > 0 for s in stds)
    ):
        why = "malformed answer (wrong length, non-finite values or noise std); ignored"
        return DepartmentReport(department, p.Outcome.FAILED, why), None
    return report, (answer, stds)


def _reports(
    replies: Iterable[Message], query: Query, expected: Sequence[str]
) -> tuple[list[DepartmentReport], list[tuple[np.ndarray, tuple[float, ...]]]]:
    reports: list[DepartmentReport] = []
    answers: list[tuple[np.ndarray, tuple[float, ...]]] = []
    seen: set[str] = set()
    for reply in replies:
        report, answer = _read_reply(reply, query)
        if report.department in seen:
            reports.append(
                DepartmentReport(
                    report.department, p.Outcome.FAILED, "second reply; ignored"
                )
            )
            continue
        seen.add(report.department)
        reports.append(report)
        if answer is not None:
            answers.append(answer)
    unnamed = [r.department for r in reports if r.department.startswith(UNNAMED_NODE)]
    missing = (
        f"no answer: no reply before the timeout, or it is one of {unnamed}, whose "
        "replies name no department"
        if unnamed
        else "no reply before the timeout"
    )
    reports += [
        DepartmentReport(d, p.Outcome.MISSING, missing)
        for d in expected
        if d not in seen
    ]
    return sorted(reports, key=lambda r: r.department), answers


def run_query(
    grid: Grid,
    query: Query,
    *,
    timeout: float = 600.0,
    confidence: float = 0.95,
    node_wait: float = 120.0,
    departments: Sequence[str] = (),
    settings: Mapping[str, str | float] | None = None,
) -> QueryResult:
    """Ask every department reachable through ``grid``; combine their answers.

    ``departments`` are those expected to answer (default: the dataset's
    natural partition). Waits up to ``node_wait`` seconds for them to
    connect and ``timeout`` seconds for their replies. Refusals (over budget,
    invalid query, records that break the declaration) and failures are
    reported per department in the result; its estimates cover only the
    departments that answered. ``settings`` are the question's own job
    settings (:data:`fedgov.job.QUESTION_KEYS`), sent with the query when
    one run asks many questions.
    """
    if not 0 < confidence < 1:
        raise ConfigurationError("confidence", f"must lie in (0, 1), got {confidence}")
    started = time.monotonic()
    expected = list(departments) or [str(d) for d in query.spec.departments]
    if not expected:
        raise ConfigurationError(
            "departments",
            f"dataset {query.dataset_id!r} declares no natural partition: name the "
            "departments asked",
        )
    nodes = _wait_for_nodes(grid, len(expected), node_wait)
    records: dict[str, ArrayRecord | MetricRecord | ConfigRecord] = {
        p.Record.QUERY: ConfigRecord(dict(query.to_config()))
    }
    if settings:
        records[p.Record.JOB] = ConfigRecord(dict(settings))
    messages = [
        Message(
            content=RecordDict(records),
            dst_node_id=node,
            message_type=MessageType.QUERY,
            group_id=query.query_id,
        )
        for node in nodes
    ]
    logger.info(
        "query %s (%s) sent to %d departments", query.query_id, query.kind, len(nodes)
    )
    replies = grid.send_and_receive(messages, timeout=timeout)
    reports, answers = _reports(replies, query, expected)
    estimates: tuple[tuple[Estimate, ...], ...] = ()
    if answers:
        total = np.sum([answer for answer, _ in answers], axis=0)
        stds = combined_noise_std([s for _, s in answers])
        estimates = decode_total(query, total, stds, confidence=confidence)
    result = QueryResult(
        query=query,
        confidence=confidence,
        groups=tuple(str(g) for g in query.group_levels),
        cells=query.cell_labels,
        estimates=estimates,
        departments=tuple(reports),
        elapsed_s=time.monotonic() - started,
    )
    logger.info(
        "query %s: %d of %d departments answered in %.2f s",
        query.query_id,
        len(result.answered),
        len(expected),
        result.elapsed_s,
    )
    return result


def query_to_run_config(query: Query) -> dict[str, str]:
    """``query`` as a run_config entry: a deployed run carries only scalars."""
    return {RUN_CONFIG_QUERY: json.dumps(query.to_config(), sort_keys=True)}


def query_from_run_config(run_config: Mapping[str, object]) -> Query | None:
    """The query a run_config asks for, validated; ``None`` when it asks for none.

    A dataset of the operator's own is read from the run_config's
    ``declaration`` (the coordinator's copy of the declaration file).
    """
    text = run_config.get(RUN_CONFIG_QUERY)
    if not text:
        return None
    try:
        config = json.loads(str(text))
    except ValueError as e:
        raise QueryError(RUN_CONFIG_QUERY, f"not JSON: {e}") from e
    if not isinstance(config, dict):
        raise QueryError(RUN_CONFIG_QUERY, "must be a JSON object")
    declaration = str(run_config.get("declaration") or "")
    return Query.from_config(config, declaration=declaration or None)
