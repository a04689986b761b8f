"""A small, real county for the portal's tests, on one anvil node.

:func:`build_county` runs the product's own path end to end: an audited
federated DP job through the in-process engine (the real ServerApp and
department ClientApps with Opacus, budget ledgers and the audit mod), a DP
query from the same budgets, anchoring, then a Consultation contract with a
roll, a registrar's credential key and keystores for the registrar and a
relayer, as a county installs them.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eth_account import Account

from coordinator.analytics import run_query
from department_nodes.client_app import make_client_app
from fedgov.engines.inprocess import InProcessEngine, WireGrid
from fedgov.job import TrainJob
from fedgov.job_data import departments_for
from fedgov.portal.security import add_token
from fedgov.portal.settings import KeyFile, PortalSettings, RegistrarDesk
from ledger.chain import Chain
from ledger.chain_roles import Roles
from ledger.keys import PlaintextKeyWarning
from ledger.records import Role
from ledger.relay import AnchorPolicy
from ledger.voting._clock import latest_timestamp
from ledger.voting.consultation import ConsultationContract
from ledger.voting.registrar import (
    Registrar,
    generate_credential_key,
    save_credential_key,
)
from ledger.voting.resident import RollKey
from ledger.voting.roll import Roll
from privacy.mechanisms import Query
from tests.audit_fixtures import AuditHarness, ledger_on

if TYPE_CHECKING:
    from Crypto.PublicKey.RSA import RsaKey
    from eth_account.signers.local import LocalAccount

    from coordinator.analytics import QueryResult
    from fedgov.run_record import RunRecord
    from ledger.chain import AnvilProcess

PASSWORD_ENV = "FEDGOV_PORTAL_TEST_PASSWORD"
PASSPHRASE_ENV = "FEDGOV_PORTAL_TEST_PASSPHRASE"
JOB_ID = "county-job"
QUERY_ID = "visits-by-sex"
PURPOSE = "health-cost model, approval #12"
RESIDENTS = ("alice", "bob", "carol")

_POLICY = AnchorPolicy(
    interval_s=3600.0,
    every_records=10**6,
    poll_s=0.01,
    initial_backoff_s=0.01,
    max_backoff_s=0.05,
)


@dataclass
class County:
    """Everything a portal test needs to know about the county it serves."""

    root: Path
    rpc_url: str
    chain: Chain
    state_dir: Path
    runs_dir: Path
    registry: str
    roles: str
    job: TrainJob
    record: RunRecord
    query: Query
    query_result: QueryResult
    consultation: ConsultationContract
    registrar_account: LocalAccount
    relayer: LocalAccount
    admin: LocalAccount
    credential_key: RsaKey
    credential_key_path: Path
    registrar_keystore: Path
    relayer_keystore: Path
    auditor_tokens: Path
    auditor_token: str
    secrets: dict[str, str]
    """Every secret of the county by name (hex or text): no page may show one."""

    def settings(self, **overrides: object) -> PortalSettings:
        values: dict[str, object] = {
            "rpc_url": self.rpc_url,
            "state_dirs": (self.state_dir,),
            "runs_dir": self.runs_dir,
            "registry": self.registry,
            "roles": self.roles,
            "consultation": self.consultation.address,
            "data_dir": self.root / "portal-data",
            "auditor_tokens": self.auditor_tokens,
            "relayer": KeyFile(self.relayer_keystore, PASSWORD_ENV),
        }
        values.update(overrides)
        return PortalSettings(**values)  # type: ignore[arg-type]

    def desk(self, roll: Path, *, blind_rsa: bool = True) -> RegistrarDesk:
        """The registrar's desk for ``roll``; with the credential key if ``blind_rsa``."""
        return RegistrarDesk(
            roll=roll,
            credential_key=self.credential_key_path if blind_rsa else None,
            account=KeyFile(self.registrar_keystore, PASSWORD_ENV),
            passphrase_env=PASSPHRASE_ENV,
        )

    def open_consultation(
        self,
        roll_keys: dict[str, str],
        *,
        folder: Path,
        issuance_s: int = 1_000,
        stage_s: int = 1_000,
        question: str = "Close Mill Street to cars on Sundays?",
        options: tuple[str, ...] = ("yes", "no", "later"),
        ring_size: int = 0,
    ) -> tuple[int, Path]:
        """A consultation over ``roll_keys`` (resident -> address); its id and roll.

        Ring credentials of ``ring_size`` keys a ring, or (0) blind RSA
        credentials under the county's credential key.
        """
        roll = Roll.build(roll_keys.items())
        path = folder / "roll.json"
        roll.save(path)
        registrar = Registrar(
            self.consultation,
            account=self.registrar_account,
            roll=roll,
            key=None if ring_size else self.credential_key,
        )
        now = latest_timestamp(self.chain)
        info = registrar.open(
            question=question,
            options=options,
            ring_size=ring_size,
            commit_start=now + issuance_s,
            commit_end=now + issuance_s + stage_s,
            reveal_end=now + issuance_s + 2 * stage_s,
        )
        return info.consultation_id, path


def _keystore(account: LocalAccount, path: Path) -> Path:
    path.write_text(json.dumps(Account.encrypt(account.key, os.environ[PASSWORD_ENV])))
    path.chmod(0o600)
    return path


def build_county(root: Path, anvil: AnvilProcess) -> County:
    """Run the county's job and query, anchor them, and set up a consultation."""
    os.environ.setdefault(PASSWORD_ENV, "portal-test-password")
    os.environ.setdefault(PASSPHRASE_ENV, "portal-test-passphrase")
    chain = Chain.connect(anvil.url, accounts=anvil.accounts)
    admin, relayer_for_anchors, registrar_account, relayer = anvil.accounts[:4]
    state_dir = root / "state"
    runs_dir = root / "runs"
    job = TrainJob(
        job_id=JOB_ID,
        dataset="randhie",
        model="logreg",
        hidden="",
        num_rounds=2,
        epsilon=1.0,
        run_dir=str(runs_dir / JOB_ID),
        state_dir=str(state_dir),
        purpose=PURPOSE,
    )
    query = Query(
        kind="histogram",
        dataset="randhie",
        column="mdvis",
        bins=(0, 1, 2, 5, 10, 20, 80),
        group_by="female",
        epsilon=0.5,
        delta=job.delta,
        query_id=QUERY_ID,
    )
    ledger = ledger_on(chain, admin=admin, relayer=relayer_for_anchors)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextKeyWarning)
        # The product's path: the engine audits both sides and anchors.
        record = InProcessEngine(ledger=ledger).run(job)
        # The query through real department apps, their audit mod attached by
        # the app itself; the coordinator's side through its own hook.
        env = AuditHarness(ledger, state_dir, tuple(departments_for(job)), _POLICY)
        try:
            configured = env.configure(job)
            apps = [make_client_app(job=configured) for _ in departments_for(job)]
            result = run_query(WireGrid.numbered(apps), query, node_wait=0.0)
            env.query_observer()(result)
            env.finish()
        finally:
            env.close()
    roles = Roles.deploy(chain, admin=admin)
    roles.grant(registrar_account.address, Role.REGISTRAR, sender=admin)
    consultation = ConsultationContract.deploy(chain, roles, sender=admin)
    credential_key = generate_credential_key()
    key_path = root / "credential-key.pem"
    save_credential_key(credential_key, key_path, passphrase=os.environ[PASSPHRASE_ENV])
    tokens = root / "auditor-tokens"
    token = add_token(tokens, "ada")
    secrets = {
        "auditor token": token,
        "credential key d": hex(credential_key.d)[2:],
        "credential key p": hex(credential_key.p)[2:],
        "registrar key": registrar_account.key.hex(),
        "relayer key": relayer.key.hex(),
        "admin key": admin.key.hex(),
        "anchor relayer key": relayer_for_anchors.key.hex(),
    }
    for key_file in state_dir.rglob("audit-key.json"):
        secrets[f"audit key {key_file.parent.name}"] = json.loads(key_file.read_text())[
            "private_key"
        ].removeprefix("0x")
    for key_file in state_dir.rglob("*.key"):
        # At-rest keys (budget ledgers, pseudonymization) are hex text files.
        secrets[f"{key_file.name} of {key_file.parent.name}"] = (
            key_file.read_text().strip().lower()
        )
    return County(
        root=root,
        rpc_url=anvil.url,
        chain=chain,
        state_dir=state_dir,
        runs_dir=runs_dir,
        registry=ledger.registry.address,
        roles=ledger.roles.address,
        job=job,
        record=record,
        query=query,
        query_result=result,
        consultation=consultation,
        registrar_account=registrar_account,
        relayer=relayer,
        admin=admin,
        credential_key=credential_key,
        credential_key_path=key_path,
        registrar_keystore=_keystore(registrar_account, root / "registrar.keystore"),
        relayer_keystore=_keystore(relayer, root / "relayer.keystore"),
        auditor_tokens=tokens,
        auditor_token=token,
        secrets=secrets,
    )


def copy_state(county: County, target: Path) -> Path:
    """A copy of the county's state folder (to tamper with)."""
    shutil.copytree(county.state_dir, target)
    return target


def roll_keys(names: tuple[str, ...] = RESIDENTS) -> dict[str, RollKey]:
    return {name: RollKey.generate() for name in names}
