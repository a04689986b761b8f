"""The coordinator's audit hook: an ``on_round`` observer and the job's bookends.

:class:`CoordinatorAudit` writes the coordinator's side of a job into its own
log (:class:`~ledger.actor_log.ActorLog`), signing a head after each
commit:

- ``job_submit`` (:meth:`CoordinatorAudit.record_roster`): the job, its
  purpose and privacy parameters, and the audit address of every department
  taking part (``details["department:<name>"]``), so that an auditor knows
  whose log speaks for which department;
- per round (:meth:`CoordinatorAudit.observe`, the ``on_round`` callback),
  one ``aggregate`` record per department (``details["entry"] ==
  "department"``: its train status, the update hash it sent, the epsilon it
  reported, its reason when refused or rejected, whether it evaluated), then
  one ``aggregate`` record for the round (``"entry" == "round"``) carrying
  the aggregate's hash. One record per department keeps every record small
  whatever the federation's size;
- ``model_export`` (:meth:`CoordinatorAudit.record_model_export`): the
  SHA-256 of the checkpoint file and the final aggregate's hash; once a
  head covering it is signed, the model's provenance manifest (job,
  departments, each one's epsilon, that head) is written next to the file,
  signed with the coordinator's key (:mod:`ledger.provenance`);
- per DP analytics query (:meth:`CoordinatorAudit.record_query`, the
  ``on_result`` callback), one ``analytics_query`` record per department
  (its status and reported epsilon), then one for the query (what was asked,
  who answered or refused, the digest of the released result).

In a SecAgg+ job the coordinator never sees a department's update: the
per-department ``aggregate`` records carry no update hash and, like the
round's, ``details["aggregation"] == "secagg+"``; the round's hash is of the
new global model, as in a plain round.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from fedgov import protocol as p
from fedgov.notices import warn_once
from fedgov.types import ActorId, DatasetId, JobId
from ledger.actor_log import ActorLog
from ledger.errors import AuditError, LedgerError
from ledger.keys import key_password, load_or_create_key
from ledger.layout import (
    KEY_FILE,
    LOG_NAME,
    coordinator_dir,
    department_address,
    department_dir,
    find_logs,
    log_path,
)
from ledger.provenance import ModelProvenance, SignedProvenance, write_manifest
from ledger.record_fields import (
    AGGREGATION,
    ENTRY_DEPARTMENT,
    ENTRY_QUERY,
    ENTRY_ROUND,
    MAX_REASON_CHARS,
    ROSTER_PREFIX,
    SECURE_AGGREGATION,
    file_sha256,
    number_text,
    query_result_sha256,
    query_sha256,
)
from ledger.records import ZERO_HASH, Action, AuditRecord, Role, now_ms
from ledger.relay import AnchorPolicy
from ledger.tree_head import SigningDomain, log_id_for
from ledger.witness_client import CheckpointPublisher

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from coordinator.analytics import QueryResult
    from coordinator.guard import DepartmentOutcome, RoundReport
    from fedgov.job import TrainJob
    from fedgov.run_record import RunRecord
    from ledger.anchor_registry import AnchoredHead
    from ledger.county_ledger import CountyLedger
    from ledger.relay import AnchorRelay
    from ledger.tree_head import SignedTreeHead

__all__ = [
    "RELAY_POLICY",
    "CoordinatorAudit",
    "coordinator_query_records",
    "model_export_record",
    "roster_record",
    "round_records",
]

_log = logging.getLogger(__name__)

RELAY_POLICY = AnchorPolicy(interval_s=5.0, every_records=1_000, poll_s=0.5)
"""The relay's policy during a run: a record waits at most ~5 s for an anchor."""

_REPORTED = (p.Metric.EPSILON_JOB, p.Metric.EPSILON_TOTAL, p.Metric.EPSILON_LIMIT)


def _record(
    job: TrainJob, actor: str, action: Action, timestamp_ms: int, **fields: object
) -> AuditRecord:
    return AuditRecord(
        actor=ActorId(actor),
        role=Role.COORDINATOR,
        action=action,
        timestamp_ms=timestamp_ms,
        dataset=DatasetId(job.dataset),
        purpose=job.purpose,
        job=JobId(job.job_id),
        **fields,  # type: ignore[arg-type]
    )


def roster_record(
    job: TrainJob, *, actor: str, departments: Mapping[str, str], timestamp_ms: int
) -> AuditRecord:
    """The ``job_submit`` record: the job and who speaks for each department."""
    details = {
        f"{ROSTER_PREFIX}{name}": address for name, address in departments.items()
    }
    details.update(
        {
            "strategy": job.strategy,
            "num-rounds": str(job.num_rounds),
            "epsilon": "none" if job.epsilon is None else number_text(job.epsilon),
            "delta": number_text(job.delta),
            "budget-epsilon": number_text(job.budget_epsilon),
        }
    )
    return _record(job, actor, Action.JOB_SUBMIT, timestamp_ms, details=details)


def _aggregation(job: TrainJob) -> dict[str, str]:
    # Said only when updates were not summed in the clear, so that plain
    # rounds' records stay as they were.
    return {AGGREGATION: SECURE_AGGREGATION} if job.secure_aggregation else {}


def _entry(
    job: TrainJob,
    actor: str,
    timestamp_ms: int,
    server_round: int,
    name: str,
    train: DepartmentOutcome | None,
    evaluate: DepartmentOutcome | None,
) -> AuditRecord:
    details = {
        "entry": ENTRY_DEPARTMENT,
        "department": name,
        "train": train.status if train is not None else "none",
        "evaluate": "none" if evaluate is None else evaluate.status,
        **_aggregation(job),
    }
    examples = 0
    update = ZERO_HASH
    if train is not None:
        details["node"] = str(train.node_id)
        if train.reason:
            details["reason"] = train.reason[:MAX_REASON_CHARS]
        details.update(
            (key, number_text(train.metrics[key]))
            for key in _REPORTED
            if key in train.metrics
        )
        if train.status == p.Outcome.TRAINED:
            # A dropped reply's count is its claim, kept only in its reason.
            examples = int(train.metrics.get(p.Metric.NUM_EXAMPLES, 0))
        if train.update_hash:
            update = bytes.fromhex(train.update_hash)
    return _record(
        job,
        actor,
        Action.AGGREGATE,
        timestamp_ms,
        round=server_round,
        record_count=examples,
        result_hash=update,
        details=details,
    )


def round_records(
    report: RoundReport, *, job: TrainJob, actor: str, timestamp_ms: int
) -> list[AuditRecord]:
    """A round's ``aggregate`` records: one per department, then the round's."""
    train = {o.department: o for o in report.train}
    evaluate = {o.department: o for o in report.evaluate}
    names = list(dict.fromkeys([*train, *evaluate]))
    out = [
        _entry(
            job,
            actor,
            timestamp_ms,
            report.server_round,
            name,
            train.get(name),
            evaluate.get(name),
        )
        for name in names
    ]
    by_status: dict[str, list[str]] = {}
    for outcome in report.train:
        by_status.setdefault(outcome.status, []).append(outcome.department)
    trained = [o for o in report.train if o.update_hash]
    details = {
        "entry": ENTRY_ROUND,
        "strategy": job.strategy,
        **_aggregation(job),
        **{status: json.dumps(sorted(who)) for status, who in by_status.items()},
    }
    out.append(
        _record(
            job,
            actor,
            Action.AGGREGATE,
            timestamp_ms,
            round=report.server_round,
            record_count=sum(
                int(o.metrics.get(p.Metric.NUM_EXAMPLES, 0)) for o in trained
            ),
            result_hash=bytes.fromhex(report.aggregate_hash)
            if report.aggregate_hash
            else ZERO_HASH,
            details=details,
        )
    )
    return out


def model_export_record(
    record: RunRecord, *, job: TrainJob, actor: str, timestamp_ms: int
) -> AuditRecord:
    """The ``model_export`` record of a finished run (its checkpoint's SHA-256)."""
    if record.checkpoint is None:
        raise AuditError("the run record names no checkpoint: no model was exported")
    checkpoint = Path(record.checkpoint)
    try:
        digest = file_sha256(checkpoint)
    except OSError as e:
        raise AuditError(
            f"cannot hash the checkpoint {checkpoint}: {e.strerror}"
        ) from e
    hashes = [str(r.get("aggregate_hash", "")) for r in record.rounds]
    final = next((h for h in reversed(hashes) if h), "")
    return _record(
        job,
        actor,
        Action.MODEL_EXPORT,
        timestamp_ms,
        round=len(record.rounds),
        result_hash=digest,
        details={
            "checkpoint": checkpoint.name,
            "final-aggregate": final,
            "engine": record.engine,
        },
    )


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
            dataset=DatasetId(query.dataset_id),
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
        if report.status == p.Status.OK:
            details[p.Metric.EPSILON_QUERY] = number_text(report.epsilon_query)
        if report.status == p.Status.OK or report.epsilon_limit > 0:
            details[p.Metric.EPSILON_TOTAL] = number_text(report.epsilon_total)
            details[p.Metric.EPSILON_LIMIT] = number_text(report.epsilon_limit)
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


class CoordinatorAudit:
    """Writes the coordinator's records for ``job`` into ``log``.

    ``relay`` anchors the heads of every log it watches (the coordinator's
    and the departments' under the same state folder) while the run lasts;
    :meth:`close` anchors what is left. :meth:`open` builds all of it from
    the job and the county's ledger.
    """

    def __init__(
        self,
        log: ActorLog,
        job: TrainJob,
        *,
        relay: AnchorRelay | None = None,
        roster: Mapping[str, str] | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.log = log
        self.job = job
        self.relay = relay
        self.roster = dict(roster or {})
        """Department name -> the audit address it writes under."""
        self.state_dir = state_dir

    @classmethod
    def open(
        cls,
        job: TrainJob,
        *,
        ledger: CountyLedger | None,
        state_dir: Path,
        departments: Sequence[str],
        relay_policy: AnchorPolicy = RELAY_POLICY,
    ) -> CoordinatorAudit:
        """The coordinator's hook for ``job``: its key, log, roster and relay.

        The key is created in ``state_dir`` on first use. With a ``ledger``,
        heads are signed for its registry, published as checkpoints of its
        county, and anchored by a relay (the coordinator's role is granted
        when the ledger holds the admin key); without one, for the job's own
        registry if it names one, else not at all (a warning says so).
        """
        directory = coordinator_dir(state_dir)
        account = load_or_create_key(directory / KEY_FILE, password=key_password())
        roster = {
            name: address
            for name in departments
            if (address := department_address(state_dir, name)) is not None
        }
        if ledger is None:
            domain = (
                SigningDomain(job.ledger_chain_id, job.ledger_registry)
                if job.ledger_registry
                else None
            )
            if domain is None:
                warn_once(
                    "coordinator-unanchored",
                    "no county ledger (`fedgov init`): audit records are kept in "
                    f"{state_dir} but no tree head is signed or anchored",
                )
            log = ActorLog(directory, account, domain)
            return cls(log, job, roster=roster, state_dir=state_dir)
        ledger.ensure_role(account.address, Role.COORDINATOR)
        log = ActorLog(
            directory,
            account,
            ledger.domain,
            checkpoints=CheckpointPublisher(ledger.county, ledger.witness_policy),
        )
        watched = [log.path, *find_logs(state_dir)]
        watched += [
            log_path(department_dir(state_dir, name), address)
            for name, address in roster.items()
        ]
        relay = ledger.relay(dict.fromkeys(watched), policy=relay_policy)
        relay.start()
        return cls(log, job, relay=relay, roster=roster, state_dir=state_dir)

    @property
    def actor(self) -> str:
        return str(self.log.account.address)

    def _commit(self, records: list[AuditRecord]) -> SignedTreeHead | None:
        head = self.log.commit(records)
        if self.relay is not None:
            self.relay.notify()
        return head

    def record_roster(self, departments: Mapping[str, str] | None = None) -> None:
        """Write the ``job_submit`` record naming each department's address."""
        self._commit(
            [
                roster_record(
                    self.job,
                    actor=self.actor,
                    departments=self.roster if departments is None else departments,
                    timestamp_ms=now_ms(),
                )
            ]
        )

    def observe(self, report: RoundReport) -> None:
        """The ``on_round`` callback: record what the round did."""
        self._commit(
            round_records(report, job=self.job, actor=self.actor, timestamp_ms=now_ms())
        )

    def record_model_export(self, record: RunRecord) -> Path | None:
        """Write the ``model_export`` record of the finished run, then the
        model's signed provenance manifest; return the manifest's path
        (``None`` when no head is signed: no registry to sign for)."""
        export = model_export_record(
            record, job=self.job, actor=self.actor, timestamp_ms=now_ms()
        )
        head = self._commit([export])
        if head is None or self.log.domain is None or record.checkpoint is None:
            return None
        statement = ModelProvenance(
            model_sha256=export.result_hash,
            job=self.job.job_id,
            job_digest=self.job.digest(),
            epsilons=tuple(
                (d.department, d.epsilon_job)
                for d in record.departments
                if d.rounds_trained > 0
            ),
            log_id=log_id_for(self.actor, LOG_NAME),
            tree_size=head.head.tree_size,
            root_hash=head.head.root_hash,
        )
        return write_manifest(
            record.checkpoint,
            SignedProvenance.sign(statement, self.log.account, self.log.domain),
        )

    def record_query(self, result: QueryResult) -> None:
        """Write the ``analytics_query`` records of a query the coordinator ran."""
        self._commit(
            coordinator_query_records(
                result, job=self.job, actor=self.actor, timestamp_ms=now_ms()
            )
        )

    def observer(
        self, then: Callable[[RoundReport], None] | None = None
    ) -> Callable[[RoundReport], None]:
        """An ``on_round`` callback that records the round, then calls ``then``."""

        def on_round(report: RoundReport) -> None:
            self.observe(report)
            if then is not None:
                then(report)

        return on_round

    def for_job(self, job: TrainJob) -> CoordinatorAudit:
        """This hook for another ``job``: the same key, log, roster and relay.

        A standing query service asks many questions, each its own job, of
        one coordinator whose log and relay stay open between them.
        """
        return CoordinatorAudit(
            self.log,
            job,
            relay=self.relay,
            roster=self.roster,
            state_dir=self.state_dir,
        )

    def anchor(self, *, timeout_s: float = 60.0) -> list[AnchoredHead]:
        """Anchor every head signed so far (the departments' too); the relay goes on.

        A chain that cannot be reached in ``timeout_s`` is logged, not
        raised: the records are durable, and the next anchoring (or
        ``fedgov ledger anchor``) anchors them.
        """
        if self.relay is None:
            return []
        if self.state_dir is not None:
            for path in find_logs(self.state_dir):
                self.relay.watch(path)
        try:
            return self.relay.flush(timeout_s)
        except LedgerError as e:
            _log.error(
                "audit heads not anchored yet (%s); they are kept and anchored by "
                "the next run or `fedgov ledger anchor`",
                e,
            )
            return []

    def close(self, *, timeout_s: float = 60.0) -> list[AnchoredHead]:
        """:meth:`anchor` what is left, then stop the relay."""
        try:
            return self.anchor(timeout_s=timeout_s)
        finally:
            if self.relay is not None:
                self.relay.stop(flush=False)
