"""A wrapper around any Flower strategy that vets replies before aggregation.

Flower's strategies average whatever arrives. Before that, fedgov sorts each
reply into trained, refused (a department over its privacy budget, or whose
records break the declaration, says so instead of training) or rejected (an
update with NaN/inf, the wrong tensors or shapes, or an absurd norm; a
reported number no department could honestly report, or a second reply for
the same department: :mod:`coordinator._reply_checks`), reports every
department's outcome, and hands only trained updates to the wrapped
strategy, and only when at least ``min_departments`` of them arrived;
otherwise the round leaves the model unchanged and says why.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Result, Strategy

from coordinator._membership import Membership, await_departments
from coordinator._reply_checks import (
    duplicated,
    examples_problem,
    metrics_problem,
    structure_problem,
)
from fedgov import protocol as p

__all__ = ["DepartmentOutcome", "GuardedStrategy", "RoundReport", "check_update"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DepartmentOutcome:
    """What one department did in one round."""

    department: str
    node_id: int
    status: str
    reason: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    update_hash: str = ""


@dataclass
class RoundReport:
    """Everything the coordinator learned in one round (mutable while it runs)."""

    server_round: int
    started: float
    train: list[DepartmentOutcome] = field(default_factory=list)
    evaluate: list[DepartmentOutcome] = field(default_factory=list)
    aggregated_train: dict[str, float] = field(default_factory=dict)
    aggregated_evaluate: dict[str, float] = field(default_factory=dict)
    central_evaluate: dict[str, float] = field(default_factory=dict)
    aggregate_hash: str = ""
    train_seconds: float = 0.0
    round_seconds: float = 0.0
    skipped: str = ""
    """Why the round's updates were not aggregated (the model is unchanged)."""


def check_update(
    update: dict[str, np.ndarray], reference: dict[str, np.ndarray], *, max_norm: float
) -> str | None:
    """Why ``update`` must not be aggregated, or ``None`` when it may."""
    missing = sorted(set(reference) - set(update))
    extra = sorted(set(update) - set(reference))
    if missing or extra:
        return f"tensors do not match the global model: missing {missing}, unexpected {extra}"
    squared = 0.0
    for name, ref in reference.items():
        arr = np.asarray(update[name])
        if arr.shape != ref.shape:
            return (
                f"tensor {name} has shape {arr.shape}, the global model has {ref.shape}"
            )
        if not np.all(np.isfinite(arr)):
            return f"tensor {name} contains NaN or infinite values"
        squared += float(np.sum((arr.astype(np.float64) - ref.astype(np.float64)) ** 2))
    norm = squared**0.5
    if norm > max_norm:
        return f"update norm {norm:.3g} exceeds the limit {max_norm:.3g}"
    return None


def _metrics(msg: Message) -> dict[str, float]:
    # What the report (and the audit record) keeps: finite numbers only.
    records = list(msg.content.metric_records.values())
    if not records:
        return {}
    return {
        k: float(v)
        for k, v in records[0].items()
        if isinstance(v, int | float) and math.isfinite(v)
    }


def _raw_metrics(msg: Message) -> dict[str, object]:
    records = list(msg.content.metric_records.values())
    return dict(records[0].items()) if records else {}


def _claims(replies: list[Message]) -> set[str]:
    return duplicated(_department(m)[0] for m in replies if not m.has_error())


def _duplicate(department: str, node_id: int) -> DepartmentOutcome:
    # Which of the replies is the department's own cannot be told: none is
    # used, and each is recorded under its node, not the department's name.
    return DepartmentOutcome(
        f"node-{node_id}",
        node_id,
        p.Outcome.REJECTED,
        f"claims department {department!r}, as another reply in this round does: "
        "one reply per department per round, none of them is aggregated",
    )


def _department(msg: Message) -> tuple[str, str, str]:
    fedgov = msg.content.config_records.get(p.Record.FEDGOV, ConfigRecord())
    department = str(fedgov.get(p.Reply.DEPARTMENT, f"node-{msg.metadata.src_node_id}"))
    return (
        department,
        str(fedgov.get(p.Reply.STATUS, p.Status.OK)),
        str(fedgov.get(p.Reply.REASON, "")),
    )


def _by_department(accepted: dict[str, Message]) -> list[Message]:
    """The accepted replies in department order. They arrive in the order
    departments finish and a float sum depends on its order, so without one a
    rerun of a job gives a slightly different model."""
    return [accepted[department] for department in sorted(accepted)]


def _common_metric_keys(replies: Collection[Message]) -> None:
    # Flower insists every reply carries the same metric keys; a held-out
    # split with one class has no AUC, so keep only what all replies share.
    keysets = [set(r.content.metric_records[p.Record.METRICS].keys()) for r in replies]
    common = set.intersection(*keysets) if keysets else set()
    for reply in replies:
        record = reply.content.metric_records[p.Record.METRICS]
        for key in list(record.keys()):
            if key not in common:
                del record[key]


class GuardedStrategy(Strategy):
    """Delegates to ``inner`` after vetting replies; keeps one report per round.

    A round aggregates only when at least ``min_departments`` updates passed.
    """

    def __init__(
        self,
        inner: Strategy,
        *,
        max_update_norm: float,
        max_examples: int,
        membership: Membership,
        on_round: Callable[[RoundReport], None] | None = None,
        min_departments: int = 1,
    ) -> None:
        self.inner = inner
        self.membership = membership
        self._sent: dict[str, set[int]] = {}
        """The nodes each step of the current round was sent to."""
        self.max_update_norm = max_update_norm
        self.max_examples = max_examples
        self._examples: dict[tuple[str, str], int] = {}
        """The ``num-examples`` each department first reported, per message type."""
        self.min_departments = min_departments
        self.reports: list[RoundReport] = []
        self._on_round = on_round
        self._global: dict[str, np.ndarray] = {}
        self._current: RoundReport | None = None
        self._central = False

    def summary(self) -> None:
        logger.info("GuardedStrategy(max_update_norm=%s) around:", self.max_update_norm)
        self.inner.summary()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self._global = p.arrays_to_numpy(arrays)
        self._current = RoundReport(
            server_round=server_round, started=time.perf_counter()
        )
        self.reports.append(self._current)
        self._size_sample(grid, server_round, MessageType.TRAIN)
        messages = list(self.inner.configure_train(server_round, arrays, config, grid))
        self._sent[MessageType.TRAIN] = {m.metadata.dst_node_id for m in messages}
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        report = self._report(server_round)
        report.train_seconds = time.perf_counter() - report.started
        # Keyed by department: unique, since a duplicate claim is rejected.
        accepted: dict[str, Message] = {}
        replies = list(replies)
        report.train += self._unanswered(MessageType.TRAIN, replies)
        claimed = _claims(replies)
        for msg in replies:
            if msg.has_error():
                reason = msg.error.reason or f"error code {msg.error.code}"
                report.train.append(
                    DepartmentOutcome(
                        f"node-{msg.metadata.src_node_id}",
                        msg.metadata.src_node_id,
                        p.Outcome.FAILED,
                        reason,
                    )
                )
                continue
            department, status, reason = _department(msg)
            reported = _metrics(msg)
            node_id = msg.metadata.src_node_id
            if department in claimed:
                outcome = _duplicate(department, node_id)
                logger.warning(
                    "round %d: update from node %d rejected: %s",
                    server_round,
                    node_id,
                    outcome.reason,
                )
                report.train.append(outcome)
                continue
            if status == p.Status.REFUSED:
                logger.warning(
                    "round %d: %s refused: %s", server_round, department, reason
                )
                report.train.append(
                    DepartmentOutcome(
                        department, node_id, p.Outcome.REFUSED, reason, reported
                    )
                )
                continue
            problem = self._vet(msg, department, MessageType.TRAIN)
            if problem is None:
                problem = check_update(
                    p.arrays_to_numpy(msg.content.array_records[p.Record.ARRAYS]),
                    self._global,
                    max_norm=self.max_update_norm,
                )
            if problem is not None:
                logger.warning(
                    "round %d: update from %s rejected: %s",
                    server_round,
                    department,
                    problem,
                )
                report.train.append(
                    DepartmentOutcome(
                        department, node_id, p.Outcome.REJECTED, problem, reported
                    )
                )
                continue
            digest = p.hash_arrays(msg.content.array_records[p.Record.ARRAYS]).hex()
            report.train.append(
                DepartmentOutcome(
                    department,
                    node_id,
                    p.Outcome.TRAINED,
                    "",
                    reported,
                    update_hash=digest,
                )
            )
            self._remember(msg, department, MessageType.TRAIN)
            accepted[department] = msg
        if len(accepted) < self.min_departments:
            report.skipped = (
                f"{len(accepted)} department(s) trained, fewer than min_departments "
                f"{self.min_departments}: the model is unchanged"
            )
            logger.warning("round %d: %s", server_round, report.skipped)
            return None, None
        _common_metric_keys(accepted.values())
        arrays, metrics = self.inner.aggregate_train(
            server_round, _by_department(accepted)
        )
        if arrays is not None:
            report.aggregate_hash = p.hash_arrays(arrays).hex()
        if metrics is not None:
            report.aggregated_train = {
                k: float(v) for k, v in metrics.items() if isinstance(v, int | float)
            }
        return arrays, metrics

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self._size_sample(grid, server_round, MessageType.EVALUATE)
        messages = list(
            self.inner.configure_evaluate(server_round, arrays, config, grid)
        )
        self._sent[MessageType.EVALUATE] = {m.metadata.dst_node_id for m in messages}
        return messages

    def _size_sample(self, grid: Grid, server_round: int, kind: str) -> None:
        """Wait, at most the round timeout, for enough departments; have the
        inner strategy sample those connected instead of waiting for more."""
        connected = await_departments(
            grid,
            self.membership,
            first=server_round == 1 and kind == MessageType.TRAIN,
            what=f"round {server_round} ({kind})",
        )
        inner = self.inner
        if hasattr(inner, "min_available_nodes"):
            inner.min_available_nodes = connected
        if kind == MessageType.TRAIN and hasattr(inner, "min_train_nodes"):
            inner.min_train_nodes = connected
        if kind == MessageType.EVALUATE and hasattr(inner, "min_evaluate_nodes"):
            inner.min_evaluate_nodes = min(inner.min_evaluate_nodes, connected)

    def _unanswered(self, kind: str, replies: list[Message]) -> list[DepartmentOutcome]:
        """The nodes sent ``kind`` this round that never replied."""
        answered = {m.metadata.src_node_id for m in replies}
        return [
            DepartmentOutcome(
                f"node-{node}",
                node,
                p.Outcome.FAILED,
                f"no reply within round-timeout {self.membership.wait:g} s: what it "
                "sent never reached the coordinator",
            )
            for node in sorted(self._sent.pop(kind, set()) - answered)
        ]

    def aggregate_evaluate(
        self, server_round: int, replies: Iterable[Message]
    ) -> MetricRecord | None:
        report = self._report(server_round)
        ok: dict[str, Message] = {}
        replies = list(replies)
        report.evaluate += self._unanswered(MessageType.EVALUATE, replies)
        claimed = _claims(replies)
        for msg in replies:
            if msg.has_error():
                report.evaluate.append(
                    DepartmentOutcome(
                        f"node-{msg.metadata.src_node_id}",
                        msg.metadata.src_node_id,
                        p.Outcome.FAILED,
                        msg.error.reason or "",
                    )
                )
                continue
            department, status, reason = _department(msg)
            node_id = msg.metadata.src_node_id
            if department in claimed:
                report.evaluate.append(_duplicate(department, node_id))
                continue
            if status == p.Status.REFUSED:
                # A department may refuse to read its held-out records (its
                # access policy, or its declaration): nothing to aggregate.
                logger.warning(
                    "round %d: %s refused to evaluate: %s",
                    server_round,
                    department,
                    reason,
                )
                report.evaluate.append(
                    DepartmentOutcome(
                        department, node_id, p.Outcome.REFUSED, reason, _metrics(msg)
                    )
                )
                continue
            problem = self._vet(msg, department, MessageType.EVALUATE)
            if problem is not None:
                logger.warning(
                    "round %d: evaluation from %s rejected: %s",
                    server_round,
                    department,
                    problem,
                )
                report.evaluate.append(
                    DepartmentOutcome(
                        department, node_id, p.Outcome.REJECTED, problem, _metrics(msg)
                    )
                )
                continue
            self._remember(msg, department, MessageType.EVALUATE)
            report.evaluate.append(
                DepartmentOutcome(
                    department,
                    msg.metadata.src_node_id,
                    p.Outcome.TRAINED,
                    "",
                    _metrics(msg),
                )
            )
            ok[department] = msg
        metrics = None
        if ok:
            _common_metric_keys(ok.values())
            metrics = self.inner.aggregate_evaluate(server_round, _by_department(ok))
        if metrics is not None:
            report.aggregated_evaluate = {
                k: float(v) for k, v in metrics.items() if isinstance(v, int | float)
            }
        report.round_seconds = time.perf_counter() - report.started
        if not self._central:
            self._finish(report)
        return metrics

    def start(
        self,
        grid: Grid,
        initial_arrays: ArrayRecord,
        num_rounds: int = 3,
        timeout: float = 3600,
        train_config: ConfigRecord | None = None,
        evaluate_config: ConfigRecord | None = None,
        evaluate_fn: Callable[[int, ArrayRecord], MetricRecord | None] | None = None,
    ) -> Result:
        """Flower's round loop, with central evaluation recorded in the reports."""
        self._central = evaluate_fn is not None

        def central(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
            assert evaluate_fn is not None
            result = evaluate_fn(server_round, arrays)
            if server_round > 0:
                report = self._report(server_round)
                if result is not None:
                    report.central_evaluate = {
                        k: float(v)
                        for k, v in result.items()
                        if isinstance(v, int | float)
                    }
                self._finish(report)
            return result

        return super().start(
            grid,
            initial_arrays,
            num_rounds,
            timeout,
            train_config,
            evaluate_config,
            central if evaluate_fn is not None else None,
        )

    def _vet(self, msg: Message, department: str, kind: str) -> str | None:
        """Why ``msg``'s records or reported numbers must not be used, or ``None``."""
        content = msg.content
        raw = _raw_metrics(msg)
        return (
            structure_problem(
                content.array_records.keys(),
                content.metric_records.keys(),
                needs_arrays=kind == MessageType.TRAIN,
            )
            or examples_problem(
                raw,
                max_examples=self.max_examples,
                first=self._examples.get((kind, department)),
            )
            or metrics_problem(raw)
        )

    def _remember(self, msg: Message, department: str, kind: str) -> None:
        examples = int(_metrics(msg)[p.Metric.NUM_EXAMPLES])
        self._examples.setdefault((kind, department), examples)

    def _finish(self, report: RoundReport) -> None:
        if self._on_round is not None:
            self._on_round(report)

    def _report(self, server_round: int) -> RoundReport:
        if self._current is None or self._current.server_round != server_round:
            self._current = RoundReport(
                server_round=server_round, started=time.perf_counter()
            )
            self.reports.append(self._current)
        return self._current
