"""The department's audit hook: a Flower ClientApp mod.

:class:`DepartmentAuditMod` wraps the department's train and evaluate
handlers. Before the handler runs it opens the department's key and log (a
department that cannot audit does not touch its data: the error propagates
and Flower answers with an error reply); after it, it derives the records
from the message and the reply (:func:`department_records`), appends them in
one durable transaction and signs a new tree head, and only then lets the
reply go. Per message:

==========  ================================================================
train ok    ``budget_spend`` (private jobs: the round's increase of the job's
            epsilon, the mechanism and the department's totals),
            ``data_read`` (training rows), ``train_round`` (SHA-256 of the
            update, :func:`fedgov.protocol.hash_arrays`: the digest the
            coordinator computes on receipt)
evaluate    ``data_read`` (held-out rows), ``evaluate``
refused     ``access_denied`` with the department's reason
==========  ================================================================

Every record names the dataset, the job's declared purpose, the job, the
Flower run and the round, and carries ``details["department"]``. Messages of
other types (analytics queries) pass through untouched: their handlers log
their own records. So do the stages of a SecAgg+ round, whose replies carry
masked shares rather than an update: auditing secure rounds needs a hook in
the stage that trains (not done yet).

Order in ``ClientApp(mods=[...])``: the privacy boundary guard outermost,
this mod right after it, so it sees exactly what the handler returned.
"""

from __future__ import annotations

import json
import logging
import warnings
from typing import TYPE_CHECKING, Final

from flwr.app import ConfigRecord, Message, MessageType

from fedgov import protocol as p
from fedgov.job import TrainJob
from fedgov.types import ActorId, DatasetId, JobId, RunId
from ledger.audit.actor_log import ActorLog, append_and_sign
from ledger.audit.keys import key_password, load_or_create_key
from ledger.audit.layout import KEY_FILE, department_dir
from ledger.records import ZERO_HASH, Action, AuditRecord, Role, now_ms
from ledger.tree_head import SigningDomain

if TYPE_CHECKING:
    from flwr.app import Context
    from flwr.clientapp.typing import ClientAppCallable

    from ledger.store import LogStore

__all__ = [
    "PHASE_EVALUATE",
    "PHASE_TRAIN",
    "DepartmentAuditMod",
    "department_records",
    "job_domain",
    "number_text",
    "previous_job_epsilon",
]

_log = logging.getLogger(__name__)

PHASE_TRAIN: Final = "train"
PHASE_EVALUATE: Final = "evaluate"
MAX_REASON_CHARS = 2000
"""A refusal's reason is cut to this length (a record holds statements)."""
_BUDGET_DETAILS = (
    "epsilon-job",
    "epsilon-total",
    "epsilon-limit",
    "noise-multiplier",
    "sample-rate",
    "steps",
)


def number_text(value: float | int) -> str:
    """A metric as record text: ``repr`` of the float, so it reads back exactly."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return repr(float(value))


def job_domain(job: TrainJob) -> SigningDomain | None:
    """The EIP-712 domain ``job``'s tree heads are signed for, if any."""
    if not job.ledger_registry:
        return None
    return SigningDomain(job.ledger_chain_id, job.ledger_registry)


def department_records(
    msg: Message,
    reply: Message,
    *,
    job: TrainJob,
    department: str,
    actor: str,
    previous_epsilon_job: float,
    timestamp_ms: int,
) -> list[AuditRecord]:
    """The records one handled message leaves in the department's log.

    ``previous_epsilon_job`` is the job's epsilon as the department's last
    ``budget_spend`` record of this job reported it (0 for the job's first).
    An error reply yields no record: what happened is unknown here.
    """
    if reply.has_error():
        return []
    phase = (
        PHASE_TRAIN
        if msg.metadata.message_type == MessageType.TRAIN
        else PHASE_EVALUATE
    )
    config = msg.content.config_records.get(p.CONFIG, ConfigRecord())
    round_value = config.get("server-round", 0)
    server_round = round_value if isinstance(round_value, int) else 0
    fedgov = reply.content.config_records.get(p.FEDGOV, ConfigRecord())
    metrics = _scalars(reply)

    def record(
        action: Action, *, details: dict[str, str], **fields: object
    ) -> AuditRecord:
        return AuditRecord(
            actor=ActorId(actor),
            role=Role.DEPARTMENT,
            action=action,
            timestamp_ms=timestamp_ms,
            dataset=DatasetId(job.dataset),
            purpose=job.purpose,
            job=JobId(job.job_id),
            run=RunId(str(msg.metadata.run_id)),
            round=server_round,
            details={"department": department, "phase": phase, **details},
            **fields,  # type: ignore[arg-type]
        )

    if str(fedgov.get(p.KEY_STATUS, p.STATUS_OK)) == p.STATUS_REFUSED:
        details = {"reason": str(fedgov.get(p.KEY_REASON, ""))[:MAX_REASON_CHARS]}
        details.update(
            (key, number_text(metrics[key]))
            for key in ("epsilon-total", "epsilon-limit")
            if key in metrics
        )
        return [record(Action.ACCESS_DENIED, details=details)]

    examples = int(metrics.get(p.NUM_EXAMPLES, 0))
    split = "train" if phase == PHASE_TRAIN else "held-out"
    read = record(Action.DATA_READ, details={"split": split}, record_count=examples)
    if phase == PHASE_EVALUATE:
        return [read, record(Action.EVALUATE, details={}, record_count=examples)]

    private = metrics.get("noise-multiplier", 0.0) > 0
    out: list[AuditRecord] = []
    if private:
        epsilon_job = float(metrics.get("epsilon-job", 0.0))
        out.append(
            record(
                Action.BUDGET_SPEND,
                details={
                    key: number_text(metrics[key])
                    for key in _BUDGET_DETAILS
                    if key in metrics
                },
                # A decrease is not spending: recorded as 0, and the auditor,
                # who recomputes every figure, reports the inconsistency.
                epsilon=max(0.0, epsilon_job - previous_epsilon_job),
                delta=job.delta,
            )
        )
    arrays = reply.content.array_records.get(p.ARRAYS)
    update_hash = p.hash_arrays(arrays) if arrays is not None else ZERO_HASH
    out.append(read)
    out.append(
        record(
            Action.TRAIN_ROUND,
            details={"dp": "on" if private else "off"},
            record_count=examples,
            result_hash=update_hash,
        )
    )
    return out


def _scalars(reply: Message) -> dict[str, int | float]:
    records = reply.content.metric_records
    if p.METRICS not in records:
        return {}
    return {
        key: value
        for key, value in records[p.METRICS].items()
        if isinstance(value, int | float)
    }


def previous_job_epsilon(store: LogStore, *, job_id: str, dataset: str) -> float:
    """The job's epsilon in the newest ``budget_spend`` record of this job.

    Scans backwards; the raw bytes are filtered before any record is decoded,
    so older records of other jobs cost a substring search each.
    """
    action = b'"action":"budget_spend"'
    job = b'"job":' + json.dumps(job_id, ensure_ascii=False).encode()
    end = store.size
    while end > 0:
        start = max(0, end - 256)
        chunk = store.encoded_records(start, end)
        for data in reversed(chunk):
            if action in data and job in data:
                found = AuditRecord.decode(data)
                if found.job == job_id and found.dataset == dataset:
                    return float(found.details.get("epsilon-job", "0"))
        end = start
    return 0.0


class DepartmentAuditMod:
    """A Flower ClientApp mod that audits the department's train/evaluate messages.

    ``job`` is the job in-process simulations run (they have no run_config);
    without it the job comes from the run_config, as in a deployment. The
    department and its state folder come from the node, as the handlers
    resolve them (:class:`department_nodes.node.NodePolicy`).
    """

    def __init__(self, job: TrainJob | None = None) -> None:
        self._job = job

    def __call__(
        self, msg: Message, context: Context, call_next: ClientAppCallable
    ) -> Message:
        if msg.metadata.message_type not in (
            MessageType.TRAIN,
            MessageType.EVALUATE,
        ) or _secure_stage(msg):
            return call_next(msg, context)
        job = self._job or TrainJob.from_run_config(context.run_config)
        if not job.audit:
            _warn_disabled(job.job_id)
            return call_next(msg, context)
        department, state_dir = _department_of(context, job)
        directory = department_dir(state_dir, department)
        account = load_or_create_key(directory / KEY_FILE, password=key_password())
        log = ActorLog(directory, account, job_domain(job))
        with log.open() as store:
            reply = call_next(msg, context)
            records = department_records(
                msg,
                reply,
                job=job,
                department=department,
                actor=account.address,
                previous_epsilon_job=previous_job_epsilon(
                    store, job_id=job.job_id, dataset=job.dataset
                ),
                timestamp_ms=now_ms(),
            )
            if records:
                append_and_sign(store, records, account, log.domain)
        return reply


def _department_of(context: Context, job: TrainJob) -> tuple[str, str]:
    # Imported here: the node module pulls in torch, which the auditor's side
    # of this package never needs; a department has it loaded already.
    from department_nodes.data_access import departments_for
    from department_nodes.node import NodePolicy

    policy = NodePolicy.from_context(context, job, departments_for(job))
    return policy.department, str(policy.state_dir)


def _secure_stage(msg: Message) -> bool:
    # A SecAgg+ round is several messages whose replies carry masked shares,
    # not an update: recording them as rounds would be wrong (see the docs).
    from department_nodes.secagg import is_secure_round

    return is_secure_round(msg)


_warned_jobs: set[str] = set()


def _warn_disabled(job_id: str) -> None:
    if job_id in _warned_jobs:
        return
    _warned_jobs.add(job_id)
    message = (
        f"job {job_id!r} runs with audit=False: this department keeps NO audit "
        "records of the data it reads"
    )
    warnings.warn(message, UserWarning, stacklevel=3)
    _log.warning(message)
