"""Audit fixtures shared by the tests of the hooks, the engines and the auditor."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from flwr.supercore.task_identity import TaskIdentity

from auditor.report import AuditReport
from coordinator.audit import CoordinatorAudit
from department_nodes.audit import DepartmentAuditMod
from fedgov.data import department_ids
from fedgov.engines.audit import AuditEnvironment, prepare_job
from fedgov.job_data import departments_for
from ledger.anchor_registry import AnchorRegistry
from ledger.chain import Chain
from ledger.chain_roles import Roles
from ledger.county_ledger import CountyLedger
from ledger.keys import PlaintextKeyWarning, key_address
from ledger.layout import KEY_FILE, coordinator_dir, department_dir
from ledger.relay import AnchorPolicy
from tests.chain_fixtures import chain, ledger_contracts

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

    from eth_account.signers.local import LocalAccount

    from coordinator.analytics import QueryResult
    from coordinator.guard import RoundReport
    from fedgov.job import TrainJob
    from fedgov.run_record import RunRecord
    from ledger.anchor_registry import AnchoredHead
    from ledger.relay import AnchorRelay

__all__ = [
    "FAST_RELAY",
    "SITES",
    "AuditHarness",
    "audit_env",
    "chain",
    "embedded_env",
    "flower_task",
    "harness",
    "ledger_contracts",
    "ledger_on",
    "sites_env",
]

FAST_RELAY = AnchorPolicy(
    interval_s=3600.0,
    every_records=10**6,
    poll_s=0.01,
    initial_backoff_s=0.01,
    max_backoff_s=0.05,
)
"""Anchor only when flushed, retry fast: tests decide when anchors happen."""

DEPARTMENTS = ("dept-0", "dept-1", "dept-2")
SITES = tuple(str(d) for d in department_ids("randhie"))
"""RandHIE's natural partition: the departments a query on it asks."""


def ledger_on(
    chain: Chain,
    *,
    admin: LocalAccount | None = None,
    relayer: LocalAccount | None = None,
) -> CountyLedger:
    """Roles and AnchorRegistry deployed on ``chain`` by ``admin`` (default:
    account 0), anchored by ``relayer`` (default: account 1)."""
    admin = admin or chain.accounts[0]
    relayer = relayer or chain.accounts[1]
    roles = Roles.deploy(chain, admin=admin)
    registry = AnchorRegistry.deploy(chain, roles, sender=admin)
    return CountyLedger(
        chain=chain,
        roles=roles,
        registry=registry,
        relayer=relayer,
        admin=admin,
        county="lakeview",
        persistent=False,
    )


class AuditHarness:
    """Drives the product's own hooks the way the apps attach them.

    :meth:`configure` readies a job as an engine does (keys, roles, the
    ledger in the job) and opens the coordinator's hook; :meth:`client_mod`
    is the department's mod; :meth:`finish` records the exported model and
    closes the hook (anchoring everything signed).
    """

    def __init__(
        self,
        ledger: CountyLedger,
        state_dir: Path,
        departments: tuple[str, ...],
        policy: AnchorPolicy = FAST_RELAY,
    ) -> None:
        self.ledger = ledger
        self.policy = policy
        self.env = AuditEnvironment(ledger, state_dir)
        self.names = departments
        self._job: TrainJob | None = None
        self._audit: CoordinatorAudit | None = None
        self.state_dir = state_dir
        self.coordinator_dir = coordinator_dir(state_dir)

    @property
    def chain(self) -> Chain:
        return self.ledger.chain

    @property
    def registry(self) -> AnchorRegistry:
        return self.ledger.registry

    @property
    def roles(self) -> Roles:
        return self.ledger.roles

    @property
    def relay(self) -> AnchorRelay:
        assert self._audit is not None
        assert self._audit.relay is not None
        return self._audit.relay

    @property
    def departments(self) -> dict[str, str]:
        """Department name -> the address of its current key."""
        return {
            name: address
            for name in self.names
            if (address := key_address(department_dir(self.state_dir, name) / KEY_FILE))
        }

    @property
    def coordinator_address(self) -> str:
        address = key_address(self.coordinator_dir / KEY_FILE)
        assert address is not None
        return address

    def configure(self, job: TrainJob) -> TrainJob:
        assert sorted(departments_for(job)) == sorted(self.names)
        if self._audit is not None:
            self._audit.close()
        job = prepare_job(job, self.ledger, state_dir=self.state_dir)
        self._audit = CoordinatorAudit.open(
            job,
            ledger=self.ledger,
            state_dir=self.state_dir,
            departments=list(self.names),
            relay_policy=self.policy,
        )
        self._audit.record_roster()
        self._job = job
        return job

    @property
    def audit(self) -> CoordinatorAudit:
        assert self._audit is not None, "configure(job) first"
        return self._audit

    def client_mod(self) -> DepartmentAuditMod:
        assert self._job is not None, "configure(job) first"
        return DepartmentAuditMod(self._job)

    def observer(
        self, then: Callable[[RoundReport], None] | None = None
    ) -> Callable[[RoundReport], None]:
        return self.audit.observer(then)

    def query_observer(self) -> Callable[[QueryResult], None]:
        return self.audit.record_query

    def finish(
        self, record: RunRecord | None = None, *, timeout_s: float = 60.0
    ) -> list[AnchoredHead]:
        if record is not None:
            self.audit.record_model_export(record)
        relay = self.audit.relay
        assert relay is not None
        return relay.flush(timeout_s)

    def verify(self, **kwargs: object) -> AuditReport:
        return self.env.verify(**kwargs)  # type: ignore[arg-type]

    def log_paths(self) -> list[Path]:
        return self.env.log_paths()

    def export_logs(self, directory: Path) -> list[Path]:
        return self.env.export_logs(directory)

    def rotate_key(self, department: str | None = None, **kwargs: object) -> str:
        return self.env.rotate_key(department, **kwargs)  # type: ignore[arg-type]

    def replace_lost_key(self, department: str | None = None, **kwargs: object) -> str:
        return self.env.replace_lost_key(department, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._audit is not None and self._audit.relay is not None:
            self._audit.relay.stop(flush=False)


def harness(
    chain: Chain,
    tmp_path: Path,
    departments: tuple[str, ...] = DEPARTMENTS,
    policy: AnchorPolicy = FAST_RELAY,
) -> Generator[AuditHarness, None, None]:
    """An :class:`AuditHarness` for ``departments`` on ``chain``, closed after."""
    with warnings.catch_warnings():
        # Demo-mode keys warn on first use in each process; tests know.
        warnings.simplefilter("ignore", PlaintextKeyWarning)
        harness = AuditHarness(
            ledger_on(chain), tmp_path / "state", departments, policy
        )
        try:
            yield harness
        finally:
            harness.close()


@pytest.fixture
def audit_env(chain: Chain, tmp_path: Path) -> Iterator[AuditHarness]:
    """Contracts, keys (plaintext, demo mode) and roles for three departments,
    once per chain backend."""
    yield from harness(chain, tmp_path)


@pytest.fixture
def embedded_env(tmp_path: Path) -> Iterator[AuditHarness]:
    """The same on the embedded chain only."""
    yield from harness(Chain.embedded(), tmp_path)


@pytest.fixture
def sites_env(tmp_path: Path) -> Iterator[AuditHarness]:
    """The six RandHIE sites on the embedded chain (queries ask them all)."""
    yield from harness(Chain.embedded(), tmp_path, SITES)


@pytest.fixture
def flower_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """The identity Flower stamps on messages built outside its runtime."""
    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 0)
    monkeypatch.setattr(TaskIdentity, "_task_id", 0)
