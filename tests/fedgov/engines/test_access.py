"""Who may ask what, end to end: analysts' signed requests at real departments.

The six RandHIE sites run the product's ClientApp (access gate, budget book,
audit mod) in process, the coordinator its real ``run_query``, the chain is
the embedded EVM with the county's Roles contract. Every refusal the issue
lists is refused at the department with an audited reason and nothing spent;
an approved request runs; the auditor fails a spend with no request, and a
read after a dataset's destruction.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from typing import TYPE_CHECKING

import pytest
from eth_account import Account

from auditor.report import Check
from auditor.verify import load_log
from coordinator.analytics import run_query
from department_nodes.client_app import make_client_app
from department_nodes.data_access import DepartmentDataAccess
from fedgov import protocol as p
from fedgov.access_policy import Refusal
from fedgov.cli import main
from fedgov.engines.access import sign_query
from fedgov.job import TrainJob
from fedgov.types import ActorId, JobId
from ledger.access import SignedRequest
from ledger.access_records import PHASE_APPROVAL, REFUSAL
from ledger.actor_log import ActorLog
from ledger.keys import load_key
from ledger.layout import KEY_FILE, department_dir
from ledger.records import Action, AuditRecord, Role, now_ms
from privacy.budget import open_budget_book
from privacy.errors import DatasetDestroyedError
from privacy.mechanisms import Query
from tests.audit_fixtures import SITES
from tests.coordinator.test_analytics import InProcessGrid

if TYPE_CHECKING:
    from pathlib import Path

    from eth_account.signers.local import LocalAccount

    from coordinator.analytics import QueryResult
    from tests.audit_fixtures import AuditHarness

pytestmark = pytest.mark.usefixtures("flower_task")

PURPOSE = "health-cost model"


def _policy(env: AuditHarness, site: str, officer: str) -> None:
    folder = department_dir(env.state_dir, site)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "access-policy.yaml").write_text(
        textwrap.dedent(
            f"""\
            fedgov_access_policy: 1
            department: {site}
            data_officers: ["{officer}"]
            max_epsilon: 1.0
            rules:
              - dataset: randhie
                purposes: [{PURPOSE}]
              - dataset: randhie
                purposes: [research]
                approval: required
            """
        )
    )


@pytest.fixture
def county(
    sites_env: AuditHarness,
) -> tuple[AuditHarness, LocalAccount]:
    """Six sites with an access policy, and an analyst the admin granted the role."""
    analyst: LocalAccount = Account.create()
    admin = sites_env.ledger.admin
    assert admin is not None
    sites_env.roles.grant(analyst.address, Role.ANALYST, sender=admin)
    for site in SITES:
        _policy(sites_env, site, officer=admin.address)
    return sites_env, analyst


def _query(query_id: str, epsilon: float = 0.5) -> Query:
    return Query(
        kind="histogram",
        dataset="randhie",
        column="mdvis",
        bins=(0, 1, 2, 5, 10, 20, 80),
        group_by="female",
        epsilon=epsilon,
        delta=1e-5,
        query_id=query_id,
    )


def _ask(
    env: AuditHarness, query: Query, request: str, *, purpose: str = PURPOSE
) -> QueryResult:
    """``query`` through the six sites' ClientApps, recorded at both ends."""
    job = env.configure(
        TrainJob(
            job_id=query.query_id,
            dataset="randhie",
            purpose=purpose,
            access_request=request,
        )
    )
    app = make_client_app(job=job, roles=env.roles)
    result = run_query(InProcessGrid(app, len(SITES)), query, node_wait=0.0)
    env.query_observer()(result)
    return result


def _records(env: AuditHarness, site: str) -> list[AuditRecord]:
    path = next(p for p in env.log_paths() if p.parent.name == site)
    return [AuditRecord.decode(data) for data in load_log(path).records]


def _spent(env: AuditHarness, site: str) -> int:
    book = open_budget_book(env.state_dir, site)
    return len(book.status("randhie").history) if "randhie" in book.datasets() else 0


def _forged(query: Query, analyst: LocalAccount, env: AuditHarness) -> str:
    """A request naming ``analyst`` but signed by someone else's key."""
    domain = env.roles.access_domain
    honest = SignedRequest.from_text(
        sign_query(query, analyst, domain, purpose=PURPOSE)
    )[0]
    thief = Account.create()
    stolen = SignedRequest.sign(
        dataclasses.replace(honest.statement, analyst=thief.address), thief, domain
    )
    return SignedRequest(honest.statement, stolen.signature).to_text(domain)


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("unsigned", Refusal.UNSIGNED),
        ("mis-signed", Refusal.SIGNATURE),
        ("revoked analyst", Refusal.ROLE),
        ("wrong purpose", Refusal.PURPOSE),
        ("over epsilon", Refusal.EPSILON),
        ("unapproved", Refusal.APPROVAL),
        ("altered by the coordinator", Refusal.SUBJECT),
    ],
)
def test_a_request_outside_the_rules_is_refused_audited_and_spends_nothing(
    county: tuple[AuditHarness, LocalAccount], case: str, code: Refusal
) -> None:
    # Prepare
    env, analyst = county
    domain = env.roles.access_domain
    query = _query(
        case.replace(" ", "-"), epsilon=1.5 if case == "over epsilon" else 0.5
    )
    purpose = {"wrong purpose": "marketing", "unapproved": "research"}.get(
        case, PURPOSE
    )
    request = sign_query(query, analyst, domain, purpose=purpose)
    asked = query
    if case == "unsigned":
        request = ""
    elif case == "mis-signed":
        request = _forged(query, analyst, env)
    elif case == "revoked analyst":
        assert env.ledger.admin is not None
        env.roles.revoke(analyst.address, Role.ANALYST, sender=env.ledger.admin)
    elif case == "altered by the coordinator":
        asked = dataclasses.replace(query, epsilon=0.9)  # signed 0.5, asks 0.9

    # Act
    result = _ask(env, asked, request, purpose=purpose)
    env.finish()
    report = env.verify()

    # Assert: every site refused, said why, spent nothing, read nothing
    assert [d.status for d in result.departments] == [p.Status.REFUSED] * len(SITES)
    for report_of_site in result.departments:
        assert report_of_site.reason.startswith(f"access refused ({code.value})")
    for site in SITES:
        records = _records(env, site)
        assert [r.action for r in records][-1] is Action.ACCESS_DENIED
        assert records[-1].details[REFUSAL] == code.value
        assert Action.BUDGET_SPEND not in {r.action for r in records}
        assert Action.DATA_READ not in {r.action for r in records}
        assert _spent(env, site) == 0
    assert report.ok, report.summary()


def _key_files(
    env: AuditHarness, analyst: LocalAccount, tmp_path: Path
) -> tuple[Path, Path]:
    """The analyst's key file and the data officer's (the county's admin)."""
    admin = env.ledger.admin
    assert admin is not None
    keys = tmp_path / "keys"
    keys.mkdir()
    analyst_key, officer_key = keys / "analyst.json", keys / "officer.json"
    for account, file in ((analyst, analyst_key), (admin, officer_key)):
        file.write_text(
            json.dumps(
                {
                    "format": "fedgov-plaintext-key",
                    "address": account.address,
                    "private_key": "0x" + bytes(account.key).hex(),
                }
            )
        )
        file.chmod(0o600)
    return analyst_key, officer_key


def test_an_approved_request_runs_and_the_auditor_matches_it(
    county: tuple[AuditHarness, LocalAccount], tmp_path: Path
) -> None:
    # Prepare: the analyst applies to health-site-1 for "research" (which needs
    # an approval); its data officer approves, with the county's commands.
    env, analyst = county
    analyst_key, officer_key = _key_files(env, analyst, tmp_path)
    domain = ["--chain-id", str(env.chain.chain_id), "--roles", env.roles.address]
    registry = ["--registry", env.registry.address]
    site = "health-site-1"
    assert main(["access", "request", "--key", str(analyst_key), "--department", site,
                 "--dataset", "randhie", "--purpose", "research", "--columns",
                 "mdvis,female", "--max-epsilon", "0.5", *domain,
                 "--out", str(tmp_path / "application.json")]) == 0  # fmt: skip
    assert main(["access", "approve", str(tmp_path / "application.json"), "--key",
                 str(officer_key), "--department", site, "--state-dir",
                 str(env.state_dir), *domain, *registry]) == 0  # fmt: skip
    query = _query("approved")

    # Act
    result = _ask(
        env,
        query,
        sign_query(
            query,
            load_key(analyst_key, password=None),
            env.roles.access_domain,
            purpose="research",
        ),
        purpose="research",
    )
    env.finish()
    report = env.verify()

    # Assert: the approved site answered under its agreement, the others refused
    statuses = {d.department: d.status for d in result.departments}
    assert statuses == {
        s: p.Status.OK if s == site else p.Status.REFUSED for s in SITES
    }
    records = _records(env, site)
    actions = [r.action for r in records]
    assert actions[:2] == [Action.ACCESS_POLICY, Action.DATA_USE_AGREEMENT]
    # The budget book's limit, created by this first spend, opens the message.
    assert actions[2:] == [
        Action.BUDGET_GRANT,
        Action.ACCESS_GRANTED,
        Action.BUDGET_SPEND,
        Action.DATA_READ,
        Action.ANALYTICS_QUERY,
    ]
    grant = records[3]
    assert grant.details["agreement"] == records[1].details["agreement-id"]
    assert grant.details["analyst"] == analyst.address
    assert _spent(env, site) == 1
    assert report.ok, report.summary()
    assert report.open_departments == ()


def test_the_auditor_fails_a_spend_without_a_request(
    county: tuple[AuditHarness, LocalAccount],
) -> None:
    # Prepare: an honest query, then a department that spends on its own
    env, analyst = county
    query = _query("honest")
    _ask(
        env, query, sign_query(query, analyst, env.roles.access_domain, purpose=PURPOSE)
    )
    site = SITES[2]
    spend = next(r for r in _records(env, site) if r.action is Action.BUDGET_SPEND)
    folder = department_dir(env.state_dir, site)
    account = load_key(folder / KEY_FILE, password=None)
    ActorLog(folder, account, env.registry.domain).commit(
        [dataclasses.replace(spend, job=JobId("unasked"), timestamp_ms=now_ms())]
    )

    # Act
    env.finish()
    report = env.verify()

    # Assert
    failures = [f for f in report.failures if f.check is Check.ACCESS]
    assert len(failures) == 1
    assert (
        "budget_spend of randhie in round 0 of 'unasked' matches no signed request"
        in (failures[0].message)
    )


def test_a_destroyed_dataset_is_never_read_and_a_read_after_it_is_caught(
    county: tuple[AuditHarness, LocalAccount],
) -> None:
    # Prepare: health-site-4 destroys its records of randhie (the command)
    env, analyst = county
    site = SITES[3]
    assert main(["data", "destroy", "--dataset", "randhie", "--department", site,
                 "--state-dir", str(env.state_dir), "--reason", "retention ended",
                 "--chain-id", str(env.chain.chain_id), "--registry",
                 env.registry.address]) == 0  # fmt: skip
    query = _query("after-destruction")

    # Act
    result = _ask(
        env, query, sign_query(query, analyst, env.roles.access_domain, purpose=PURPOSE)
    )
    with pytest.raises(DatasetDestroyedError):
        DepartmentDataAccess(
            TrainJob(dataset="randhie"), site, state_dir=env.state_dir
        ).train_split()
    env.finish()
    honest = env.verify()
    # ... then the department reads anyway, and logs it.
    folder = department_dir(env.state_dir, site)
    other = _records(env, SITES[0])
    read = next(r for r in other if r.action is Action.DATA_READ)
    ActorLog(
        folder, load_key(folder / KEY_FILE, password=None), env.registry.domain
    ).commit(
        [
            dataclasses.replace(
                read,
                actor=ActorId(load_key(folder / KEY_FILE, password=None).address),
                details={**read.details, "department": site},
                timestamp_ms=now_ms(),
            )
        ]
    )
    env.finish()
    caught = env.verify()

    # Assert
    statuses = {d.department: d.status for d in result.departments}
    assert statuses[site] == p.Status.REFUSED
    assert [s for s, v in statuses.items() if v == p.Status.OK] == [
        s for s in SITES if s != site
    ]
    records = _records(env, site)
    assert records[0].action is Action.DATASET_DESTROYED
    assert records[0].details["reason"] == "retention ended"
    assert honest.ok, honest.summary()
    failures = [f for f in caught.failures if f.check is Check.ACCESS]
    assert any(
        f"{site} read randhie after destroying its records of it" in f.message
        for f in failures
    ), caught.summary()


def test_a_denied_application_is_recorded_and_grants_nothing(
    county: tuple[AuditHarness, LocalAccount], tmp_path: Path
) -> None:
    # Prepare: the analyst applies to health-site-2 for "research"
    env, analyst = county
    analyst_key, officer_key = _key_files(env, analyst, tmp_path)
    domain = ["--chain-id", str(env.chain.chain_id), "--roles", env.roles.address]
    site = "health-site-2"
    application = tmp_path / "application.json"
    assert main(["access", "request", "--key", str(analyst_key), "--department", site,
                 "--dataset", "randhie", "--purpose", "research", "--columns",
                 "mdvis,female", "--max-epsilon", "0.5", *domain,
                 "--out", str(application)]) == 0  # fmt: skip

    # Act: its data officer denies it; the analyst asks anyway
    denied = main(["access", "deny", str(application), "--key", str(officer_key),
                   "--department", site, "--reason", "no ethics approval",
                   "--state-dir", str(env.state_dir), *domain, "--registry",
                   env.registry.address])  # fmt: skip
    query = _query("denied")
    result = _ask(
        env,
        query,
        sign_query(query, analyst, env.roles.access_domain, purpose="research"),
        purpose="research",
    )
    env.finish()
    report = env.verify()

    # Assert: the refusal is on record with its reason, no agreement exists,
    # the site refused the query without spending, and the audit passes
    assert denied == 0
    records = _records(env, site)
    refusal = next(r for r in records if r.details.get("phase") == PHASE_APPROVAL)
    assert refusal.action is Action.ACCESS_DENIED
    assert refusal.details["reason"] == "no ethics approval"
    assert refusal.details["analyst"] == analyst.address
    assert Action.DATA_USE_AGREEMENT not in {r.action for r in records}
    statuses = {d.department: d.status for d in result.departments}
    assert statuses[site] == p.Status.REFUSED
    assert _spent(env, site) == 0
    assert report.ok, report.summary()
