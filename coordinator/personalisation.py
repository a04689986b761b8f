"""The coordinator's last message of a job with personalisation.

After the last federated round the coordinator sends every department one
more ``train`` message, flagged :attr:`fedgov.protocol.Instruction.PERSONALISE`
and numbered ``num_rounds + 1``, carrying the final global model. Each
department fine-tunes the model's final layer on its own records with DP-SGD
under what is left of the job's epsilon, charges that to its budget book,
audits it like a round and *keeps* the model (``docs/personalisation.md``);
its reply carries only the kept model's held-out evaluation and its epsilon
figures, which the coordinator writes into the run record
(``extra["personalisation"]``). Those figures are checked as a round's are
(:mod:`coordinator._reply_checks`): a reply carrying arrays, a metric that is
not a finite number in its range, a count above the job's ``max_examples``,
or a department claimed by two replies is recorded as ``rejected`` with the
rule it broke, its figures left out.

A message the coordinator sends, rather than something each ClientApp does
by itself after its last round, because a department cannot tell which round
is its last (a round may be retried or the job stop early), and because the
model to fine-tune is the *final* aggregate, which only the coordinator has.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from coordinator._reply_checks import (
    duplicated,
    examples_problem,
    metrics_problem,
    structure_problem,
)
from fedgov import protocol as p

__all__ = ["PersonalisedDepartment", "personalise_departments"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PersonalisedDepartment:
    """One department's answer to the personalisation message."""

    department: str
    status: str
    reason: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "department": self.department,
            "status": self.status,
            "reason": self.reason,
            "metrics": dict(self.metrics),
        }


def _raw_metrics(reply: Message) -> dict[str, object]:
    records = reply.content.metric_records
    if p.Record.METRICS not in records:
        return {}
    return dict(records[p.Record.METRICS].items())


def _department(reply: Message, node: int) -> str:
    fedgov = reply.content.config_records.get(p.Record.FEDGOV, ConfigRecord())
    return str(fedgov.get(p.Reply.DEPARTMENT, f"node-{node}"))


def _problem(reply: Message, status: str, *, max_examples: int) -> str | None:
    content = reply.content
    raw = _raw_metrics(reply)
    problem = structure_problem(
        content.array_records.keys(), content.metric_records.keys(), needs_arrays=False
    ) or metrics_problem(raw)
    if problem is None and status == p.Status.OK:
        # The personalised model trained and was evaluated on records it counts.
        problem = examples_problem(raw, max_examples=max_examples, first=None)
    return problem


def _outcome(
    reply: Message, node: int, *, max_examples: int, claimed_twice: set[str]
) -> PersonalisedDepartment:
    if reply.has_error():
        return PersonalisedDepartment(
            department=f"node-{node}",
            status="error",
            reason=reply.error.reason or "",
        )
    fedgov = reply.content.config_records.get(p.Record.FEDGOV, ConfigRecord())
    department = _department(reply, node)
    if department in claimed_twice:
        # Which reply is the department's own cannot be told: neither is used.
        return PersonalisedDepartment(
            department=f"node-{node}",
            status=p.Outcome.REJECTED,
            reason=f"claims department {department!r}, as another reply does",
        )
    status = str(fedgov.get(p.Reply.STATUS, ""))
    problem = _problem(reply, status, max_examples=max_examples)
    if problem is not None:
        logger.warning("personalisation reply of %s rejected: %s", department, problem)
        return PersonalisedDepartment(
            department=department, status=p.Outcome.REJECTED, reason=problem
        )
    return PersonalisedDepartment(
        department=department,
        status=status,
        reason=str(fedgov.get(p.Reply.REASON, "")),
        metrics={
            str(key): float(value)
            for key, value in _raw_metrics(reply).items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        },
    )


def personalise_departments(
    grid: Grid,
    arrays: ArrayRecord,
    *,
    instruction: Mapping[str, str],
    server_round: int,
    timeout: float,
    max_examples: int,
) -> list[PersonalisedDepartment]:
    """Ask every connected department to personalise ``arrays``; their answers,
    sorted by department, each checked as a round's reply is (``max_examples``:
    the job's cap on a reported count)."""
    config = ConfigRecord(
        {
            **instruction,
            p.Instruction.SERVER_ROUND: server_round,
            p.Instruction.PERSONALISE: True,
        }
    )
    nodes = list(grid.get_node_ids())
    messages = [
        Message(
            content=RecordDict({p.Record.ARRAYS: arrays, p.Record.CONFIG: config}),
            dst_node_id=node,
            message_type=MessageType.TRAIN,
        )
        for node in nodes
    ]
    replies = list(grid.send_and_receive(messages, timeout=timeout))
    by_node = {reply.metadata.src_node_id: reply for reply in replies}
    claimed_twice = duplicated(
        _department(reply, node)
        for node, reply in by_node.items()
        if not reply.has_error()
    )
    outcomes = [
        _outcome(
            by_node[node],
            node,
            max_examples=max_examples,
            claimed_twice=claimed_twice,
        )
        if node in by_node
        else PersonalisedDepartment(
            department=f"node-{node}", status="error", reason="no reply"
        )
        for node in nodes
    ]
    done = sum(o.status == p.Status.OK for o in outcomes)
    logger.info("personalisation: %d of %d departments", done, len(outcomes))
    return sorted(outcomes, key=lambda o: o.department)
