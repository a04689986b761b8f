"""A department's records of one training or evaluation message, plain or secure.

Both kinds of round reduce to a :class:`RoundOutcome` (what the department
did: status, figures, the update's digest), from which
:func:`department_round_records` derives the records:

==========  ================================================================
train ok    ``budget_spend`` (private jobs: the round's increase of the job's
            epsilon, the mechanism and the department's totals),
            ``data_read`` (training rows), ``train_round`` (the update's
            digest)
evaluate    ``data_read`` (held-out rows), ``evaluate``
refused     ``access_denied`` with the department's reason
==========  ================================================================

In a plain round the digest is :func:`fedgov.protocol.hash_arrays` of the
reply's arrays, the one the coordinator computes on receipt. In a SecAgg+
round (:func:`secure_outcome`) the reply is masked: the digest is of the
*unmasked* local update (the difference from the global model) that the
department computed before masking; nobody else ever sees that update, so
the coordinator cannot match it. A department that withholds an update it
finds unfit has still read its data and spent its budget: its records say
so, with ``details["sent"] == "withheld"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flwr.app import ConfigRecord, Message, MessageType
from flwr.common.secure_aggregation.secaggplus_constants import (
    RECORD_KEY_CONFIGS,
    Key,
    Stage,
)
from flwr.compat.common import recorddict_compat as compat

from fedgov import protocol as p
from fedgov.types import ActorId, DatasetId, JobId, RunId
from ledger.errors import AuditError
from ledger.record_fields import (
    ACCOUNTANT,
    AGGREGATION,
    MAX_REASON_CHARS,
    PHASE_EVALUATE,
    PHASE_TRAIN,
    SECURE_AGGREGATION,
    number_text,
)
from ledger.records import ZERO_HASH, Action, AuditRecord, Role

if TYPE_CHECKING:
    from collections.abc import Mapping

    from department_nodes._handled import Handled
    from department_nodes.secagg import LocalUpdate
    from fedgov.job import TrainJob

__all__ = [
    "RoundOutcome",
    "department_round_records",
    "is_training_stage",
    "plain_outcome",
    "secure_outcome",
]

_REPORTED = (p.Metric.EPSILON_JOB, p.Metric.EPSILON_TOTAL, p.Metric.EPSILON_LIMIT)


@dataclass(frozen=True)
class RoundOutcome:
    """What one train or evaluate message made the department do."""

    phase: str
    server_round: int
    status: str
    """``ok``, ``refused`` or (secure rounds) ``rejected``: trained, not sent."""
    reason: str
    metrics: Mapping[str, int | float]
    update_hash: bytes = ZERO_HASH
    examples: int | None = None
    """Rows trained on, when the reply's ``num-examples`` does not say it."""
    details: Mapping[str, str] = field(default_factory=dict)
    """Added to the ``train_round`` record (how the update left)."""


def _numbers(values: Mapping[str, object]) -> dict[str, int | float]:
    return {
        key: value
        for key, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def plain_outcome(msg: Message, reply: Message) -> RoundOutcome:
    """The outcome of a plain train or evaluate message and its (non-error) reply."""
    phase = (
        PHASE_TRAIN
        if msg.metadata.message_type == MessageType.TRAIN
        else PHASE_EVALUATE
    )
    config = msg.content.config_records.get(p.Record.CONFIG, ConfigRecord())
    round_value = config.get(p.Instruction.SERVER_ROUND, 0)
    fedgov = reply.content.config_records.get(p.Record.FEDGOV, ConfigRecord())
    records = reply.content.metric_records
    metrics = _numbers(records[p.Record.METRICS]) if p.Record.METRICS in records else {}
    arrays = reply.content.array_records.get(p.Record.ARRAYS)
    return RoundOutcome(
        phase=phase,
        server_round=round_value if isinstance(round_value, int) else 0,
        status=str(fedgov.get(p.Reply.STATUS, p.Status.OK)),
        reason=str(fedgov.get(p.Reply.REASON, "")),
        metrics=metrics,
        update_hash=p.hash_arrays(arrays) if arrays is not None else ZERO_HASH,
    )


def is_training_stage(msg: Message) -> bool:
    """Whether ``msg`` is the SecAgg+ stage in which the department trains.

    That is collect_masked_vectors (the stage in which ``secaggplus_mod``
    calls the department) of a ``train`` task; secure sums and the stages
    that exchange keys and shares are not.
    """
    configs = msg.content.config_records.get(RECORD_KEY_CONFIGS, ConfigRecord())
    if configs.get(Key.STAGE) != Stage.COLLECT_MASKED_VECTORS:
        return False
    instruction = compat.recorddict_to_fitins(msg.content, keep_input=True)
    return instruction.config.get(p.SecAgg.TASK) == p.SecAggTask.TRAIN


def secure_outcome(
    msg: Message, reply: Message, local: LocalUpdate | None
) -> RoundOutcome:
    """The outcome of the SecAgg+ stage that trains, from what stays in clear.

    ``msg`` is the collect_masked_vectors instruction (its legacy FitIns
    carries the round), ``reply`` the masked reply (its FitRes metrics carry
    the department's status and epsilon figures in clear), ``local`` what the
    department computed before masking (:func:`department_nodes.secagg.take_local_update`).
    """
    instruction = compat.recorddict_to_fitins(msg.content, keep_input=True)
    fitres = compat.recorddict_to_fitres(reply.content, keep_input=True)
    round_value = instruction.config.get(p.Instruction.SERVER_ROUND, 0)
    status = str(fitres.metrics.get(p.Reply.STATUS, ""))
    details = {AGGREGATION: SECURE_AGGREGATION}
    if local is not None:
        details["sent"] = "withheld" if status == p.Status.REJECTED else "masked"
    return RoundOutcome(
        phase=PHASE_TRAIN,
        server_round=round_value if isinstance(round_value, int) else 0,
        status=status,
        reason=str(fitres.metrics.get(p.Reply.REASON, "")),
        metrics=_numbers(fitres.metrics),
        update_hash=local.sha256 if local is not None else ZERO_HASH,
        examples=local.num_examples if local is not None else None,
        details=details,
    )


def department_round_records(
    outcome: RoundOutcome,
    *,
    job: TrainJob,
    department: str,
    actor: str,
    run: str,
    handled: Handled | None,
    timestamp_ms: int,
) -> list[AuditRecord]:
    """The records ``outcome`` leaves in the department's log.

    ``handled`` is what the handler said it did (:mod:`department_nodes._handled`):
    the rows it read and, for a private round, the mechanism it charged and
    what that added to the job's epsilon. A message that trained or
    evaluated without saying so is an :class:`~ledger.errors.AuditError`. A
    secure round that neither trained nor refused (an unexpected status)
    leaves nothing: what happened is unknown here.
    """

    def record(
        action: Action, *, details: Mapping[str, str], **fields: object
    ) -> AuditRecord:
        return AuditRecord(
            actor=ActorId(actor),
            role=Role.DEPARTMENT,
            action=action,
            timestamp_ms=timestamp_ms,
            dataset=DatasetId(job.dataset),
            purpose=job.purpose,
            job=JobId(job.job_id),
            run=RunId(run),
            round=outcome.server_round,
            details={"department": department, "phase": outcome.phase, **details},
            **fields,  # type: ignore[arg-type]
        )

    metrics = outcome.metrics
    if outcome.status == p.Status.REFUSED:
        details = {"reason": outcome.reason[:MAX_REASON_CHARS]}
        details.update(
            (key, number_text(metrics[key]))
            for key in (p.Metric.EPSILON_TOTAL, p.Metric.EPSILON_LIMIT)
            if key in metrics
        )
        return [record(Action.ACCESS_DENIED, details=details)]
    if outcome.status not in (p.Status.OK, p.Status.REJECTED):
        return []

    if handled is None or handled.phase != outcome.phase:
        raise AuditError(
            f"{department}'s {outcome.phase} handler answered {outcome.status} but did "
            "not say what it did: nothing to audit, so the reply may not leave"
        )
    examples = outcome.examples if outcome.examples is not None else handled.rows
    split = "train" if outcome.phase == PHASE_TRAIN else "held-out"
    read = record(Action.DATA_READ, details={"split": split}, record_count=examples)
    if outcome.phase == PHASE_EVALUATE:
        return [read, record(Action.EVALUATE, details={}, record_count=examples)]

    private = handled.noise_multiplier > 0
    out: list[AuditRecord] = []
    if private:
        details = {
            key: number_text(metrics[key]) for key in _REPORTED if key in metrics
        }
        details.update(
            {
                p.Metric.NOISE_MULTIPLIER: number_text(handled.noise_multiplier),
                p.Metric.SAMPLE_RATE: number_text(handled.sample_rate),
                p.Metric.STEPS: number_text(handled.steps),
                # The accountant that charged the round and composed its
                # epsilon figures; the auditor follows it.
                ACCOUNTANT: handled.accountant or job.accountant.value,
            }
        )
        out.append(
            record(
                Action.BUDGET_SPEND,
                details=details,
                epsilon=max(0.0, handled.epsilon),
                delta=job.delta,
            )
        )
    out.append(read)
    out.append(
        record(
            Action.TRAIN_ROUND,
            details={"dp": "on" if private else "off", **outcome.details},
            record_count=examples,
            result_hash=outcome.update_hash,
        )
    )
    if handled.evaluated:
        # Personalisation evaluates the model it keeps on the held-out split.
        out.append(
            record(
                Action.DATA_READ,
                details={"split": "held-out"},
                record_count=handled.evaluated,
            )
        )
        out.append(record(Action.EVALUATE, details={}, record_count=handled.evaluated))
    return out
