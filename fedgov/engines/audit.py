"""The audit side of running jobs: the county's ledger, the actors' keys and roles.

The hooks themselves are attached by the apps (the coordinator's in
:func:`coordinator.server_app.make_server_app`, the department's in
:func:`department_nodes.client_app.make_client_app`), so every engine and
every command is audited by construction. What an engine does before a
run, on the machine that starts it, is :func:`prepare_job`: find the
county's ledger (:func:`ledger.county_ledger.resolve_ledger`), make sure the coordinator and
every department running here hold a key and their role, and write the
ledger into the job, so that both sides sign their heads for the county's
AnchorRegistry and publish checkpoints of its county.

A department that runs on another machine is enrolled once
(:func:`enroll_department`, ``fedgov county enroll``): the county grants its
address the department role and keeps an empty replica of its log, which
the department fills over the audit log service.

:class:`AuditEnvironment` is the auditor's and the operator's view of one
state folder: verify it, rotate or replace a key.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from eth_account import Account

from auditor.verify import verify_audit
from fedgov.county import default_state_dir
from fedgov.errors import ConfigurationError
from fedgov.job_data import departments_for
from ledger.actor_log import ActorLog, export_logs
from ledger.keys import key_address, key_password, load_key, load_or_create_key
from ledger.keys import replace_key as replace_key_file
from ledger.layout import (
    KEY_FILE,
    LOG_NAME,
    coordinator_dir,
    department_address,
    department_dir,
    find_logs,
    log_path,
)
from ledger.records import Role, now_ms
from ledger.rotation import rotation_record
from ledger.store import LogStore

if TYPE_CHECKING:
    from collections.abc import Iterable

    from eth_account.signers.local import LocalAccount

    from auditor.report import AuditReport
    from fedgov.job import TrainJob
    from fedgov.run_record import RunRecord
    from ledger.county_ledger import CountyLedger

__all__ = ["AuditEnvironment", "enroll_department", "prepare_job"]

_log = logging.getLogger(__name__)


def _ensure_key(directory: Path, ledger: CountyLedger, role: Role) -> str:
    account = load_or_create_key(directory / KEY_FILE, password=key_password())
    ledger.ensure_role(account.address, role)
    return str(account.address)


def prepare_job(
    job: TrainJob,
    ledger: CountyLedger | None,
    *,
    state_dir: str | Path | None = None,
    departments: Iterable[str] | None = None,
) -> TrainJob:
    """``job`` ready to run audited against ``ledger``.

    Its state folder is the job's, else ``state_dir``, else the county's.
    With audit on and a ledger, the coordinator and each of ``departments``
    (default: the job's) that runs here gets its key and role (a department
    enrolled from elsewhere must hold its role already), and the job names
    the ledger's chain, registry and county.
    """
    state = Path(job.state_dir or state_dir or default_state_dir()).absolute()
    job = dataclasses.replace(job, state_dir=str(state))
    if not job.audit or ledger is None:
        return job
    _ensure_key(coordinator_dir(state), ledger, Role.COORDINATOR)
    for name in departments if departments is not None else departments_for(job):
        folder = department_dir(state, name)
        address = department_address(state, name)
        if address is not None and not (folder / KEY_FILE).exists():
            if not ledger.roles.has_role(address, Role.DEPARTMENT):
                raise ConfigurationError(
                    "department",
                    f"{name} ({address}) was enrolled but does not hold the "
                    "department role",
                )
            continue
        _ensure_key(folder, ledger, Role.DEPARTMENT)
    return dataclasses.replace(
        job,
        ledger_chain_id=ledger.chain.chain_id,
        ledger_registry=ledger.registry.address,
        ledger_county=ledger.county,
    )


def enroll_department(
    ledger: CountyLedger, state_dir: str | Path, department: str, address: str
) -> Path:
    """Enrol ``department``, running elsewhere under audit key ``address``.

    Grants the address the department role and creates the county's empty
    replica of its log (which the department then fills over the audit log
    service); returns the replica's path. Enrolling again is harmless.
    """
    folder = department_dir(state_dir, department)
    if (folder / KEY_FILE).exists():
        raise ConfigurationError(
            "department",
            f"{department} runs on this machine (its key is in {folder}); only a "
            "department that runs elsewhere is enrolled",
        )
    ledger.ensure_role(address, Role.DEPARTMENT)
    path = log_path(folder, address)
    folder.mkdir(parents=True, exist_ok=True)
    LogStore(path, actor=address, log_name=LOG_NAME).close()
    _log.info("enrolled %s (%s): replica %s", department, address, path)
    return path


class AuditEnvironment:
    """The audit logs of one state folder and the ledger they are anchored on."""

    def __init__(self, ledger: CountyLedger, state_dir: str | Path) -> None:
        self.ledger = ledger
        self.state_dir = Path(state_dir)

    def prepare(self, job: TrainJob) -> TrainJob:
        """:func:`prepare_job` for this folder and ledger."""
        if job.state_dir and Path(job.state_dir).resolve() != self.state_dir.resolve():
            raise ConfigurationError(
                "job.state_dir",
                f"is {job.state_dir}, but the audit keys live under {self.state_dir}",
            )
        return prepare_job(job, self.ledger, state_dir=self.state_dir)

    def departments(self) -> dict[str, str]:
        """Department name -> the address of its current audit key (or replica)."""
        root = self.state_dir / "departments"
        out: dict[str, str] = {}
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            address = key_address(folder / KEY_FILE)
            if address is not None:
                out[folder.name] = address
        return out

    def log_paths(self) -> list[Path]:
        """Every actor log under the folder: the coordinator's, then departments'."""
        return find_logs(self.state_dir)

    def export_logs(self, directory: str | Path) -> list[Path]:
        """Export every actor's log into ``directory`` (one JSONL file each)."""
        return export_logs(self.log_paths(), Path(directory))

    def anchor(self, *, timeout_s: float = 60.0) -> int:
        """Anchor every signed head not anchored yet; the anchors sent."""
        relay = self.ledger.relay(self.log_paths())
        return len(relay.flush(timeout_s))

    def verify(
        self,
        *,
        run_record: RunRecord | None = None,
        allow_unanchored: bool = False,
    ) -> AuditReport:
        """Audit every actor's log against the ledger (:func:`verify_audit`)."""
        return verify_audit(
            self.log_paths(),
            chain=self.ledger.chain,
            registry=self.ledger.registry.address,
            roles=self.ledger.roles.address,
            run_record=run_record,
            allow_unanchored=allow_unanchored,
            witness_policy=self.ledger.witness_policy,
        )

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
        ActorLog(directory, old, self.ledger.domain).commit(
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
        self.ledger.relay([log_path(directory, old.address)]).flush(timeout_s)
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
        if self.ledger.admin is None:
            raise ConfigurationError(
                "admin", "rotating a key needs the admin key to grant roles"
            )
        directory = (
            coordinator_dir(self.state_dir)
            if department is None
            else department_dir(self.state_dir, department)
        )
        role = Role.COORDINATOR if department is None else Role.DEPARTMENT
        if not (directory / KEY_FILE).exists():
            raise ConfigurationError(
                "department", f"{department or 'the coordinator'} has no key here"
            )
        return directory, role, load_key(directory / KEY_FILE, password=key_password())

    def _install(
        self,
        department: str | None,
        directory: Path,
        role: Role,
        old: LocalAccount,
        new: LocalAccount,
        reason: str,
    ) -> str:
        admin = self.ledger.admin
        assert admin is not None
        self.ledger.roles.grant(new.address, role, sender=admin)
        self.ledger.roles.revoke(old.address, role, sender=admin)
        replace_key_file(directory / KEY_FILE, new, password=key_password())
        ActorLog(directory, new, self.ledger.domain).commit(
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
        _log.info(
            "%s: key %s replaced by %s (%s)",
            department or "coordinator",
            old.address,
            new.address,
            reason,
        )
        return str(new.address)
