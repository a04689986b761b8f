"""A department's side of a federated job: its declaration, who asks, its budget, its data.

Order matters. The instruction's dataset declaration is checked against the
department's own copy before anything else (a mismatch is refused, nothing
read, nothing spent). The department's access gate
(:mod:`department_nodes.access`: the analyst's signed request, the analyst's
role, the department's own policy) then admits the message, before any
record is read. The department's records are then checked against that
declaration when the job's training plan is made, *before* the round's
spend: records that break the declaration are refused ("data invalid" with
the error's reason class, never a value) and nothing is charged. The spend
is checked against the department's durable budget and recorded before the
round trains; a department that refuses, or is over budget, answers with a
refusal instead of an update.

A department names its own records in its node config: ``data-source``
(:class:`fedgov.data.Source`) and ``dataset-declaration`` (its own copy of
the declaration file; a built-in dataset needs none).
"""

from __future__ import annotations

import logging
import secrets
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MetricRecord,
    RecordDict,
)
from numpy.typing import NDArray

from department_nodes._budget_floor import take_budget_floor
from department_nodes._handled import Handled, record_handled
from department_nodes.access import (
    AccessGate,
    AccessOutcome,
    AccessSettings,
    RoleSource,
    Subject,
    remember_access,
)
from department_nodes.data_access import (
    DatasetMismatchError,
    DepartmentDataAccess,
    DepartmentDataset,
    check_department_name,
)
from department_nodes.training import (
    LocalPlan,
    plan_local_training,
    train_final_layer,
    train_locally,
)
from fedgov import protocol as p
from fedgov.county import default_state_dir
from fedgov.data import DataError, DepartmentSources, Source
from fedgov.errors import ConfigurationError
from fedgov.files import atomic_writer
from fedgov.job import Accountant, TrainJob
from fedgov.job_data import departments_for, model_spec, task_of
from fedgov.metrics import evaluate_model, evaluation_metrics
from fedgov.models import ModelSpec, build_model, numpy_to_state
from fedgov.notices import warn_once
from ledger.layout import department_dir
from ledger.record_fields import PHASE_EVALUATE, PHASE_TRAIN
from privacy.accounting import GaussianSpend, history_epsilon
from privacy.budget import Budget, SpendRecord, open_budget_book
from privacy.errors import BudgetExceeded, BudgetRolledBack

__all__ = [
    "NODE_DATA_SOURCE",
    "NODE_DECLARATION",
    "DepartmentNode",
    "NodePolicy",
    "is_personalisation",
    "own_declaration",
    "personalised_model_path",
    "refusal",
]

NODE_DATA_SOURCE = "data-source"
"""Node-config key naming the department's own table (``csv:/srv/...``)."""
NODE_DECLARATION = "dataset-declaration"
"""Node-config key naming the department's own copy of the dataset declaration."""

logger = logging.getLogger(__name__)


def _number(record: ConfigRecord, key: str) -> float:
    value = record[key]
    if not isinstance(value, int | float):
        raise ConfigurationError(
            key, f"must be a number in the saved plan, got {value!r}"
        )
    return float(value)


def refusal(
    msg: Message,
    department: str,
    reason: str,
    metrics: Mapping[str, float | int] | None = None,
) -> Message:
    """A department's refusal of ``msg``: status, reason, and ``metrics`` if any."""
    return Message(
        content=RecordDict(
            {
                p.Record.METRICS: MetricRecord(
                    {p.Metric.NUM_EXAMPLES: 0, **(metrics or {})}
                ),
                p.Record.FEDGOV: ConfigRecord(
                    {
                        p.Reply.DEPARTMENT: department,
                        p.Reply.STATUS: p.Status.REFUSED,
                        p.Reply.REASON: reason,
                    }
                ),
            }
        ),
        reply_to=msg,
    )


def own_declaration(context: Context, job: TrainJob | None, dataset: str) -> str:
    """Where the department reads ``dataset``'s declaration from.

    Its node config's ``dataset-declaration``; else, for a ``job`` handed
    over in this process (a simulation, run by the operator who declared the
    dataset), that job's declaration file; else ``""``: a built-in dataset.
    A deployed department never reads a declaration the run_config names.
    """
    declared = context.node_config.get(NODE_DECLARATION)
    if declared:
        return str(declared)
    if job is not None and job.dataset == dataset:
        return job.declaration
    return ""


@dataclass(frozen=True)
class NodePolicy:
    """What the department itself (not the coordinator) allows.

    ``budget_epsilon`` sets the lifetime budget the first time a dataset is
    used; afterwards the limit on file wins. ``budget_key`` names the key that
    seals the budget book at rest (``privacy.at_rest.key_source_from_spec``).
    ``declaration`` is the department's own copy of the dataset's declaration
    (empty: only a built-in dataset); ``source`` its own table (``None``: its
    share of a built-in dataset's installed file). ``access`` is who may ask
    what (:class:`~department_nodes.access.AccessSettings`, from
    ``access-policy``, ``access-chain-id``, ``access-roles``, ``access-rpc``);
    ``vault_key_dir`` (``vault-key-dir``) keeps the data keys of the
    department's vaults apart from its state.
    """

    department: str
    state_dir: Path
    allow_non_private: bool = False
    budget_epsilon: float | None = None
    budget_key: str = "auto"
    declaration: str = ""
    source: Source | None = None
    access: AccessSettings | None = None
    vault_key_dir: Path | None = None

    @property
    def access_settings(self) -> AccessSettings:
        """:attr:`access`, or the defaults of a node configuration naming none."""
        if self.access is not None:
            return self.access
        return AccessSettings.resolve(
            {}, state_dir=self.state_dir, department=self.department
        )

    @classmethod
    def from_context(
        cls,
        context: Context,
        job: TrainJob,
        departments: list[str] | None = None,
        *,
        sources: DepartmentSources | None = None,
        declaration: str = "",
    ) -> NodePolicy:
        """The policy the node config states, for ``job``.

        ``departments`` (default: the job's, by the department's own
        declaration) numbers simulated departments. ``sources`` and
        ``declaration`` are a simulation's: the operator's mapping of
        departments to sources and declaration file, used where the node
        config names none. Raises :class:`DatasetMismatchError` when the
        job's dataset is not the department's.
        """
        node = context.node_config
        declared = str(node.get(NODE_DECLARATION) or declaration)
        if departments is None:
            dataset = DepartmentDataset.resolve(job.dataset, declaration=declared)
            departments = departments_for(job, dataset.spec)
        if "department" in node:
            department = str(node["department"])
        elif "partition-id" in node:
            index = int(node["partition-id"])
            if not 0 <= index < len(departments):
                raise ConfigurationError(
                    "partition-id",
                    f"{index} is outside the {len(departments)} departments",
                )
            department = departments[index]
        else:
            raise ConfigurationError(
                "node_config",
                "needs 'department' (deployment) or 'partition-id' (simulation)",
            )
        if department not in departments:
            raise ConfigurationError(
                "department",
                f"{department!r} is not one of {departments} for {job.dataset}",
            )
        state = node.get("state-dir") or job.state_dir or str(default_state_dir())
        allow = str(node.get("allow-non-private", "false")).lower() in (
            "1",
            "true",
            "yes",
        )
        if "ledger-key" in node:
            raise ConfigurationError(
                "ledger-key", "renamed budget-key: set budget-key in the node config"
            )
        budget = node.get("budget-epsilon")
        key_dir = node.get("vault-key-dir")
        source = None
        if node.get(NODE_DATA_SOURCE):
            source = Source.parse(str(node[NODE_DATA_SOURCE]))
        elif sources is not None and department in sources.departments:
            source = sources.source_of(department)
        return cls(
            department=department,
            state_dir=Path(str(state)),
            allow_non_private=allow,
            budget_epsilon=float(budget) if budget is not None else None,
            budget_key=str(node.get("budget-key", "auto")),
            declaration=declared,
            source=source,
            access=AccessSettings.resolve(
                node, state_dir=Path(str(state)), department=department
            ),
            vault_key_dir=Path(str(key_dir)) if key_dir else None,
        )


@dataclass(frozen=True, eq=False)
class TrainingRecords:
    """What a round trains on; ``units`` (unit of privacy of each record) for
    unit-level DP-SGD, ``None`` for record-level."""

    features: NDArray[np.float32]
    labels: NDArray[np.generic]
    units: NDArray[np.int64] | None = None


class DepartmentNode:
    """Handles one message for one department (Flower makes one per message).

    ``roles`` answers who holds the analyst role (default: the chain the
    node configuration names).
    """

    def __init__(
        self,
        job: TrainJob,
        policy: NodePolicy,
        state: RecordDict,
        *,
        roles: RoleSource | None = None,
    ) -> None:
        self.job = job
        self.policy = policy
        self._state = state
        self.gate = AccessGate(policy.access_settings, roles=roles)
        self.dataset = DepartmentDataset.resolve(
            job.dataset, declaration=policy.declaration, source=policy.source
        )
        check_department_name(policy.department, self.dataset.spec)
        self.data = DepartmentDataAccess(
            job,
            policy.department,
            self.dataset,
            state_dir=policy.state_dir,
            key_dir=policy.vault_key_dir,
        )
        self.task = task_of(self.dataset.spec)
        self.model_spec: ModelSpec = model_spec(job, self.dataset.spec)
        self.budget_book = open_budget_book(
            policy.state_dir, policy.department, key=policy.budget_key
        )
        self.budget_floor = take_budget_floor(state)
        """The book generation the department's audit log records (0: none):
        nothing is spent from a book below it."""

    def admit(
        self, subject: Subject, *, server_round: int, phase: str
    ) -> AccessOutcome:
        """The access gate's decision on a message, left for the audit hook.

        Runs before anything is spent or read; a refusal is the caller's to
        send (its reason says why).
        """
        outcome = self.gate.check(
            subject,
            signed=self.job.access_request,
            server_round=server_round,
            phase=phase,
        )
        remember_access(self._state, outcome)
        if not outcome.allowed:
            logger.warning("%s: %s", self.policy.department, outcome.decision.reason)
        return outcome

    # -- helpers -------------------------------------------------------------

    def _model(self, arrays: ArrayRecord) -> torch.nn.Module:
        model = build_model(self.model_spec)
        numpy_to_state(model, p.arrays_to_numpy(arrays))
        return model

    def _check_instruction(self, msg: Message) -> None:
        """Refuse (raise) an instruction on another declaration than the department's."""
        config = msg.content.config_records.get(p.Record.CONFIG, ConfigRecord())
        digest = config.get(p.Instruction.DATASET_DIGEST)
        self.dataset.check_digest(None if digest is None else str(digest))

    def _refuse_unreadable(self, msg: Message, error: DataError) -> Message:
        # The full error (column, row) stays in the department's own log; the
        # reply says only its class, which names no value.
        logger.warning(
            "%s: records refused for job %s: %s",
            self.policy.department,
            self.job.job_id,
            error,
        )
        return refusal(msg, self.policy.department, p.data_invalid(error.reason_class))

    def _saved_plan(self) -> LocalPlan | None:
        # Calibrated once per job and kept in the node's Context.state, so every
        # round of the job uses the same noise and the job's total meets epsilon.
        key = f"fedgov.plan.{self.job.job_id}"
        if key not in self._state:
            return None
        saved = self._state.config_records[key]
        noise = _number(saved, p.Metric.NOISE_MULTIPLIER)
        return LocalPlan(
            num_examples=int(_number(saved, p.Metric.NUM_EXAMPLES)),
            batch_size=int(_number(saved, "batch-size")),
            steps_per_epoch=int(_number(saved, "steps-per-epoch")),
            sample_rate=_number(saved, p.Metric.SAMPLE_RATE),
            steps_per_round=int(_number(saved, "steps-per-round")),
            noise_multiplier=noise if noise > 0 else None,
            accountant=self.job.accountant,
        )

    def _new_plan(self, num_examples: int) -> LocalPlan:
        plan = plan_local_training(
            num_examples=num_examples,
            batch_size=self.job.batch_size,
            local_epochs=self.job.local_epochs,
            num_rounds=self.job.num_rounds,
            epsilon=self.job.rounds_epsilon,
            delta=self.job.delta,
            accountant=self.job.accountant,
        )
        self._state[f"fedgov.plan.{self.job.job_id}"] = ConfigRecord(
            {
                p.Metric.NUM_EXAMPLES: plan.num_examples,
                "batch-size": plan.batch_size,
                "steps-per-epoch": plan.steps_per_epoch,
                p.Metric.SAMPLE_RATE: plan.sample_rate,
                "steps-per-round": plan.steps_per_round,
                p.Metric.NOISE_MULTIPLIER: plan.noise_multiplier or 0.0,
            }
        )
        return plan

    def _training_records(self) -> TrainingRecords:
        """The records the round trains on, bounded per unit of privacy."""
        unit = self.dataset.spec.unit
        if unit.column is None:
            features, labels = self.data.train_split()
            return TrainingRecords(features, labels)
        split = self.data.train_units()
        if split.dropped:
            logger.warning(
                "%s: %d records beyond %d per %s left out of training",
                self.policy.department,
                split.dropped,
                split.max_records,
                unit.column,
            )
        # One record per unit is record-level DP-SGD, as for a dataset
        # declaring one record per person.
        units = split.units if split.max_records > 1 else None
        return TrainingRecords(split.features, split.labels, units)

    def _refused_by_budget(
        self,
        msg: Message,
        server_round: int,
        spend: GaussianSpend,
        *,
        accountant: Accountant,
    ) -> Message | None:
        """The refusal when ``spend`` would break the budget (``None``: it fits).

        Over budget, or a book rolled back: refused before a record is read.
        """
        try:
            self.budget_book.ensure_limit(
                self.job.dataset,
                Budget(
                    epsilon=self.policy.budget_epsilon or self.job.budget_epsilon,
                    delta=self.job.delta,
                ),
                floor=self.budget_floor,
            )
            self.budget_book.check(self.job.dataset, spend, accountant=accountant)
        except BudgetRolledBack as exc:
            return self._rolled_back(msg, server_round, exc)
        except BudgetExceeded as exc:
            return self._over_budget(msg, server_round, exc)
        return None

    def _charge(
        self,
        msg: Message,
        server_round: int,
        spend: GaussianSpend,
        *,
        accountant: Accountant,
        kind: str,
    ) -> SpendRecord | Message:
        """``spend`` charged to the budget book, or the refusal when it no longer fits."""
        try:
            return self.budget_book.charge(
                self.job.dataset,
                spend,
                accountant=accountant,
                kind=kind,
                job_id=self.job.job_id,
                round=server_round,
                floor=self.budget_floor,
            )
        except BudgetRolledBack as exc:
            return self._rolled_back(msg, server_round, exc)
        except BudgetExceeded as exc:
            return self._over_budget(msg, server_round, exc)

    def _rolled_back(
        self, msg: Message, server_round: int, exc: BudgetRolledBack
    ) -> Message:
        logger.error("round %d refused: %s", server_round, exc)
        return self._reply(
            msg,
            status=p.Status.REFUSED,
            reason=str(exc),
            metrics={p.Metric.NUM_EXAMPLES: 0},
        )

    def _over_budget(
        self, msg: Message, server_round: int, exc: BudgetExceeded
    ) -> Message:
        logger.warning("round %d refused: %s", server_round, exc)
        return self._reply(
            msg,
            status=p.Status.REFUSED,
            reason=str(exc),
            metrics={
                p.Metric.NUM_EXAMPLES: 0,
                p.Metric.EPSILON_TOTAL: exc.spent,
                p.Metric.EPSILON_LIMIT: exc.limit,
            },
        )

    def _proximal_mu(self, msg: Message) -> float:
        # Flower's FedProx sends its mu with each round's config.
        if self.job.strategy != "fedprox":
            return 0.0
        config = msg.content.config_records[p.Record.CONFIG]
        return _number(config, "proximal-mu") if "proximal-mu" in config else 0.0

    def _generator(self, server_round: int) -> torch.Generator:
        generator = torch.Generator()
        if self.job.secure_rng:
            # Opacus' secure_mode needs torchcsprng, which has no build for
            # this torch; a generator seeded from the OS entropy pool at every
            # round keeps the noise unpredictable to anyone outside the node.
            generator.manual_seed(secrets.randbits(63))
        else:
            tag = f"{self.job.seed}:{self.policy.department}:{server_round}".encode()
            generator.manual_seed(zlib.crc32(tag))
        return generator

    def _reply(
        self,
        msg: Message,
        *,
        status: str,
        metrics: Mapping[str, float | int],
        arrays: ArrayRecord | None = None,
        reason: str = "",
    ) -> Message:
        content = RecordDict(
            {
                p.Record.METRICS: MetricRecord(dict(metrics)),
                p.Record.FEDGOV: ConfigRecord(
                    {
                        p.Reply.DEPARTMENT: self.policy.department,
                        p.Reply.STATUS: status,
                        p.Reply.REASON: reason,
                    }
                ),
            }
        )
        if arrays is not None:
            content[p.Record.ARRAYS] = arrays
        return Message(content=content, reply_to=msg)

    # -- message handlers ----------------------------------------------------

    def train(self, msg: Message) -> Message:
        server_round = int(
            _number(
                msg.content.config_records[p.Record.CONFIG], p.Instruction.SERVER_ROUND
            )
        )
        try:
            self._check_instruction(msg)
        except DatasetMismatchError as exc:
            return refusal(msg, self.policy.department, str(exc))
        access = self.admit(
            Subject.training(self.job, self.dataset.spec),
            server_round=server_round,
            phase=PHASE_TRAIN,
        )
        if not access.allowed:
            return self._reply(
                msg,
                status=p.Status.REFUSED,
                metrics={p.Metric.NUM_EXAMPLES: 0},
                reason=access.decision.reason,
            )
        records: TrainingRecords | None = None
        plan = self._saved_plan()
        if plan is None:
            # The first round counts the records to calibrate the job's noise.
            try:
                records = self._training_records()
            except DataError as exc:
                return self._refuse_unreadable(msg, exc)
            plan = self._new_plan(len(records.labels))
        spend = plan.round_spend
        epsilon_total = 0.0
        if spend is None:
            if not self.policy.allow_non_private:
                reason = (
                    f"department {self.policy.department} refuses non-private training "
                    "(set allow-non-private in its node config for baselines)"
                )
                logger.warning(reason)
                return self._reply(
                    msg,
                    status=p.Status.REFUSED,
                    metrics={p.Metric.NUM_EXAMPLES: 0},
                    reason=reason,
                )
            warn_once(
                f"non-private:{self.policy.department}",
                f"department {self.policy.department} trains WITHOUT differential privacy",
            )
        else:
            refused = self._refused_by_budget(
                msg, server_round, spend, accountant=plan.accountant
            )
            if refused is not None:
                return refused
        if records is None:
            try:
                # Read and checked before the spend: a round the department
                # cannot read costs it nothing.
                records = self._training_records()
            except DataError as exc:
                return self._refuse_unreadable(msg, exc)
        if spend is not None:
            record = self._charge(
                msg, server_round, spend, accountant=plan.accountant, kind="train_round"
            )
            if isinstance(record, Message):
                return record
            epsilon_total = record.epsilon_after
        started = time.perf_counter()
        features, labels = records.features, records.labels
        model = self._model(msg.content.array_records[p.Record.ARRAYS])
        loss = train_locally(
            model,
            features,
            labels,
            plan=plan,
            learning_rate=self.job.learning_rate,
            momentum=self.job.momentum,
            max_grad_norm=self.job.max_grad_norm,
            proximal_mu=self._proximal_mu(msg),
            generator=self._generator(server_round),
            task=self.task.kind,
            units=records.units,
        )
        status = (
            self.budget_book.status(self.job.dataset) if spend is not None else None
        )
        job_epsilon = added = 0.0
        history: list[tuple[GaussianSpend, str]] = []
        if status is not None:
            history = [
                (r.spend, r.accountant)
                for r in status.history
                if r.job_id == self.job.job_id
            ]
            job_epsilon = history_epsilon(history, delta=self.job.delta)
            # This round's share of the job's epsilon, by the same accountants.
            before = (
                history_epsilon(history[:-1], delta=self.job.delta)
                if history[:-1]
                else 0.0
            )
            added = job_epsilon - before
        arrays = ArrayRecord(model.state_dict())
        record_handled(
            self._state,
            Handled(
                phase=PHASE_TRAIN,
                rows=len(labels),
                update_sha256=p.hash_arrays(arrays),
                epsilon=added,
                accountant=history[-1][1] if history else "",
                noise_multiplier=plan.noise_multiplier or 0.0,
                sample_rate=plan.sample_rate,
                steps=plan.steps_per_round,
            ),
        )
        metrics: dict[str, float | int] = {
            p.Metric.NUM_EXAMPLES: len(labels),
            p.Metric.TRAIN_LOSS: loss,
            p.Metric.EPSILON_JOB: job_epsilon,
            p.Metric.EPSILON_TOTAL: epsilon_total,
            p.Metric.EPSILON_LIMIT: status.limit.epsilon if status else 0.0,
            p.Metric.NOISE_MULTIPLIER: plan.noise_multiplier or 0.0,
            p.Metric.SAMPLE_RATE: plan.sample_rate,
            p.Metric.STEPS: plan.steps_per_round,
            # Lets the coordinator tell its round overhead from local work.
            p.Metric.COMPUTE_SECONDS: time.perf_counter() - started,
        }
        return self._reply(msg, status=p.Status.OK, metrics=metrics, arrays=arrays)

    def evaluate(self, msg: Message) -> Message:
        try:
            self._check_instruction(msg)
        except DatasetMismatchError as exc:
            return refusal(msg, self.policy.department, str(exc))
        config = msg.content.config_records.get(p.Record.CONFIG, ConfigRecord())
        server_round = config.get(p.Instruction.SERVER_ROUND, 0)
        access = self.admit(
            Subject.training(self.job, self.dataset.spec),
            server_round=server_round if isinstance(server_round, int) else 0,
            phase=PHASE_EVALUATE,
        )
        if not access.allowed:
            return self._reply(
                msg,
                status=p.Status.REFUSED,
                metrics={p.Metric.NUM_EXAMPLES: 0},
                reason=access.decision.reason,
            )
        try:
            features, labels = self.data.heldout_split()
        except DataError as exc:
            return self._refuse_unreadable(msg, exc)
        model = self._model(msg.content.array_records[p.Record.ARRAYS])
        result = evaluate_model(
            model, features, labels, task=self.task.kind, decode=self.task.decode
        )
        record_handled(
            self._state, Handled(phase=PHASE_EVALUATE, rows=result.num_examples)
        )
        metrics: dict[str, float | int] = {
            p.Metric.NUM_EXAMPLES: result.num_examples,
            **evaluation_metrics(result, self.task.kind, scope="eval"),
        }
        return self._reply(msg, status=p.Status.OK, metrics=metrics)

    def personalise(self, msg: Message) -> Message:
        """Fine-tune the final layer of the federated model on the department's
        own records, keep the result, answer with its held-out evaluation.

        The spend is calibrated so that the job's rounds composed with it cost
        at most the job's epsilon (:attr:`TrainJob.rounds_epsilon` left the
        rest), charged to the same budget book as a round, before training,
        and left for the audit hook like a round's. The model never leaves the
        department: :func:`personalised_model_path` keeps it.
        """
        config = msg.content.config_records[p.Record.CONFIG]
        server_round = int(_number(config, p.Instruction.SERVER_ROUND))
        try:
            self._check_instruction(msg)
        except DatasetMismatchError as exc:
            return refusal(msg, self.policy.department, str(exc))
        access = self.admit(
            Subject.training(self.job, self.dataset.spec),
            server_round=server_round,
            phase=PHASE_TRAIN,
        )
        if not access.allowed:
            return self._reply(
                msg,
                status=p.Status.REFUSED,
                metrics={p.Metric.NUM_EXAMPLES: 0},
                reason=access.decision.reason,
            )
        if not self.job.private and not self.policy.allow_non_private:
            return self._reply(
                msg,
                status=p.Status.REFUSED,
                metrics={p.Metric.NUM_EXAMPLES: 0},
                reason=f"department {self.policy.department} refuses non-private "
                "training (set allow-non-private in its node config for baselines)",
            )
        # The rounds counted the records; a department that trained in none
        # counts them now.
        saved = self._saved_plan()
        records: TrainingRecords | None = None
        if saved is not None:
            count = saved.num_examples
        else:
            try:
                records = self._training_records()
            except DataError as exc:
                return self._refuse_unreadable(msg, exc)
            count = len(records.labels)
        prior = tuple(
            r.spend
            for r in self.budget_book.status(self.job.dataset).history
            if r.job_id == self.job.job_id
        )
        try:
            plan = plan_local_training(
                num_examples=count,
                batch_size=self.job.batch_size,
                local_epochs=self.job.personalise_epochs,
                num_rounds=1,
                epsilon=self.job.epsilon,
                delta=self.job.delta,
                accountant=self.job.accountant,
                prior=prior,
            )
        except ConfigurationError as exc:
            return self._reply(
                msg,
                status=p.Status.REFUSED,
                metrics={p.Metric.NUM_EXAMPLES: 0},
                reason=str(exc),
            )
        spend = plan.round_spend
        if spend is not None:
            refused = self._refused_by_budget(
                msg, server_round, spend, accountant=plan.accountant
            )
            if refused is not None:
                return refused
        try:
            # Read and checked before the spend: what cannot be read costs nothing.
            if records is None:
                records = self._training_records()
            features, labels = self.data.heldout_split()
        except DataError as exc:
            return self._refuse_unreadable(msg, exc)
        epsilon_total = 0.0
        if spend is not None:
            charged = self._charge(
                msg, server_round, spend, accountant=plan.accountant, kind="personalise"
            )
            if isinstance(charged, Message):
                return charged
            epsilon_total = charged.epsilon_after
        model = self._model(msg.content.array_records[p.Record.ARRAYS])
        loss = train_final_layer(
            model,
            records.features,
            records.labels,
            plan=plan,
            learning_rate=self.job.personalise_learning_rate,
            momentum=self.job.momentum,
            max_grad_norm=self.job.max_grad_norm,
            generator=self._generator(server_round),
            task=self.task.kind,
            units=records.units,
        )
        arrays = ArrayRecord(model.state_dict())
        path = personalised_model_path(
            self.policy.state_dir, self.policy.department, self.job.job_id
        )
        with atomic_writer(path) as out:
            torch.save(model.state_dict(), out)
        result = evaluate_model(
            model, features, labels, task=self.task.kind, decode=self.task.decode
        )
        history = [(spend, plan.accountant)] if spend is not None else []
        history[:0] = [(s, plan.accountant) for s in prior]
        job_epsilon = history_epsilon(history, delta=self.job.delta) if history else 0.0
        before = history_epsilon(history[:-1], delta=self.job.delta) if prior else 0.0
        record_handled(
            self._state,
            Handled(
                phase=PHASE_TRAIN,
                rows=len(records.labels),
                update_sha256=p.hash_arrays(arrays),
                epsilon=job_epsilon - before if spend is not None else 0.0,
                accountant=plan.accountant.value if spend is not None else "",
                noise_multiplier=plan.noise_multiplier or 0.0,
                sample_rate=plan.sample_rate,
                steps=plan.steps_per_round,
                evaluated=result.num_examples,
            ),
        )
        limit = self.budget_book.status(self.job.dataset).limit.epsilon
        metrics: dict[str, float | int] = {
            p.Metric.NUM_EXAMPLES: len(records.labels),
            p.Metric.TRAIN_LOSS: loss,
            p.Metric.EPSILON_JOB: job_epsilon,
            p.Metric.EPSILON_TOTAL: epsilon_total,
            p.Metric.EPSILON_LIMIT: limit if spend is not None else 0.0,
            p.Metric.NOISE_MULTIPLIER: plan.noise_multiplier or 0.0,
            p.Metric.SAMPLE_RATE: plan.sample_rate,
            p.Metric.STEPS: plan.steps_per_round,
            **evaluation_metrics(result, self.task.kind, scope="eval"),
        }
        return self._reply(msg, status=p.Status.OK, metrics=metrics)


def personalised_model_path(state_dir: Path, department: str, job_id: str) -> Path:
    """Where ``department`` keeps its personalised model of ``job_id``."""
    return department_dir(state_dir, department) / "personalised" / f"{job_id}.pt"


def is_personalisation(msg: Message) -> bool:
    """Whether ``msg`` is the train message that asks for personalisation."""
    config = msg.content.config_records.get(p.Record.CONFIG, ConfigRecord())
    return config.get(p.Instruction.PERSONALISE) is True
