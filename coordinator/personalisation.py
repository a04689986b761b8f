"""The coordinator's last message of a job with personalisation.

After the last federated round the coordinator sends every department one
more ``train`` message, flagged :attr:`fedgov.protocol.Instruction.PERSONALISE`
and numbered ``num_rounds + 1``, carrying the final global model. Each
department fine-tunes the model's final layer on its own records with DP-SGD
under what is left of the job's epsilon, charges that to its budget book,
audits it like a round and *keeps* the model (``docs/personalisation.md``);
its reply carries only the kept model's held-out evaluation and its epsilon
figures, which the coordinator writes into the run record
(``extra["personalisation"]``).

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


def _number_metrics(reply: Message) -> dict[str, float]:
    records = reply.content.metric_records
    if p.Record.METRICS not in records:
        return {}
    return {
        str(key): float(value)
        for key, value in records[p.Record.METRICS].items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def _outcome(reply: Message, node: int) -> PersonalisedDepartment:
    if reply.has_error():
        return PersonalisedDepartment(
            department=f"node-{node}",
            status="error",
            reason=reply.error.reason or "",
        )
    fedgov = reply.content.config_records.get(p.Record.FEDGOV, ConfigRecord())
    return PersonalisedDepartment(
        department=str(fedgov.get(p.Reply.DEPARTMENT, f"node-{node}")),
        status=str(fedgov.get(p.Reply.STATUS, "")),
        reason=str(fedgov.get(p.Reply.REASON, "")),
        metrics=_number_metrics(reply),
    )


def personalise_departments(
    grid: Grid,
    arrays: ArrayRecord,
    *,
    instruction: Mapping[str, str],
    server_round: int,
    timeout: float,
) -> list[PersonalisedDepartment]:
    """Ask every connected department to personalise ``arrays``; their answers,
    sorted by department."""
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
    outcomes = [
        _outcome(by_node[node], node)
        if node in by_node
        else PersonalisedDepartment(
            department=f"node-{node}", status="error", reason="no reply"
        )
        for node in nodes
    ]
    done = sum(o.status == p.Status.OK for o in outcomes)
    logger.info("personalisation: %d of %d departments", done, len(outcomes))
    return sorted(outcomes, key=lambda o: o.department)
