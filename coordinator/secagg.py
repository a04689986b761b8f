"""Secure aggregation for fedgov: Flower's SecAgg+ for training and for sums.

The coordinator learns only the (weighted) sum of what the departments send,
never one department's vector. Two entry points, both called from a
ServerApp's ``main(grid, context)``:

* :func:`run_secure_training` runs a :class:`~fedgov.job.TrainJob` with
  ``secure_aggregation=True`` (FedAvg or FedProx); the ServerApp of
  :mod:`coordinator.server_app` calls it instead of
  :func:`~coordinator.training.run_training`;
* :func:`secure_sum` sums one fixed-length vector per department, e.g. each
  department's DP-noised histogram: the department side registers a
  :data:`~department_nodes.secagg.SecureSumProvider` under the task's name
  (``make_client_app(secure_sum_providers={"histogram": ...})``).

See ``docs/secure-aggregation.md`` for the threat model, the parameters and
their reasons, and what travels in the clear.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from flwr.server import LegacyContext, ServerConfig
from flwr.server.workflow import DefaultWorkflow

from coordinator._membership import Membership
from coordinator._secagg_settings import (
    MODULUS_RANGE,
    TRAINING_MAX_WEIGHT,
    DropoutTolerantSecAggPlusWorkflow,
    SecAggSettings,
    majority_threshold,
)
from coordinator._secagg_sum import SecureSumResult, SecureSumStrategy
from coordinator._secagg_training import FedgovEvaluation, SecureTrainingStrategy
from coordinator.guard import GuardedStrategy, RoundReport
from coordinator.strategies import build_strategy
from coordinator.training import (
    central_evaluation,
    finish_run,
    personalisation_extra,
    progress_writer,
)
from fedgov import protocol as p
from fedgov.errors import ConfigurationError, FedgovError
from fedgov.job_data import departments_for, model_spec
from fedgov.models import build_model
from fedgov.run_record import RunRecord

if TYPE_CHECKING:
    from flwr.app import Context
    from flwr.common import Scalar
    from flwr.serverapp import Grid

    from fedgov.job import TrainJob

__all__ = [
    "MODULUS_RANGE",
    "TRAINING_MAX_WEIGHT",
    "DropoutTolerantSecAggPlusWorkflow",
    "SecAggSettings",
    "SecureAggregationError",
    "SecureSumResult",
    "majority_threshold",
    "run_secure_training",
    "secure_sum",
]

logger = logging.getLogger(__name__)


class SecureAggregationError(FedgovError):
    """A secure round produced no result (too many dropouts, nobody contributed)."""


def run_secure_training(
    grid: Grid,
    context: Context,
    job: TrainJob,
    *,
    engine: str,
    on_round: Callable[[RoundReport], None] | None = None,
) -> RunRecord:
    """Run ``job`` with every training round through SecAgg+; return its run record.

    The record has the plain path's shape; a round's train outcomes carry no
    update hashes (updates are masked), its ``aggregate_hash`` is the new
    global model's. ``record.extra["secure_aggregation"]`` holds the SecAgg+
    parameters, the rounds that halted and the aggregates that were rejected.
    """
    if not job.secure_aggregation:
        raise ConfigurationError("secure_aggregation", "the job does not ask for it")
    started = time.time()
    departments = departments_for(job)
    settings = SecAggSettings.for_training(job, num_departments=len(departments))
    state = build_model(model_spec(job), seed=job.seed).state_dict()
    strategy = SecureTrainingStrategy(
        job,
        settings=settings,
        names=list(state),
        initial=[t.detach().cpu().numpy() for t in state.values()],
        evaluate_fn=central_evaluation(job),
        on_round=progress_writer(job, then=on_round),
    )
    guard = GuardedStrategy(
        build_strategy(job, num_departments=len(departments)),
        max_update_norm=job.max_update_norm,
        max_examples=job.max_examples,
        membership=Membership(
            roster=len(departments), minimum=job.min_departments, wait=job.round_timeout
        ),
    )
    logger.info(
        "secure training over %d departments: threshold %d (tolerates %d dropouts), "
        "clipping range %g, quantization step %.3g",
        settings.num_departments,
        settings.reconstruction_threshold,
        settings.tolerated_dropouts,
        settings.clipping_range,
        settings.quantization_step,
    )
    workflow = DefaultWorkflow(
        fit_workflow=settings.workflow(),
        evaluate_workflow=FedgovEvaluation(strategy, guard, job=job),
    )
    workflow(
        grid,
        LegacyContext(
            context, config=ServerConfig(num_rounds=job.num_rounds), strategy=strategy
        ),
    )
    final = strategy.arrays(strategy.global_ndarrays)
    return finish_run(
        job,
        engine=engine,
        started=started,
        reports=strategy.reports,
        final=final,
        extra={
            **personalisation_extra(grid, job, final),
            "secure_aggregation": {
                **settings.to_json(),
                "halted_rounds": list(strategy.halted_rounds),
                "rejected_aggregates": {
                    str(k): v for k, v in strategy.rejected_aggregates.items()
                },
            },
        },
    )


def _no_evaluation(grid: Grid, context: Context) -> None:
    """A secure sum has no evaluate step."""


def secure_sum(
    grid: Grid,
    context: Context,
    *,
    task: str,
    length: int,
    bound: float,
    num_departments: int,
    query: Mapping[str, Scalar] | None = None,
    min_departments: int = 2,
    timeout: float | None = None,
) -> SecureSumResult:
    """Sum one vector of ``length`` entries from each department through SecAgg+.

    Call it from a ServerApp's ``main(grid, context)``. Every one of the
    ``num_departments`` departments (the round waits for all to connect) is
    asked for its vector for ``task``; each department's
    :data:`~department_nodes.secagg.SecureSumProvider` for ``task`` receives
    ``query`` (sent in the clear) and must return ``length`` finite entries
    in ``[-bound, bound]``, noise already added. The coordinator learns the
    total, the contributing departments' names, and why others did not
    contribute; never a department's vector. ``timeout`` (seconds) bounds
    each of SecAgg+'s four stages; up to ``num_departments -
    majority_threshold(num_departments, min_departments)`` departments may
    drop out.

    Raises :class:`SecureAggregationError` when the round halts (too many
    dropouts) or no department contributes.

    Example (the department side registers the provider)::

        def histogram(request: SecureSumRequest, context: Context) -> np.ndarray:
            counts = my_local_histogram(request.department, request.query)
            return counts + my_dp_noise(request.query)

        client_app = make_client_app(secure_sum_providers={"histogram": histogram})

        @server_app.main()
        def main(grid: Grid, context: Context) -> None:
            result = secure_sum(grid, context, task="histogram", length=10,
                                bound=1e6, num_departments=6)
            print(result.total, result.contributors)
    """
    if length < 1:
        raise ConfigurationError("length", f"must be >= 1, got {length}")
    if not task:
        raise ConfigurationError("task", "must name the departments' provider")
    if clash := sorted(p.SECAGG_RESERVED_KEYS.intersection(query or {})):
        raise ConfigurationError("query", f"uses keys reserved for the round: {clash}")
    settings = SecAggSettings.for_sum(
        num_departments=num_departments,
        bound=bound,
        min_departments=min_departments,
        timeout=timeout,
    )
    strategy = SecureSumStrategy(
        task=task, length=length, bound=bound, query=query or {}, settings=settings
    )
    workflow = DefaultWorkflow(
        fit_workflow=settings.workflow(), evaluate_workflow=_no_evaluation
    )
    workflow(
        grid,
        LegacyContext(context, config=ServerConfig(num_rounds=1), strategy=strategy),
    )
    if not strategy.outcomes:
        raise SecureAggregationError(
            f"secure sum {task!r} halted: fewer than {settings.reconstruction_threshold} "
            f"of {num_departments} departments completed the protocol"
        )
    contributors = tuple(
        o.department for o in strategy.outcomes if o.status == p.Outcome.TRAINED
    )
    if strategy.total is None:
        raise SecureAggregationError(
            f"secure sum {task!r}: no department contributed "
            f"({[(o.department, o.status, o.reason) for o in strategy.outcomes]})"
        )
    return SecureSumResult(
        task=task,
        total=strategy.total,
        contributors=contributors,
        outcomes=tuple(strategy.outcomes),
        max_error=len(contributors) * settings.quantization_step,
        settings=settings,
    )
