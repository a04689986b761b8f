"""The department behind ``secaggplus_mod``: a NumPyClient around fedgov's own logic.

Flower's mod hands the client the legacy ``FitIns`` (an ordered list of
arrays and a config) and quantizes and masks whatever ``fit`` returns, with
the returned example count as the weight. Two things must hold for the masked
sum to be right, and the coordinator can no longer check either once the
vector is masked, so the department checks them itself before sending:

* every entry is finite (a NaN would be cast to an arbitrary integer and
  corrupt everyone's sum);
* ``weight / max_weight * |entry| <= clipping_range`` (Flower clips silently,
  which would change the sum without anybody noticing).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.client import NumPyClient

from department_nodes._secagg_protocol import (
    SecureSumContribution,
    SecureSumProvider,
    SecureSumRefusedError,
    SecureSumRequest,
    TrainingNode,
)
from department_nodes.data_access import DepartmentDataset
from fedgov import protocol as p
from fedgov.errors import ConfigurationError
from fedgov.job_data import model_spec
from fedgov.models import build_model

if TYPE_CHECKING:
    from flwr.common.typing import NDArrays, Scalar

    from department_nodes.node import NodePolicy
    from fedgov.job import TrainJob

__all__ = [
    "KEY_UPDATE_SHA256",
    "LOCAL_UPDATE_STATE",
    "SecureDepartmentClient",
    "remember_local_update",
]

logger = logging.getLogger(__name__)

FitResult = tuple["NDArrays", int, dict[str, "Scalar"]]

LOCAL_UPDATE_STATE = "fedgov.secagg.local-update"
"""Context.state record holding the digest of the unmasked update just computed."""
KEY_UPDATE_SHA256 = "update-sha256"


def remember_local_update(
    context: Context, names: list[str], update: NDArrays, *, examples: int
) -> None:
    """Leave the digest of ``update`` (the unmasked difference) in ``context.state``.

    The department's audit mod sits outside SecAgg+ and sees only the masked
    reply, whose weight is 0 when the department withholds its update; this
    is how the update it must log, and the rows it trained on, reach it
    without leaving the node. The digest is :func:`fedgov.protocol.hash_arrays`
    of the named float64 differences.
    """
    record = ArrayRecord(
        array_dict={n: Array(np.asarray(a)) for n, a in zip(names, update, strict=True)}
    )
    context.state.config_records[LOCAL_UPDATE_STATE] = ConfigRecord(
        {
            KEY_UPDATE_SHA256: p.hash_arrays(record).hex(),
            p.Metric.NUM_EXAMPLES: examples,
        }
    )


def _required(config: Mapping[str, Scalar], key: str) -> Scalar:
    if key not in config:
        raise ConfigurationError(key, "a secure round's instruction must carry it")
    return config[key]


def state_names(job: TrainJob, policy: NodePolicy) -> list[str]:
    """The model's tensor names, in the order the legacy parameter list uses,
    for the department's own declaration of the job's dataset."""
    dataset = DepartmentDataset.resolve(job.dataset, declaration=policy.declaration)
    return list(build_model(model_spec(job, dataset.spec)).state_dict().keys())


def update_problem(difference: NDArrays, *, max_norm: float) -> str | None:
    """Why the coordinator's guard would reject this update, or ``None``.

    The guard's rule (finite, L2 norm of the difference within ``max_norm``),
    applied by the department because the guard cannot see a masked update.
    """
    squared = 0.0
    for array in difference:
        if not np.all(np.isfinite(array)):
            return "the update contains NaN or infinite values"
        squared += float(np.sum(np.square(array, dtype=np.float64)))
    norm = math.sqrt(squared)
    if norm > max_norm:
        return f"update norm {norm:.3g} exceeds the limit {max_norm:.3g}"
    return None


def clipping_problem(
    vector: NDArrays, *, weight: int, max_weight: float, clipping_range: float
) -> str | None:
    """Why SecAgg+'s quantizer would change ``vector`` sent with ``weight``, or ``None``."""
    if weight > max_weight:
        return f"weight {weight} exceeds the secure round's maximum {max_weight:g}"
    largest = max((float(np.max(np.abs(a))) for a in vector if a.size), default=0.0)
    if not np.isfinite(largest):
        return "the vector contains NaN or infinite values"
    if weight / max_weight * largest > clipping_range:
        return (
            f"entry {largest:.4g} at weight {weight} would be clipped to the secure "
            f"round's range {clipping_range:g}"
        )
    return None


class SecureDepartmentClient(NumPyClient):
    """One department for one message of a secure round.

    ``instruction`` is the coordinator's message being answered: the plain
    department logic is handed a copy of it carrying fedgov's own records.
    """

    def __init__(
        self,
        instruction: Message,
        context: Context,
        *,
        node: Callable[[Context], TrainingNode],
        providers: Mapping[str, SecureSumProvider],
    ) -> None:
        self._instruction = instruction
        self._context = context
        self._node = node
        self._providers = providers

    def fit(self, parameters: NDArrays, config: dict[str, Scalar]) -> FitResult:
        task = config.get(p.SecAgg.TASK)
        if task == p.SecAggTask.TRAIN:
            return self._train(parameters, config)
        if task == p.SecAggTask.SUM:
            return self._sum(config)
        # Unknown work is a failure, not a refusal: the department drops out.
        raise ConfigurationError(
            p.SecAgg.TASK,
            f"must be {p.SecAggTask.TRAIN!r} or {p.SecAggTask.SUM!r}, got {task!r}",
        )

    # -- training --------------------------------------------------------------

    def _train(self, parameters: NDArrays, config: dict[str, Scalar]) -> FitResult:
        node = self._node(self._context)
        names = state_names(node.job, node.policy)
        if len(parameters) != len(names):
            raise ConfigurationError(
                "parameters",
                f"{len(parameters)} tensors arrived, the model has {len(names)}",
            )
        reference = {
            name: np.asarray(a) for name, a in zip(names, parameters, strict=True)
        }
        content = RecordDict(
            {
                p.Record.ARRAYS: ArrayRecord(
                    array_dict={n: Array(a) for n, a in reference.items()}
                ),
                p.Record.CONFIG: ConfigRecord(dict(config)),
            }
        )
        # The coordinator's instruction, carrying fedgov's records instead of FitIns.
        instruction = copy.copy(self._instruction)
        instruction.content = content
        reply = node.train(instruction)

        fedgov = reply.content.config_records[p.Record.FEDGOV]
        status = str(fedgov[p.Reply.STATUS])
        metrics: dict[str, Scalar] = {
            k: v
            for k, v in reply.content.metric_records[p.Record.METRICS].items()
            if isinstance(v, int | float)
        }
        department = node.policy.department
        if status != p.Status.OK:
            return _abstain(
                parameters, department, status, str(fedgov[p.Reply.REASON]), metrics
            )
        trained = p.arrays_to_numpy(reply.content.array_records[p.Record.ARRAYS])
        weight = int(metrics[p.Metric.NUM_EXAMPLES])
        delta = [trained[n].astype(np.float64) - reference[n] for n in names]
        remember_local_update(self._context, names, delta, examples=weight)
        problem = update_problem(delta, max_norm=node.job.max_update_norm)
        if problem is None:
            problem = clipping_problem(
                delta,
                weight=weight,
                max_weight=float(_required(config, p.SecAgg.MAX_WEIGHT)),
                clipping_range=float(_required(config, p.SecAgg.CLIPPING_RANGE)),
            )
        if problem is not None:
            logger.warning("%s withholds its update: %s", department, problem)
            return _abstain(parameters, department, p.Status.REJECTED, problem, metrics)
        return delta, weight, _clear(metrics, department, p.Status.OK, "")

    # -- secure sums -----------------------------------------------------------

    def _sum(self, config: dict[str, Scalar]) -> FitResult:
        request = SecureSumRequest(
            task=str(_required(config, p.SecAgg.SUM_TASK)),
            department=self._node(self._context).policy.department,
            length=int(_required(config, p.SecAgg.SUM_LENGTH)),
            bound=float(_required(config, p.SecAgg.SUM_BOUND)),
            server_round=int(config.get(p.Instruction.SERVER_ROUND, 0)),
            query={k: v for k, v in config.items() if k not in p.SECAGG_RESERVED_KEYS},
        )
        zeros = [np.zeros(request.length)]
        provider = self._providers.get(request.task)
        if provider is None:
            reason = f"department {request.department} offers no secure-sum task {request.task!r}"
            return _abstain(zeros, request.department, p.Status.REFUSED, reason, {})
        try:
            answer = provider(request, self._context)
        except SecureSumRefusedError as exc:
            return _abstain(
                zeros, request.department, p.Status.REFUSED, exc.reason, exc.metrics
            )
        if not isinstance(answer, SecureSumContribution):
            answer = SecureSumContribution(answer)
        vector = np.asarray(answer.vector, dtype=np.float64)
        metrics: dict[str, Scalar] = {k: float(v) for k, v in answer.metrics.items()}
        problem: str | None = None
        if vector.shape != (request.length,):
            problem = (
                f"vector has shape {vector.shape}, the query needs ({request.length},)"
            )
        else:
            problem = clipping_problem(
                [vector], weight=1, max_weight=1.0, clipping_range=request.bound
            )
        if problem is not None:
            logger.warning("%s withholds its vector: %s", request.department, problem)
            return _abstain(
                zeros, request.department, p.Status.REJECTED, problem, metrics
            )
        return [vector], 1, _clear(metrics, request.department, p.Status.OK, "")


def _clear(
    metrics: Mapping[str, Scalar], department: str, status: str, reason: str
) -> dict[str, Scalar]:
    # What the coordinator may read: these travel unmasked next to the masked vector.
    return {
        **metrics,
        p.Reply.DEPARTMENT: department,
        p.Reply.STATUS: status,
        p.Reply.REASON: reason,
    }


def _abstain(
    shape_of: NDArrays,
    department: str,
    status: str,
    reason: str,
    metrics: Mapping[str, Scalar],
) -> FitResult:
    # Zeros at weight 0 add exactly nothing to the masked sum (the quantizer maps
    # 0 to the centre of its range, which the coordinator subtracts per sender).
    zeros = [np.zeros_like(np.asarray(a), dtype=np.float64) for a in shape_of]
    return (
        zeros,
        0,
        _clear({**metrics, p.Metric.NUM_EXAMPLES: 0}, department, status, reason),
    )
