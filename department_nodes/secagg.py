"""A department's side of secure aggregation: Flower's SecAgg+ around fedgov's logic.

A secure round is four ``train`` messages from the coordinator (SecAgg+'s
setup, share-keys, collect-masked-vectors and unmask stages). Flower's
``secaggplus_mod`` answers three of them itself; in the third it calls the
department, whose vector it quantizes, masks and sends. Everything else in
the reply travels in the clear: the weight (``num_examples``) and the
metrics, which carry the department's name, status and reason, and its
epsilon figures (public by design).

Two tasks run over a secure round, named by the instruction's ``fedgov-task``:

* ``train``: :class:`~department_nodes.node.DepartmentNode` trains as in a
  plain round (budget charged before data is read, DP-SGD) and the department
  sends the *difference* between its model and the global one, weighted by
  its example count;
* ``secure-sum``: a :data:`SecureSumProvider` registered for the query's task
  computes a fixed-length vector (a DP-noised histogram, say) and the
  department sends it with weight 1.

A department that refuses (over budget, non-private job, no provider for the
task) or whose own vector fails its local checks does not drop out: it takes
part with an all-zero vector of weight 0, which adds exactly nothing, and
says why in the clear metrics. Dropping out is kept for real failures, so a
refusal never uses up the round's dropout tolerance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.client.message_handler.message_handler import (
    handle_legacy_message_from_msgtype,
)
from flwr.client.mod import make_ffn, secaggplus_mod
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS

from department_nodes._secagg_client import (
    KEY_UPDATE_SHA256,
    LOCAL_UPDATE_STATE,
    SecureDepartmentClient,
)
from department_nodes._secagg_protocol import (
    SecureSumContribution,
    SecureSumProvider,
    SecureSumRefusedError,
    SecureSumRequest,
    TrainingNode,
)
from fedgov import protocol as p

if TYPE_CHECKING:
    from flwr.client import Client

    from fedgov.job import TrainJob

__all__ = [
    "NODE_REQUIRE_SECURE",
    "LocalUpdate",
    "SecureSumContribution",
    "SecureSumProvider",
    "SecureSumRefusedError",
    "SecureSumRequest",
    "TrainingNode",
    "handle_secure_round",
    "is_secure_round",
    "refuse_cleartext",
    "requires_secure_aggregation",
    "take_local_update",
]

NODE_REQUIRE_SECURE = "require-secure-aggregation"
"""Node-config key with which a department insists on SecAgg+ whatever the job says."""


def is_secure_round(msg: Message) -> bool:
    """Whether ``msg`` is a stage of a SecAgg+ round (it carries SecAgg+'s config)."""
    return msg.has_content() and RECORD_KEY_CONFIGS in msg.content.config_records


@dataclass(frozen=True)
class LocalUpdate:
    """The update a department computed in a secure round, before masking."""

    sha256: bytes
    """:func:`fedgov.protocol.hash_arrays` of the named float64 differences."""
    num_examples: int
    """The rows it trained on (the reply's weight is 0 if it withheld the update)."""


def take_local_update(context: Context) -> LocalUpdate | None:
    """Remove and return the update the department computed in this secure round.

    Set in the stage that trains (collect_masked_vectors of a ``train`` task)
    whenever the department trained, whether it then sent the update or
    withheld it; ``None`` when it did not train (refused, or a secure sum).
    """
    records = context.state.config_records
    if LOCAL_UPDATE_STATE not in records:
        return None
    entry = records.pop(LOCAL_UPDATE_STATE)
    return LocalUpdate(
        sha256=bytes.fromhex(str(entry[KEY_UPDATE_SHA256])),
        num_examples=int(entry[p.Metric.NUM_EXAMPLES]),  # type: ignore[arg-type]
    )


def requires_secure_aggregation(context: Context, job: TrainJob) -> bool:
    """Whether this department must not send a cleartext update.

    The job asks for SecAgg+, or the department insists on it in its own node
    config, so that a coordinator cannot turn it off by editing the run config.
    """
    insist = str(context.node_config.get(NODE_REQUIRE_SECURE, "false")).lower()
    return job.secure_aggregation or insist in ("1", "true", "yes")


def refuse_cleartext(msg: Message, department: str) -> Message:
    """The refusal a department that requires SecAgg+ sends to a plain training request."""
    reason = (
        f"department {department} requires secure aggregation and does not send "
        "a cleartext update"
    )
    return Message(
        RecordDict(
            {
                p.Record.METRICS: MetricRecord({p.Metric.NUM_EXAMPLES: 0}),
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


def handle_secure_round(
    msg: Message,
    context: Context,
    *,
    node: Callable[[Context], TrainingNode],
    sum_providers: Mapping[str, SecureSumProvider] | None = None,
) -> Message:
    """Answer one stage of a SecAgg+ round through Flower's ``secaggplus_mod``.

    ``node`` builds the department (called only in the stage that trains or
    sums); ``sum_providers`` maps secure-sum task names to the functions that
    compute this department's vectors. Exceptions propagate: Flower turns
    them into an error reply, and the coordinator counts a dropout.
    """
    providers = dict(sum_providers or {})

    def legacy(message: Message, ctx: Context) -> Message:
        def client_fn(client_ctx: Context) -> Client:
            return SecureDepartmentClient(
                message, client_ctx, node=node, providers=providers
            ).to_client()

        return handle_legacy_message_from_msgtype(client_fn, message, ctx)

    return make_ffn(legacy, [secaggplus_mod])(msg, context)
