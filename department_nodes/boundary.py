"""The department's boundary policy: what a reply of each kind may carry.

:class:`privacy.boundary.BoundaryGuard` enforces a policy on every reply that
leaves the node; this module says what the policy is for fedgov's messages:
the job's model parameters (names, shapes, dtypes), the dataset's column
classes, and the metric and config keys the department's own handlers send.
Anything else - an extra array, a raw row, a metric named after a sensitive
column - is refused before it leaves.
"""

from __future__ import annotations

from flwr.app import Context, Message
from flwr.common.secure_aggregation.secaggplus_constants import Key as SecAggKey

from department_nodes._message_job import message_job
from department_nodes.analytics import REPLY_METRIC_KEYS
from department_nodes.data_access import DatasetMismatchError, DepartmentDataset
from department_nodes.node import own_declaration
from department_nodes.secagg import is_secure_round
from fedgov import protocol as p
from fedgov.data import DataError, DatasetSpec
from fedgov.job import TrainJob
from fedgov.job_data import model_spec
from fedgov.models import build_model
from privacy.boundary import BoundaryGuard, BoundaryPolicy, declared_parameters

__all__ = ["TRAINING_REPLY_KEYS", "boundary_guard", "boundary_policy"]

TRAINING_REPLY_KEYS = frozenset(
    {
        p.Metric.NUM_EXAMPLES,
        p.Metric.TRAIN_LOSS,
        p.Metric.EPSILON_JOB,
        p.Metric.EPSILON_TOTAL,
        p.Metric.EPSILON_LIMIT,
        p.Metric.NOISE_MULTIPLIER,
        p.Metric.SAMPLE_RATE,
        p.Metric.STEPS,
        p.Metric.COMPUTE_SECONDS,
        p.Metric.EVAL_LOSS,
        p.Metric.EVAL_ACCURACY,
        p.Metric.EVAL_AUC,
        p.Metric.EVAL_F1,
        p.Metric.EVAL_RMSE,
        p.Metric.EVAL_MAE,
        p.Reply.DEPARTMENT,
        p.Reply.STATUS,
    }
)
"""Metric and config keys of train and evaluate replies (``department_nodes.node``)."""

# SecAgg+ stages exchange public keys, encrypted shares and masked vectors:
# protocol fields of Flower's secaggplus_mod and of the legacy FitRes it wraps.
_SECAGG_KEYS = frozenset(
    str(value)
    for name, value in vars(SecAggKey).items()
    if not name.startswith("_") and isinstance(value, str)
)
_LEGACY_FIT_KEYS = frozenset({"num_examples", "code", "message"})
_SECAGG_BYTES_KEYS = frozenset({"pk1", "pk2", "ctxts", "shares", "masked_params"})


def boundary_policy(
    msg: Message, job: TrainJob, spec: DatasetSpec | None
) -> BoundaryPolicy:
    """The policy for ``msg``'s reply under ``job``.

    ``spec`` is the department's own declaration: its classes, never the
    coordinator's, decide which columns may be named. ``None`` (the
    department could not resolve its dataset, and refuses): the reply may
    carry no model parameters at all.
    """
    parameters = (
        {}
        if spec is None
        else declared_parameters(build_model(model_spec(job, spec)).state_dict())
    )
    columns = () if spec is None else tuple(spec.schema)
    allowed = TRAINING_REPLY_KEYS | REPLY_METRIC_KEYS
    if is_secure_round(msg):
        return BoundaryPolicy(
            parameters=parameters,
            columns=columns,
            allowed_keys=allowed | _SECAGG_KEYS | _LEGACY_FIT_KEYS,
            free_text_keys=frozenset({p.Reply.REASON, "message"}),
            bytes_keys=_SECAGG_BYTES_KEYS,
            max_list_length=4096,
        )
    return BoundaryPolicy(
        parameters=parameters,
        columns=columns,
        allowed_keys=allowed,
        free_text_keys=frozenset({p.Reply.REASON}),
        # A query answer is a vector of at most MAX_ANSWER_LENGTH numbers.
        max_list_length=1024,
    )


def boundary_guard(job: TrainJob | None) -> BoundaryGuard:
    """The guard mod for ``job`` (or, deployed, the job in each message's run_config)."""

    def factory(msg: Message, context: Context) -> BoundaryPolicy:
        run_job = job or message_job(msg, context)
        declaration = own_declaration(context, job, run_job.dataset)
        try:
            spec = DepartmentDataset.resolve(
                run_job.dataset, declaration=declaration
            ).spec
        except (DatasetMismatchError, DataError):
            spec = None
        return boundary_policy(msg, run_job, spec)

    return BoundaryGuard(factory)
