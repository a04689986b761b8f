"""A federated job without Flower's runtime: the real hooks, stand-in handlers.

:func:`run_job` drives the departments' :class:`DepartmentAuditMod` with
Flower messages and stand-in train/evaluate handlers (DP figures from the
real accountant, random updates), and the coordinator's observer with the
round reports those replies make, exactly as the simulation does; then it
finishes the job. :func:`ask` does the same for a DP query through the
coordinator's real :func:`~coordinator.analytics.run_query` (stand-in
answers, charged to the same stand-in budget as training). Seconds instead
of a minute, and every log is real.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MessageType,
    Metadata,
    MetricRecord,
    RecordDict,
)

from coordinator.analytics import run_query
from coordinator.guard import DepartmentOutcome, RoundReport
from coordinator.summary import round_to_json, summarize_departments
from department_nodes.audit import Handled, record_handled
from fedgov import protocol as p
from fedgov.job import DEFAULT_ACCOUNTANT, TrainJob
from fedgov.run_record import RunRecord
from privacy.accounting import GaussianSpend, epsilon_spent
from privacy.mechanisms import Query, plan_answer
from tests.coordinator.test_analytics import InProcessGrid

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from flwr.clientapp.typing import Mod

    from coordinator.analytics import QueryResult
    from tests.audit_fixtures import AuditHarness

FLOWER_RUN = 4242


def small_job(**overrides: object) -> TrainJob:
    """Three Dirichlet departments of RandHIE, two DP rounds."""
    fields: dict[str, object] = {
        "job_id": "audit-job",
        "dataset": "randhie",
        "partition": "dirichlet",
        "num_departments": 3,
        "num_rounds": 2,
        **overrides,
    }
    return TrainJob(**fields)  # type: ignore[arg-type]


def incoming(
    message_type: str, server_round: int, node_id: int, *, job_id: str = "job"
) -> Message:
    """A message from the coordinator, as a SuperNode receives it."""
    content = RecordDict(
        {p.Record.CONFIG: ConfigRecord({"server-round": server_round})}
    )
    metadata = Metadata(
        run_id=FLOWER_RUN,
        message_id=f"{job_id}-{message_type}-{server_round}-{node_id}",
        src_node_id=0,
        dst_node_id=node_id,
        reply_to_message_id="",
        group_id=str(server_round),
        created_at=time.time(),
        ttl=3600.0,
        message_type=message_type,
    )
    # metadata= is Flower's internal form: here the test stands in for the SuperLink.
    message: Message = Message(content=content, metadata=metadata)  # type: ignore[call-overload]
    return message


def node_context(partition_id: int) -> Context:
    """A simulated SuperNode's context (no run_config, a partition id)."""
    return Context(
        run_id=FLOWER_RUN,
        node_id=partition_id + 1,
        node_config={"partition-id": partition_id},
        state=RecordDict(),
        run_config={},
    )


def reply(
    msg: Message,
    metrics: dict[str, int | float | list[int] | list[float]],
    *,
    department: str,
    status: str = p.Status.OK,
    reason: str = "",
    arrays: ArrayRecord | None = None,
) -> Message:
    content = RecordDict(
        {
            p.Record.METRICS: MetricRecord(metrics),
            p.Record.FEDGOV: ConfigRecord(
                {
                    p.Reply.DEPARTMENT: department,
                    p.Reply.STATUS: status,
                    p.Reply.REASON: reason,
                }
            ),
        }
    )
    if arrays is not None:
        content[p.Record.ARRAYS] = arrays
    return Message(content=content, reply_to=msg)


@dataclass
class StandInDepartment:
    """Answers like a department node: charges DP rounds, sends noise as updates."""

    name: str
    delta: float
    noise: float = 1.1
    rate: float = 0.05
    steps: int = 20
    examples: int = 1000
    limit: float = 8.0
    refuse_rounds: frozenset[int] = frozenset()
    under_report: bool = False
    spends: list[GaussianSpend] = field(default_factory=list)
    """This job's spends."""
    history: list[GaussianSpend] = field(default_factory=list)
    """Every spend on the dataset, earlier jobs' included."""

    def train(self, msg: Message, context: Context) -> Message:
        server_round = int(msg.content[p.Record.CONFIG]["server-round"])  # type: ignore[arg-type]
        if server_round in self.refuse_rounds:
            total = epsilon_spent(self.history, delta=self.delta)
            return reply(
                msg,
                {
                    p.Metric.NUM_EXAMPLES: 0,
                    "epsilon-total": total,
                    "epsilon-limit": self.limit,
                },
                department=self.name,
                status=p.Status.REFUSED,
                reason=f"{self.name}: budget exhausted",
            )
        spend = GaussianSpend(self.noise, self.rate, self.steps)
        before = epsilon_spent(self.spends, delta=self.delta) if self.spends else 0.0
        self.spends.append(spend)
        self.history.append(spend)
        epsilon = epsilon_spent(self.spends, delta=self.delta)
        added = epsilon - before
        total = epsilon_spent(self.history, delta=self.delta)
        if self.under_report:
            epsilon, total = epsilon / 2, total / 2
        seed = int.from_bytes(
            hashlib.sha256(f"{self.name}:{msg.metadata.message_id}".encode()).digest()[
                :4
            ]
        )
        weights = np.random.default_rng(seed).normal(size=4).astype(np.float32)
        metrics: dict[str, int | float | list[int] | list[float]] = {
            p.Metric.NUM_EXAMPLES: self.examples,
            "train-loss": 0.5,
            "epsilon-job": epsilon,
            "epsilon-total": total,
            "epsilon-limit": self.limit,
            "noise-multiplier": self.noise,
            "sample-rate": self.rate,
            "steps": self.steps,
        }
        arrays = ArrayRecord({"w": Array(weights)})
        # What a department node tells its audit mod it did.
        record_handled(
            context.state,
            Handled(
                phase="train",
                rows=self.examples,
                update_sha256=p.hash_arrays(arrays),
                epsilon=added,
                accountant=DEFAULT_ACCOUNTANT.value,
                noise_multiplier=self.noise,
                sample_rate=self.rate,
                steps=self.steps,
            ),
        )
        return reply(msg, metrics, department=self.name, arrays=arrays)

    def query(self, msg: Message, context: Context) -> Message:
        """Charge the query's spend to this department's budget and answer noise.

        Refuses (spending nothing) when the spend would pass the limit.
        """
        query = Query.from_config(msg.content.config_records["query"])
        plan = plan_answer(query)
        total = epsilon_spent([*self.history, plan.spend], delta=self.delta)
        if total > self.limit:
            spent = epsilon_spent(self.history, delta=self.delta)
            metrics: dict[str, int | float | list[int] | list[float]] = {
                "epsilon-total": spent,
                "epsilon-limit": self.limit,
            }
            return reply(
                msg,
                metrics,
                department=self.name,
                status=p.Status.REFUSED,
                reason=f"{self.name}: a query would exceed the budget",
            )
        self.history.append(plan.spend)
        if self.under_report:
            total /= 2
        answer = np.random.default_rng(len(self.history)).normal(size=plan.length)
        metrics = {
            "query-answer": [float(v) for v in answer],
            "query-noise-std": list(plan.noise_std),
            "epsilon-query": plan.epsilon,
            "epsilon-total": total,
            "epsilon-limit": self.limit,
        }
        return reply(msg, metrics, department=self.name)

    def evaluate(self, msg: Message, context: Context) -> Message:
        record_handled(
            context.state, Handled(phase="evaluate", rows=self.examples // 4)
        )
        metrics: dict[str, int | float | list[int] | list[float]] = {
            p.Metric.NUM_EXAMPLES: self.examples // 4,
            "eval-loss": 0.4,
            "eval-accuracy": 0.8,
        }
        return reply(msg, metrics, department=self.name)


def _metrics(msg: Message) -> dict[str, float]:
    record = msg.content.metric_records[p.Record.METRICS]
    return {k: float(v) for k, v in record.items() if isinstance(v, int | float)}


def _outcome(msg: Message, node_id: int) -> DepartmentOutcome:
    fedgov = msg.content.config_records[p.Record.FEDGOV]
    name = str(fedgov[p.Reply.DEPARTMENT])
    if fedgov[p.Reply.STATUS] == p.Status.REFUSED:
        return DepartmentOutcome(
            name, node_id, "refused", str(fedgov[p.Reply.REASON]), _metrics(msg)
        )
    digest = ""
    if p.Record.ARRAYS in msg.content.array_records:
        digest = p.hash_arrays(msg.content.array_records[p.Record.ARRAYS]).hex()
    return DepartmentOutcome(
        name, node_id, "trained", "", _metrics(msg), update_hash=digest
    )


@dataclass
class JobResult:
    job: TrainJob
    record: RunRecord
    reports: list[RoundReport]
    departments: dict[str, StandInDepartment]


def run_job(
    env: AuditHarness,
    job: TrainJob,
    run_dir: Path,
    *,
    refuse: dict[str, frozenset[int]] | None = None,
    unaudited: frozenset[tuple[str, int]] = frozenset(),
    tamper_report: Callable[[RoundReport], None] | None = None,
    under_report: frozenset[str] = frozenset(),
    after: JobResult | None = None,
    wrap: Callable[[Mod], Mod] | None = None,
    finish: bool = True,
) -> JobResult:
    """Configure ``job`` in ``env``, run its rounds through the hooks, finish it.

    Misbehaviour on demand: ``unaudited`` (department, round) pairs train
    without their mod; ``tamper_report`` edits each round's report before the
    coordinator records it; departments in ``under_report`` halve the
    epsilon they report. ``after`` continues the departments' budgets from
    an earlier job; ``wrap`` wraps the department mod (to time it).
    """
    job = env.configure(job)
    mod: Mod = env.client_mod()
    if wrap is not None:
        mod = wrap(mod)
    observer = env.observer()
    names = sorted(env.departments)
    departments = {
        name: StandInDepartment(
            name,
            delta=job.delta,
            refuse_rounds=(refuse or {}).get(name, frozenset()),
            under_report=name in under_report,
            history=list(after.departments[name].history) if after is not None else [],
        )
        for name in names
    }
    reports: list[RoundReport] = []
    for server_round in range(1, job.num_rounds + 1):
        report = RoundReport(server_round=server_round, started=time.perf_counter())
        digests = []
        for index, name in enumerate(names):
            msg = incoming(
                MessageType.TRAIN, server_round, index + 1, job_id=job.job_id
            )
            handler = departments[name].train
            if (name, server_round) in unaudited:
                answer = handler(msg, node_context(index))
            else:
                answer = mod(msg, node_context(index), handler)
            outcome = _outcome(answer, index + 1)
            report.train.append(outcome)
            digests.append(outcome.update_hash)
        report.aggregate_hash = hashlib.sha256("".join(digests).encode()).hexdigest()
        for index, name in enumerate(names):
            msg = incoming(
                MessageType.EVALUATE, server_round, index + 1, job_id=job.job_id
            )
            answer = mod(msg, node_context(index), departments[name].evaluate)
            report.evaluate.append(
                DepartmentOutcome(name, index + 1, "trained", "", _metrics(answer))
            )
        if tamper_report is not None:
            tamper_report(report)
        observer(report)
        reports.append(report)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / "final_model.pt"
    checkpoint.write_bytes(b"model:" + reports[-1].aggregate_hash.encode())
    record = RunRecord(
        job=job.to_run_config(),
        engine="stand-in",
        started_at=time.time(),
        finished_at=time.time(),
        rounds=[round_to_json(r) for r in reports],
        departments=summarize_departments(reports),
        checkpoint=str(checkpoint),
    )
    if finish:
        env.finish(record)
    return JobResult(job, record, reports, departments)


def ask(
    env: AuditHarness,
    query: Query,
    departments: dict[str, StandInDepartment],
    *,
    mod: Mod | None = None,
) -> QueryResult:
    """Ask ``query`` of the stand-in ``departments`` through their audit mod
    (``mod``, default the environment's) and record it at the coordinator.

    ``departments`` are the dataset's natural partition (a query's): the
    configured job must be of that partition too.
    """
    audit_mod = mod or env.client_mod()
    names = sorted(departments)

    def handler(msg: Message, context: Context) -> Message:
        stand_in = departments[names[int(context.node_config["partition-id"])]]
        return audit_mod(msg, context, stand_in.query)

    result = run_query(InProcessGrid(handler, len(names)), query, node_wait=0.0)
    env.query_observer()(result)
    return result
