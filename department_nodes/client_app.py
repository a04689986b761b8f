"""The department's Flower ClientApp (Message API), audited by construction.

``app`` is what a SuperNode started with ``--node-config
"department='health-site-1' state-dir='/srv/fedgov'"`` runs for that
department, in its department service (:mod:`department_nodes.service`) or,
without one, in the message's own process: ``[tool.flwr.app.components]``
names the thin :mod:`department_nodes.relay_app`, which hands each message
to the service or runs this app. A department holding a dataset of its own
adds ``data-source='csv:/srv/health/records.csv'
dataset-declaration='/srv/health/clinics.yaml'``. :func:`make_client_app`
builds it for every engine, with the department's audit mod
(:class:`department_nodes.audit.DepartmentAuditMod`) always inside the
boundary guard: every train, evaluate, SecAgg+ and query message of a job
with ``audit`` on is recorded before its reply leaves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import torch
from flwr.app import Context, Message
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import Mod

from department_nodes.access import AccessSettings, RoleSource, warn_if_open
from department_nodes.analytics import answer_query
from department_nodes.audit import DepartmentAuditMod
from department_nodes.boundary import boundary_guard
from department_nodes.data_access import DatasetMismatchError
from department_nodes.node import (
    DepartmentNode,
    NodePolicy,
    is_personalisation,
    own_declaration,
    refusal,
)
from department_nodes.secagg import (
    SecureSumProvider,
    handle_secure_round,
    is_secure_round,
    refuse_cleartext,
    requires_secure_aggregation,
)
from fedgov import protocol as p
from fedgov.county import default_state_dir
from fedgov.data import DataError, DepartmentSources
from fedgov.job import TrainJob
from fedgov.job_data import departments_for

__all__ = ["app", "make_client_app"]

logger = logging.getLogger(__name__)


def _node(
    context: Context,
    job: TrainJob | None,
    *,
    allow_non_private: bool,
    sources: DepartmentSources | None = None,
    roles: RoleSource | None = None,
) -> DepartmentNode:
    # Each department trains single-threaded: several share a machine in
    # simulation, and torch's thread pool would oversubscribe the cores.
    torch.set_num_threads(1)
    run_job = job if job is not None else TrainJob.from_run_config(context.run_config)
    policy = NodePolicy.from_context(
        context,
        run_job,
        sources=sources,
        declaration=own_declaration(context, job, run_job.dataset),
    )
    if allow_non_private and not policy.allow_non_private:
        policy = replace(policy, allow_non_private=True)
    return DepartmentNode(run_job, policy, context.state, roles=roles)


def _named(context: Context) -> str:
    node = context.node_config
    if "department" in node:
        return str(node["department"])
    return f"partition-{node.get('partition-id', '?')}"


def make_client_app(
    *,
    job: TrainJob | None = None,
    allow_non_private: bool = False,
    mods: Sequence[Mod] = (),
    secure_sum_providers: Mapping[str, SecureSumProvider] | None = None,
    sources: DepartmentSources | None = None,
    roles: RoleSource | None = None,
) -> ClientApp:
    """A department ClientApp.

    ``job`` replaces the run_config (in-process simulations have none);
    ``allow_non_private`` is for baseline experiments only;
    ``secure_sum_providers`` name the vectors this department contributes to
    secure sums (:func:`coordinator.secagg.secure_sum`); ``mods`` run inside
    the audit mod (a fault injected there is audited as the handler's);
    ``sources`` is a simulation's mapping of departments to their sources (a
    deployed department names its own, ``data-source`` in its node config);
    ``roles`` answers who holds the analyst role (in-process chains;
    default: the chain each department's node configuration names).
    """
    # The boundary guard is the outermost mod: it sees the reply after every
    # other mod and lets it leave only if it carries nothing it should not.
    # The audit mod sees exactly what the handler (and any inner mod) returned.
    client_app = ClientApp(mods=[boundary_guard(job), DepartmentAuditMod(job), *mods])
    if job is not None:
        # Every department runs here, in workers not started yet: they inherit
        # the warning as said rather than each worker saying it again.
        state_dir = Path(job.state_dir or default_state_dir())
        for name in departments_for(job):
            warn_if_open(
                AccessSettings.resolve({}, state_dir=state_dir, department=name)
            )

    def node(context: Context) -> DepartmentNode:
        return _node(
            context,
            job,
            allow_non_private=allow_non_private,
            sources=sources,
            roles=roles,
        )

    def refused(
        msg: Message, context: Context, error: DatasetMismatchError | DataError
    ) -> Message:
        # The department's own declaration or source setting is unusable, or
        # not the job's: refused before any record is read.
        if isinstance(error, DatasetMismatchError):
            reason = str(error)
        else:
            reason = p.data_invalid(error.reason_class)
        logger.warning("%s refuses the job: %s", _named(context), error)
        return refusal(msg, _named(context), reason)

    @client_app.train()
    def train(msg: Message, context: Context) -> Message:
        if is_secure_round(msg):
            return handle_secure_round(
                msg, context, node=node, sum_providers=secure_sum_providers
            )
        try:
            department = node(context)
        except (DatasetMismatchError, DataError) as exc:
            return refused(msg, context, exc)
        if is_personalisation(msg):
            # The fine-tuned model stays here; only its evaluation leaves, so
            # a department that requires SecAgg+ for updates takes part too.
            return department.personalise(msg)
        if requires_secure_aggregation(context, department.job):
            return refuse_cleartext(msg, department.policy.department)
        return department.train(msg)

    @client_app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        try:
            department = node(context)
        except (DatasetMismatchError, DataError) as exc:
            return refused(msg, context, exc)
        return department.evaluate(msg)

    @client_app.query()
    def query(msg: Message, context: Context) -> Message:
        return answer_query(msg, context, job=job, sources=sources, roles=roles)

    return client_app


app = make_client_app()
