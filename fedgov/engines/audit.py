"""Audit set-up for a federated job: contracts, keys, roles, hooks, relay.

:class:`AuditEnvironment` is what a demo, an experiment or a test calls::

    env = AuditEnvironment.create(chain, state_dir, departments_for(job))
    job = env.configure(job)
    record = SimulationEngine().run(
        job, on_round=env.observer(on_round), client_mods=[env.client_mod()]
    )
    result = run_simulated_query(            # a DP query from the same budgets
        query, state_dir=job.state_dir, client_mods=[env.client_mod()],
        on_result=env.query_observer(),
    )
    env.finish(record)
    report = env.verify(run_record=record)

:meth:`AuditEnvironment.create` deploys Roles and AnchorRegistry (the
chain's first account is the admin unless told otherwise), creates or loads
the key of every department and of the coordinator in their state folders,
and grants them their roles; :meth:`AuditEnvironment.attach` does the same
against contracts deployed earlier. A background :class:`AnchorRelay` (the
chain's second account pays) anchors the actors' signed heads while the job
runs; :meth:`AuditEnvironment.finish` records the exported model and
anchors everything still pending.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eth_account import Account

from auditor.verify import verify_audit
from coordinator.audit import CoordinatorAudit
from department_nodes.audit import DepartmentAuditMod
from fedgov.errors import ConfigurationError
from fedgov.job_data import departments_for
from ledger.actor_log import ActorLog, export_logs
from ledger.anchor_registry import AnchorRegistry
from ledger.chain_roles import Roles
from ledger.keys import key_password, load_key, load_or_create_key, replace_key
from ledger.layout import (
    KEY_FILE,
    coordinator_dir,
    department_dir,
    find_logs,
    log_path,
)
from ledger.records import Role, now_ms
from ledger.relay import AnchorPolicy, AnchorRelay
from ledger.rotation import rotation_record

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import TracebackType

    from eth_account.signers.local import LocalAccount

    from auditor.report import AuditReport
    from coordinator.analytics import QueryResult
    from coordinator.guard import RoundReport
    from fedgov.job import TrainJob
    from fedgov.run_record import RunRecord
    from ledger.anchor_registry import AnchoredHead
    from ledger.chain import Chain

__all__ = ["RELAY_POLICY", "AuditDeployment", "AuditEnvironment"]

_log = logging.getLogger(__name__)

RELAY_POLICY = AnchorPolicy(interval_s=5.0, every_records=1_000, poll_s=0.5)
"""The relay's default: a log's records wait at most ~5 s for an anchor."""


@dataclass(frozen=True)
class AuditDeployment:
    """Where an auditor finds the anchors: what ``fedgov audit verify`` needs."""

    chain_id: int
    roles: str
    registry: str


class AuditEnvironment:
    """Keys, roles, hooks and relay of the audited jobs under ``state_dir``.

    Build it with :meth:`create` or :meth:`attach`; close it (or use it as a
    context manager) to stop the relay's thread.
    """

    def __init__(
        self,
        *,
        chain: Chain,
        roles: Roles,
        registry: AnchorRegistry,
        relayer: LocalAccount,
        state_dir: Path,
        coordinator: LocalAccount,
        departments: dict[str, str],
        admin: LocalAccount | None = None,
        policy: AnchorPolicy = RELAY_POLICY,
        key_iterations: int | None = None,
    ) -> None:
        self.chain = chain
        self.admin = admin
        """Grants and revokes roles (key rotation); ``None``: nobody here may."""
        self.roles = roles
        self.registry = registry
        self.state_dir = state_dir
        self.coordinator = coordinator
        self.departments = dict(departments)
        """Department name -> the address of its current audit key."""
        self.relay = AnchorRelay(
            registry, sender=relayer, policy=policy, logs=self.log_paths(existing=False)
        )
        self._job: TrainJob | None = None
        self._audit: CoordinatorAudit | None = None
        self._key_iterations = key_iterations
        self.relay.start()

    # -- construction ----------------------------------------------------------

    @classmethod
    def create(
        cls,
        chain: Chain,
        state_dir: str | Path,
        departments: Iterable[str],
        *,
        admin: LocalAccount | None = None,
        relayer: LocalAccount | None = None,
        policy: AnchorPolicy = RELAY_POLICY,
        key_iterations: int | None = None,
    ) -> AuditEnvironment:
        """Deploy the contracts on ``chain``, create the keys, grant the roles.

        ``admin`` deploys and grants (default: the chain's first account);
        ``relayer`` pays for anchors (default: its second).
        """
        admin = admin or _account(chain, 0)
        roles = Roles.deploy(chain, admin=admin)
        registry = AnchorRegistry.deploy(chain, roles, sender=admin)
        _log.info(
            "audit contracts: Roles %s, AnchorRegistry %s",
            roles.address,
            registry.address,
        )
        return cls._with_keys(
            chain,
            roles,
            registry,
            Path(state_dir),
            departments,
            admin=admin,
            relayer=relayer or _account(chain, 1),
            policy=policy,
            key_iterations=key_iterations,
        )

    @classmethod
    def attach(
        cls,
        chain: Chain,
        state_dir: str | Path,
        departments: Iterable[str],
        *,
        roles: str,
        registry: str,
        relayer: LocalAccount,
        admin: LocalAccount | None = None,
        policy: AnchorPolicy = RELAY_POLICY,
        key_iterations: int | None = None,
    ) -> AuditEnvironment:
        """Use contracts deployed earlier; ``admin`` grants roles still missing
        (without one, a key lacking its role is a configuration error)."""
        roles_contract = Roles.at(chain, roles)
        registry_contract = AnchorRegistry.at(chain, registry)
        if registry_contract.roles_address != roles_contract.address:
            raise ConfigurationError(
                "roles",
                f"the registry {registry_contract.address} reads roles from "
                f"{registry_contract.roles_address}, not {roles_contract.address}",
            )
        return cls._with_keys(
            chain,
            roles_contract,
            registry_contract,
            Path(state_dir),
            departments,
            admin=admin,
            relayer=relayer,
            policy=policy,
            key_iterations=key_iterations,
        )

    @classmethod
    def _with_keys(
        cls,
        chain: Chain,
        roles: Roles,
        registry: AnchorRegistry,
        state_dir: Path,
        departments: Iterable[str],
        *,
        admin: LocalAccount | None,
        relayer: LocalAccount,
        policy: AnchorPolicy,
        key_iterations: int | None,
    ) -> AuditEnvironment:
        names = list(dict.fromkeys(departments))
        if not names:
            raise ConfigurationError("departments", "name at least one department")
        password = key_password()

        def key(directory: Path) -> LocalAccount:
            return load_or_create_key(
                directory / KEY_FILE, password=password, iterations=key_iterations
            )

        coordinator = key(coordinator_dir(state_dir))
        addresses = {
            name: str(key(department_dir(state_dir, name)).address) for name in names
        }
        wanted = [(coordinator.address, Role.COORDINATOR)] + [
            (address, Role.DEPARTMENT) for address in addresses.values()
        ]
        for address, role in wanted:
            if roles.has_role(address, role):
                continue
            if admin is None:
                raise ConfigurationError(
                    "admin",
                    f"{address} lacks the {role.value} role and no admin may grant it",
                )
            roles.grant(address, role, sender=admin)
        return cls(
            chain=chain,
            roles=roles,
            registry=registry,
            relayer=relayer,
            state_dir=state_dir,
            coordinator=coordinator,
            departments=addresses,
            admin=admin,
            policy=policy,
            key_iterations=key_iterations,
        )

    # -- what a job needs --------------------------------------------------------

    @property
    def deployment(self) -> AuditDeployment:
        return AuditDeployment(
            self.chain.chain_id, self.roles.address, self.registry.address
        )

    def configure(self, job: TrainJob) -> TrainJob:
        """``job`` with auditing on, signing for this registry, state here.

        Records the job and its roster (``job_submit``) in the coordinator's log.
        """
        taking_part = departments_for(job)
        if sorted(taking_part) != sorted(self.departments):
            raise ConfigurationError(
                "job",
                f"its departments {taking_part} are not this environment's "
                f"{sorted(self.departments)}",
            )
        if job.state_dir and Path(job.state_dir).resolve() != self.state_dir.resolve():
            raise ConfigurationError(
                "job.state_dir",
                f"is {job.state_dir}, but the audit keys live under {self.state_dir}",
            )
        configured = dataclasses.replace(
            job,
            audit=True,
            state_dir=str(self.state_dir),
            ledger_chain_id=self.chain.chain_id,
            ledger_registry=self.registry.address,
        )
        log = ActorLog(
            coordinator_dir(self.state_dir), self.coordinator, self.registry.domain
        )
        self._audit = CoordinatorAudit(log, configured, on_commit=self.relay.notify)
        self._audit.record_roster(self.departments)
        self._job = configured
        return configured

    def _configured(self) -> tuple[TrainJob, CoordinatorAudit]:
        if self._job is None or self._audit is None:
            raise ConfigurationError("AuditEnvironment", "call configure(job) first")
        return self._job, self._audit

    def client_mod(self) -> DepartmentAuditMod:
        """The departments' ClientApp mod for the configured job."""
        job, _ = self._configured()
        return DepartmentAuditMod(job)

    def observer(
        self, on_round: Callable[[RoundReport], None] | None = None
    ) -> Callable[[RoundReport], None]:
        """The coordinator's ``on_round`` callback; it calls ``on_round`` after."""
        _, audit = self._configured()
        return audit.observer(then=on_round)

    def query_observer(
        self, on_result: Callable[[QueryResult], None] | None = None
    ) -> Callable[[QueryResult], None]:
        """The coordinator's ``on_result`` callback for DP queries; it calls
        ``on_result`` after. Queries are recorded under the configured job's
        purpose, as the departments' mod records them."""
        _, audit = self._configured()
        return audit.query_observer(then=on_result)

    def finish(
        self, record: RunRecord | None = None, *, timeout_s: float = 60.0
    ) -> list[AnchoredHead]:
        """Record the run's exported model, then anchor every signed head."""
        if record is not None:
            _, audit = self._configured()
            audit.record_model_export(record)
        return self.relay.flush(timeout_s)

    # -- key rotation -------------------------------------------------------------------

    def rotate_key(
        self,
        department: str | None = None,
        *,
        reason: str = "scheduled key rotation",
        timeout_s: float = 60.0,
    ) -> str:
        """Give ``department`` (``None``: the coordinator) a new key; its address.

        The old key signs a ``key_rotation`` record naming the new address,
        which is anchored while the old key still holds its role; then the
        admin grants the role to the new key and revokes the old one, the key
        file is replaced (the old one kept as ``*.retired``), and the new log
        opens with a ``key_rotation`` record naming the old address.
        """
        directory, role, old = self._actor(department)
        new = Account.create()
        ActorLog(directory, old, self.registry.domain).commit(
            [
                rotation_record(
                    actor=old.address,
                    role=role,
                    department=department or "",
                    reason=reason,
                    timestamp_ms=now_ms(),
                    new_actor=new.address,
                )
            ]
        )
        # The hand-over must be anchored while the old key may still anchor.
        self.relay.flush(timeout_s)
        return self._install(department, directory, role, old, new, reason)

    def replace_lost_key(
        self, department: str | None = None, *, reason: str = "key lost"
    ) -> str:
        """Re-key ``department`` whose key is lost or compromised; the new address.

        The old key is revoked first and cannot hand over: whatever it wrote
        after its last anchor stays unverifiable, and the auditor reports
        that gap. The new log opens with a ``key_rotation`` record naming the
        old address.
        """
        directory, role, old = self._actor(department)
        return self._install(department, directory, role, old, Account.create(), reason)

    def _actor(self, department: str | None) -> tuple[Path, Role, LocalAccount]:
        if self.admin is None:
            raise ConfigurationError(
                "admin", "rotating a key needs an admin to grant roles"
            )
        password = key_password()
        if department is None:
            directory = coordinator_dir(self.state_dir)
            return (
                directory,
                Role.COORDINATOR,
                load_key(directory / KEY_FILE, password=password),
            )
        if department not in self.departments:
            raise ConfigurationError(
                "department", f"{department!r} is not one of {sorted(self.departments)}"
            )
        directory = department_dir(self.state_dir, department)
        return (
            directory,
            Role.DEPARTMENT,
            load_key(directory / KEY_FILE, password=password),
        )

    def _install(
        self,
        department: str | None,
        directory: Path,
        role: Role,
        old: LocalAccount,
        new: LocalAccount,
        reason: str,
    ) -> str:
        assert self.admin is not None
        self.roles.grant(new.address, role, sender=self.admin)
        self.roles.revoke(old.address, role, sender=self.admin)
        replace_key(
            directory / KEY_FILE,
            new,
            password=key_password(),
            iterations=self._key_iterations,
        )
        log = ActorLog(directory, new, self.registry.domain)
        log.commit(
            [
                rotation_record(
                    actor=new.address,
                    role=role,
                    department=department or "",
                    reason=reason,
                    timestamp_ms=now_ms(),
                    previous_actor=old.address,
                )
            ]
        )
        self.relay.watch(log.path)
        if department is None:
            self.coordinator = new
            if self._audit is not None:
                self._audit.log = ActorLog(directory, new, self.registry.domain)
        else:
            self.departments[department] = str(new.address)
        _log.info(
            "%s: key %s replaced by %s (%s)",
            department or "coordinator",
            old.address,
            new.address,
            reason,
        )
        return str(new.address)

    # -- what an auditor needs -----------------------------------------------------

    def log_paths(self, *, existing: bool = True) -> list[Path]:
        """The coordinator's log files, then each department's (every key's).

        ``existing=False``: the current keys' logs, whether written yet or not.
        """
        current = [
            log_path(coordinator_dir(self.state_dir), self.coordinator.address)
        ] + [
            log_path(department_dir(self.state_dir, name), address)
            for name, address in self.departments.items()
        ]
        if not existing:
            return current
        folders = {path.parent for path in current}
        return [path for path in find_logs(self.state_dir) if path.parent in folders]

    def export_logs(self, directory: str | Path) -> list[Path]:
        """Export every actor's log into ``directory`` (one JSONL file each)."""
        return export_logs(self.log_paths(), Path(directory))

    def verify(
        self,
        *,
        run_record: RunRecord | None = None,
        allow_unanchored: bool = False,
    ) -> AuditReport:
        """Audit every actor's log against this chain (:func:`verify_audit`)."""
        return verify_audit(
            self.log_paths(),
            chain=self.chain,
            registry=self.registry.address,
            roles=self.roles.address,
            run_record=run_record,
            allow_unanchored=allow_unanchored,
        )

    # -- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop the relay's thread (without anchoring: call :meth:`finish`)."""
        self.relay.stop(flush=False)

    def __enter__(self) -> AuditEnvironment:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _account(chain: Chain, index: int) -> LocalAccount:
    accounts = chain.accounts
    if not accounts:
        raise ConfigurationError(
            "chain", f"{chain.endpoint} comes with no funded account"
        )
    return accounts[min(index, len(accounts) - 1)]
