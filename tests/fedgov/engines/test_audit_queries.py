"""DP analytics queries in the audit: recorded at both ends, cross-checked, spent.

One query runs end to end in process through the real departments (their
ClientApp with the audit mod, real budgets and data) and the coordinator's
real ``run_query``; the others use the stand-in departments of
:mod:`tests.audit_federation`, which charge training and queries to
one stand-in budget, so that the auditor's composition of both can be
checked, and broken.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from auditor.report import Check
from auditor.verify import load_log
from coordinator.analytics import run_query
from department_nodes import audit as department_mod
from department_nodes._audit_queries import department_query_records
from department_nodes.client_app import make_client_app
from fedgov import protocol as p
from fedgov.job import TrainJob
from ledger.record_fields import answer_sha256, query_result_sha256, query_sha256
from ledger.records import Action, AuditRecord
from privacy.accounting import epsilon_spent
from privacy.mechanisms import Query, plan_answer
from tests.audit_federation import StandInDepartment, ask, run_job
from tests.audit_fixtures import SITES, AuditHarness
from tests.coordinator.test_analytics import InProcessGrid

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from flwr.app import Context, Message


pytestmark = pytest.mark.usefixtures("flower_task")


def _histogram(query_id: str) -> Query:
    return Query(
        kind="histogram",
        dataset="randhie",
        column="mdvis",
        bins=(0, 1, 2, 5, 10, 20, 80),
        group_by="female",
        epsilon=0.5,
        delta=1e-5,
        query_id=query_id,
    )


def _records(env: AuditHarness, name: str | None) -> list[AuditRecord]:
    """The records of a department's log (``None``: the coordinator's)."""
    paths = env.log_paths()
    path = paths[0] if name is None else paths[1 + sorted(env.departments).index(name)]
    return [AuditRecord.decode(data) for data in load_log(path).records]


def test_a_query_is_audited_end_to_end(sites_env: AuditHarness, tmp_path: Path) -> None:
    # Prepare: the real department ClientApp, audit mod included.
    job = sites_env.configure(
        TrainJob(job_id="county-statistics", dataset="randhie", purpose="approval #7")
    )
    app = make_client_app(job=job)
    replies: list[Message] = []

    def department(msg: Message, context: Context) -> Message:
        replies.append(app(msg, context))
        return replies[-1]

    query = _histogram("visits-by-sex")

    # Act
    result = run_query(InProcessGrid(department, len(SITES)), query, node_wait=0.0)
    sites_env.query_observer()(result)
    sites_env.finish()
    report = sites_env.verify()

    # Assert: the auditor cross-checked the query and found nothing.
    assert report.ok, report.summary()
    assert (report.queries, report.warnings) == (1, ())
    assert "1 query cross-checked" in report.summary()
    # Each department: its spend (the answer's mechanism), what it read, what
    # it released.
    plan = plan_answer(query)
    for name, answer in zip(SITES, replies, strict=True):
        grant, spend, read, asked = _records(sites_env, name)
        assert grant.action is Action.BUDGET_GRANT  # the dataset's first use
        assert (spend.action, read.action, asked.action) == (
            Action.BUDGET_SPEND,
            Action.DATA_READ,
            Action.ANALYTICS_QUERY,
        )
        assert {r.job for r in (spend, read, asked)} == {"visits-by-sex"}
        assert {r.purpose for r in (spend, read, asked)} == {"approval #7"}
        assert spend.details["noise-multiplier"] == repr(plan.spend.noise_multiplier)
        assert (spend.details["sample-rate"], spend.details["steps"]) == ("1.0", "1")
        assert spend.epsilon == pytest.approx(plan.epsilon, rel=1e-12)
        assert (read.record_count, read.details["rows"]) == (0, "withheld")
        assert json.loads(read.details["columns"]) == ["female", "mdvis"]
        sent = answer.content.metric_records[p.Record.METRICS]["query-answer"]
        assert asked.result_hash == answer_sha256(sent)  # type: ignore[arg-type]
        assert asked.details["query-sha256"] == query_sha256(query).hex()
    # The coordinator: one entry per department, then the released result,
    # whose digest anyone holding the result's JSON recomputes.
    coordinator = _records(sites_env, None)
    *entries, released = coordinator[1:]
    assert [e.details["status"] for e in entries] == ["ok"] * len(SITES)
    assert released.details["entry"] == "query"
    written = tmp_path / "query_result.json"
    written.write_text(json.dumps(result.to_json()))
    assert released.result_hash == query_result_sha256(json.loads(written.read_text()))


def test_training_and_queries_are_composed_into_one_budget(
    sites_env: AuditHarness, tmp_path: Path
) -> None:
    # Prepare: two DP rounds; then a query that one department, near its
    # limit, refuses.
    job = TrainJob(job_id="audit-job", dataset="randhie", num_rounds=2)
    trained = run_job(sites_env, job, tmp_path / "run")
    tight = trained.departments["health-site-3"]
    tight.limit = epsilon_spent(tight.history, delta=tight.delta) + 0.01

    # Act
    result = ask(sites_env, _histogram("q-1"), trained.departments)
    sites_env.finish()
    report = sites_env.verify()

    # Assert
    assert report.ok, report.summary()
    assert (report.rounds, report.queries) == (2, 1)
    assert [r.department for r in result.refused] == ["health-site-3"]
    assert _records(sites_env, "health-site-3")[-1].action is Action.ACCESS_DENIED
    spend = _records(sites_env, "health-site-1")[-3]
    everything = trained.departments["health-site-1"].history
    assert (spend.action, spend.details["phase"], len(everything)) == (
        Action.BUDGET_SPEND,
        "query",
        3,
    )
    assert float(spend.details["epsilon-total"]) == pytest.approx(
        epsilon_spent(everything, delta=job.delta), rel=1e-12
    )
    assert float(spend.details["epsilon-total"]) > float(spend.details["epsilon-job"])


def _dropping(
    original: Callable[..., list[AuditRecord]], department: str, query_id: str
) -> Callable[..., list[AuditRecord]]:
    """A dishonest department's records: its spend on one query goes unlogged."""

    def records(*args: object, **kwargs: object) -> list[AuditRecord]:
        out = original(*args, **kwargs)
        if kwargs["department"] != department:
            return out
        return [
            r
            for r in out
            if not (r.action is Action.BUDGET_SPEND and r.job == query_id)
        ]

    return records


def test_a_query_spend_missing_from_a_departments_log_is_caught(
    sites_env: AuditHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    sites_env.configure(TrainJob(job_id="queries", dataset="randhie"))
    departments = {name: StandInDepartment(name, delta=1e-5) for name in SITES}
    monkeypatch.setattr(
        department_mod,
        "department_query_records",
        _dropping(department_query_records, "health-site-2", "q-1"),
    )

    # Act: the spend of the first query is not logged; the second's is.
    ask(sites_env, _histogram("q-1"), departments)
    ask(sites_env, _histogram("q-2"), departments)
    sites_env.finish()
    report = sites_env.verify()

    # Assert: the coordinator's record of the answer has no spend behind it,
    # and the department's own next spend no longer composes.
    omission, total = report.failures
    assert omission.check is Check.COMPLETENESS
    assert omission.log == str(sites_env.log_paths()[0])
    assert omission.message == (
        "omission: health-site-2 answered query 'q-1', but its log holds no "
        "budget_spend record for it"
    )
    assert total.check is Check.BUDGET
    assert "health-site-2" in total.log
    assert total.index == 2  # q-2's spend, after q-1's data_read and analytics_query
    assert "reports epsilon-total" in total.message
    assert "1 spend(s) its log records on it" in total.message
