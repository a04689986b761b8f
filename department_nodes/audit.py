"""The department's audit hook: a Flower ClientApp mod.

:class:`DepartmentAuditMod` wraps the department's handlers. Before a
handler runs it opens the department's key and log (a department that
cannot audit does not touch its data: the error propagates and Flower
answers with an error reply); after it, it derives the records from the
message and the reply, appends them in one durable transaction and signs a
new tree head, and only then lets the reply go. It audits

- plain train and evaluate messages (:mod:`department_nodes._audit_rounds`);
- the stage of a SecAgg+ round that trains (collect_masked_vectors of a
  ``train`` task): the same records as a plain round, the update's digest
  being that of the *unmasked* local update, which only the department
  ever sees; the other stages exchange keys and shares and touch no data;
- DP analytics queries (:mod:`department_nodes._audit_queries`);
- the access gate's decision on each of them (:mod:`department_nodes._audit_access`):
  the analyst's signed request it granted, or why it refused.
- every change of the department's budget book
  (:mod:`department_nodes._audit_budget`): limits created or changed are
  ``budget_grant`` records, each spend names the book generation it reached,
  and a spend no record says (a crash after the charge) is written from the
  book before the next message. Before the handler runs, the generation the
  log records becomes the floor below which the handler refuses to spend
  (a rolled-back or deleted book).

Every record names the dataset, the job's declared purpose, the job (a
query's id for a query), the Flower run and the round, and carries
``details["department"]`` and ``["phase"]``. Secure sums pass through: their
vectors come from providers the department registers, which do their own
accounting.

Order in ``ClientApp(mods=[...])``: the privacy boundary guard outermost,
this mod right after it, so it sees exactly what the handler returned.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from flwr.app import Message, MessageType

from department_nodes._audit_access import with_access_records
from department_nodes._audit_budget import BudgetSync
from department_nodes._audit_push import push_to_county
from department_nodes._audit_queries import department_query_records, parse_query
from department_nodes._audit_rounds import (
    department_round_records,
    is_training_stage,
    plain_outcome,
    secure_outcome,
)
from department_nodes._budget_floor import set_budget_floor
from department_nodes._handled import Handled, record_handled, take_handled
from department_nodes._message_job import message_job
from department_nodes.access import take_access
from department_nodes.data_access import DatasetMismatchError
from department_nodes.node import NodePolicy, is_personalisation, own_declaration
from department_nodes.secagg import is_secure_round, take_local_update
from fedgov import protocol as p
from fedgov.county import default_state_dir, find_county
from fedgov.data import DataError
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob
from fedgov.notices import warn_once
from ledger.actor_log import ActorLog, append_and_sign
from ledger.errors import AuditError
from ledger.keys import key_password, load_or_create_key
from ledger.layout import KEY_FILE, department_dir
from ledger.record_fields import STAGE, STAGE_PERSONALISE
from ledger.records import AuditRecord, now_ms
from ledger.tree_head import SigningDomain
from ledger.witness_client import CheckpointPublisher
from ledger.witness_policy import WitnessPolicy
from privacy.budget import open_budget_book

if TYPE_CHECKING:
    from flwr.app import Context
    from flwr.clientapp.typing import ClientAppCallable

    from privacy.mechanisms import Query

__all__ = [
    "DepartmentAuditMod",
    "Handled",
    "LedgerSettings",
    "department_records",
    "job_domain",
    "push_to_county",
    "record_handled",
]

_log = logging.getLogger(__name__)


def job_domain(job: TrainJob) -> SigningDomain | None:
    """The EIP-712 domain ``job``'s tree heads are signed for, if any."""
    if not job.ledger_registry:
        return None
    return SigningDomain(job.ledger_chain_id, job.ledger_registry)


@dataclass(frozen=True)
class LedgerSettings:
    """Where a department's heads go: the domain it signs for, its checkpoints."""

    domain: SigningDomain | None
    county: str
    witness_policy: Path | None

    @classmethod
    def resolve(
        cls, node_config: Mapping[str, object], job: TrainJob
    ) -> LedgerSettings:
        """The department's own node config first, then the job, then the county
        installed on this machine (:mod:`fedgov.county`).

        A department decides which registry it commits to, as it decides its
        budget: a node config naming one (``ledger-chain-id``,
        ``ledger-registry``) wins over whatever the job says.
        """
        county = find_county()
        domain: SigningDomain | None = None
        if node_config.get("ledger-registry"):
            domain = SigningDomain(
                int(str(node_config.get("ledger-chain-id", 0))),
                str(node_config["ledger-registry"]),
            )
        elif job.ledger_registry:
            domain = job_domain(job)
        elif county is not None:
            domain = SigningDomain(
                county.chain.chain_id, county.contracts.anchor_registry
            )
        name = str(
            node_config.get("county")
            or job.ledger_county
            or (county.county if county is not None else "")
        )
        policy = node_config.get("witness-policy")
        return cls(
            domain=domain,
            county=name,
            witness_policy=Path(str(policy))
            if policy
            else (county.witness_policy if county is not None else None),
        )

    def checkpoints(self) -> CheckpointPublisher | None:
        """The publisher of this department's checkpoints (``None``: no county)."""
        if self.domain is None or not self.county:
            return None
        policy = (
            WitnessPolicy.read(self.witness_policy)
            if self.witness_policy is not None
            else None
        )
        return CheckpointPublisher(self.county, policy)


def department_records(
    msg: Message,
    reply: Message,
    *,
    job: TrainJob,
    department: str,
    actor: str,
    handled: Handled | None,
    timestamp_ms: int,
    query: Query | None = None,
) -> list[AuditRecord]:
    """The records one handled plain message (train, evaluate, query) leaves.

    ``handled`` is what the train or evaluate handler said it did (unused
    for queries); ``query`` the query the message asks, as the department
    read it against its own declaration (default: read here against the
    built-in one). An error reply yields no record: what happened is unknown
    here.
    """
    if reply.has_error():
        return []
    if msg.metadata.message_type == MessageType.QUERY:
        return department_query_records(
            msg,
            reply,
            query if query is not None else parse_query(msg),
            job=job,
            department=department,
            actor=actor,
            timestamp_ms=timestamp_ms,
        )
    outcome = plain_outcome(msg, reply)
    if is_personalisation(msg) and handled is not None and handled.update_sha256:
        # The personalised model stays at the department: its digest is the
        # one the handler computed, and the record says it was kept.
        outcome = replace(
            outcome,
            update_hash=handled.update_sha256,
            details={STAGE: STAGE_PERSONALISE, "sent": "kept"},
        )
    if (
        handled is not None
        and handled.update_sha256 is not None
        and outcome.status == p.Status.OK
        and handled.update_sha256 != outcome.update_hash
    ):
        raise AuditError(
            f"{department}'s reply carries an update ({outcome.update_hash.hex()}) "
            f"other than the one it trained ({handled.update_sha256.hex()})"
        )
    return department_round_records(
        outcome,
        job=job,
        department=department,
        actor=actor,
        run=str(msg.metadata.run_id),
        handled=handled,
        timestamp_ms=timestamp_ms,
    )


class _Kind(Enum):
    ROUND = "round"
    """A plain train or evaluate message."""
    SECURE_TRAINING = "secure-training"
    """The stage of a SecAgg+ round that trains."""
    QUERY = "query"


def _kind(msg: Message) -> _Kind | None:
    """What ``msg`` is to the audit; ``None``: nothing to audit."""
    message_type = msg.metadata.message_type
    if message_type == MessageType.QUERY:
        return _Kind.QUERY
    if message_type == MessageType.EVALUATE:
        return _Kind.ROUND
    if message_type != MessageType.TRAIN:
        return None
    if not is_secure_round(msg):
        return _Kind.ROUND
    # The other stages exchange keys and shares and touch no data.
    return _Kind.SECURE_TRAINING if is_training_stage(msg) else None


class DepartmentAuditMod:
    """A Flower ClientApp mod that audits the department's rounds and queries.

    ``job`` is the job in-process simulations run (they have no run_config);
    without it the job comes from the run_config, as in a deployment. Its
    ``audit`` switch, signing domain and declared ``purpose`` apply to every
    message audited, queries included. The department and its state folder
    come from the node, as the handlers resolve them
    (:class:`department_nodes.node.NodePolicy`).
    """

    def __init__(self, job: TrainJob | None = None) -> None:
        self._job = job

    def __call__(
        self, msg: Message, context: Context, call_next: ClientAppCallable
    ) -> Message:
        kind = _kind(msg)
        if kind is None:
            return call_next(msg, context)
        job = self._job or message_job(msg, context)
        if not job.audit:
            _warn_disabled(job.job_id)
            return call_next(msg, context)
        query = None
        if kind is _Kind.QUERY:
            wire = msg.content.config_records.get(p.Record.QUERY)
            named = str(wire.get("dataset", job.dataset) if wire else job.dataset)
            query = parse_query(
                msg, declaration=own_declaration(context, self._job, named)
            )
        department, state_dir, budget_key = _department_of(
            context, job, self._job, kind, query
        )
        directory = department_dir(state_dir, department)
        account = load_or_create_key(directory / KEY_FILE, password=key_password())
        settings = LedgerSettings.resolve(context.node_config, job)
        if settings.domain is None:
            warn_once(
                f"department-unsigned:{department}",
                f"{department}: no registry to sign audit heads for (no county, no "
                "ledger-registry in the job or the node config): records are kept "
                "but commit the department to nothing",
            )
        checkpoints = settings.checkpoints()
        log = ActorLog(directory, account, settings.domain, checkpoints=checkpoints)
        sync = (
            BudgetSync(
                open_budget_book(state_dir, department, key=budget_key),
                account.address,
                department,
                job.purpose,
                job.job_id,
            )
            if budget_key is not None
            else None
        )
        try:
            with log.open() as store:
                if sync is not None:
                    recovered = sync.before(store)
                    if recovered:
                        append_and_sign(
                            store, recovered, account, log.domain, log.checkpoints
                        )
                    set_budget_floor(context.state, sync.floor)
                # Whatever an earlier, unaudited message left is not this one's.
                take_handled(context)
                take_access(context.state)
                if kind is _Kind.SECURE_TRAINING:
                    take_local_update(context)
                reply = call_next(msg, context)
                handled = take_handled(context)
                access = take_access(context.state)
                if kind is not _Kind.SECURE_TRAINING:
                    records = department_records(
                        msg,
                        reply,
                        job=job,
                        department=department,
                        actor=account.address,
                        handled=handled,
                        timestamp_ms=now_ms(),
                        query=query,
                    )
                elif reply.has_error():
                    records = []
                else:
                    records = department_round_records(
                        secure_outcome(msg, reply, take_local_update(context)),
                        job=job,
                        department=department,
                        actor=account.address,
                        run=str(msg.metadata.run_id),
                        handled=handled,
                        timestamp_ms=now_ms(),
                    )
                records = with_access_records(
                    records, access, store, timestamp_ms=now_ms()
                )
                if sync is not None:
                    records = sync.after(records)
                if records:
                    append_and_sign(
                        store, records, account, log.domain, log.checkpoints
                    )
                    push_to_county(context.node_config, store)
        finally:
            if checkpoints is not None:
                checkpoints.close()
        return reply


def _department_of(
    context: Context,
    job: TrainJob,
    in_process: TrainJob | None,
    kind: _Kind,
    query: Query | None,
) -> tuple[str, str, str | None]:
    """The department, its state folder and its budget book's key source
    (``None``: the handler refuses the message before any budget is touched)."""
    # As the handlers resolve it: a query's dataset, natural partition.
    if kind is _Kind.QUERY:
        dataset = query.dataset_id if query is not None else job.dataset
        job = replace(job, dataset=dataset, partition="natural")
    try:
        policy = NodePolicy.from_context(
            context, job, declaration=own_declaration(context, in_process, job.dataset)
        )
    except (ConfigurationError, DatasetMismatchError, DataError):
        # The handler refuses this message; its refusal is still this node's
        # to log, in the state folder the node config names.
        node = context.node_config
        name = node.get("department", f"partition-{node.get('partition-id', '?')}")
        state = node.get("state-dir") or job.state_dir or default_state_dir()
        return str(name), str(state), None
    return policy.department, str(policy.state_dir), policy.budget_key


def _warn_disabled(job_id: str) -> None:
    message = (
        f"job {job_id!r} runs with audit=False: this department keeps NO audit "
        "records of the data it reads"
    )
    warn_once(f"department-audit-off:{job_id}", message, stacklevel=3)
