"""The department's Flower ClientApp (Message API), audited by construction.

``app`` is what ``[tool.flwr.app.components]`` names: a SuperNode started with
``--node-config "department='health-site-1' state-dir='/srv/fedgov'"`` runs it
for that department. :func:`make_client_app` builds it for every engine, with
the department's audit mod (:class:`department_nodes.audit.DepartmentAuditMod`)
always inside the boundary guard: every train, evaluate, SecAgg+ and query
message of a job with ``audit`` on is recorded before its reply leaves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import torch
from flwr.app import Context, Message
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import Mod

from department_nodes.access import RoleSource
from department_nodes.analytics import answer_query
from department_nodes.audit import DepartmentAuditMod
from department_nodes.boundary import boundary_guard
from department_nodes.node import DepartmentNode, NodePolicy
from department_nodes.secagg import (
    SecureSumProvider,
    handle_secure_round,
    is_secure_round,
    refuse_cleartext,
    requires_secure_aggregation,
)
from fedgov.job import TrainJob
from fedgov.job_data import departments_for

__all__ = ["app", "make_client_app"]


def _node(
    context: Context,
    job: TrainJob | None,
    *,
    allow_non_private: bool,
    roles: RoleSource | None,
) -> DepartmentNode:
    # Each department trains single-threaded: several share a machine in
    # simulation, and torch's thread pool would oversubscribe the cores.
    torch.set_num_threads(1)
    if job is None:
        job = TrainJob.from_run_config(context.run_config)
    policy = NodePolicy.from_context(context, job, departments_for(job))
    if allow_non_private and not policy.allow_non_private:
        policy = replace(policy, allow_non_private=True)
    return DepartmentNode(job, policy, context.state, roles=roles)


def make_client_app(
    *,
    job: TrainJob | None = None,
    allow_non_private: bool = False,
    mods: Sequence[Mod] = (),
    secure_sum_providers: Mapping[str, SecureSumProvider] | None = None,
    roles: RoleSource | None = None,
) -> ClientApp:
    """A department ClientApp.

    ``job`` replaces the run_config (in-process simulations have none);
    ``allow_non_private`` is for baseline experiments only;
    ``secure_sum_providers`` name the vectors this department contributes to
    secure sums (:func:`coordinator.secagg.secure_sum`); ``mods`` run inside
    the audit mod (a fault injected there is audited as the handler's);
    ``roles`` answers who holds the analyst role (in-process chains;
    default: the chain each department's node configuration names).
    """
    # The boundary guard is the outermost mod: it sees the reply after every
    # other mod and lets it leave only if it carries nothing it should not.
    # The audit mod sees exactly what the handler (and any inner mod) returned.
    client_app = ClientApp(mods=[boundary_guard(job), DepartmentAuditMod(job), *mods])

    def node(context: Context) -> DepartmentNode:
        return _node(context, job, allow_non_private=allow_non_private, roles=roles)

    @client_app.train()
    def train(msg: Message, context: Context) -> Message:
        if is_secure_round(msg):
            return handle_secure_round(
                msg, context, node=node, sum_providers=secure_sum_providers
            )
        department = node(context)
        if requires_secure_aggregation(context, department.job):
            return refuse_cleartext(msg, department.policy.department)
        return department.train(msg)

    @client_app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        return node(context).evaluate(msg)

    @client_app.query()
    def query(msg: Message, context: Context) -> Message:
        return answer_query(msg, context, job=job, roles=roles)

    return client_app


app = make_client_app()
