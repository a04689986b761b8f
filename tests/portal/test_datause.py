"""The data-use register and the budgets, from a county that ran a job and a query."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

import pytest

from ledger.errors import ProofError
from ledger.merkle import leaf_hash, verify_inclusion
from privacy.budget import open_budget_book
from tests.portal._county import JOB_ID, PURPOSE, QUERY_ID, copy_state
from tests.portal._node import run_js
from tests.portal.conftest import client_for

if TYPE_CHECKING:
    from pathlib import Path

    from tests.portal._county import County

pytestmark = pytest.mark.anvil


def _budget_spends(county: County, job: str) -> dict[str, float]:
    """Epsilon each department's budget ledger charged for ``job``."""
    out: dict[str, float] = {}
    for folder in sorted((county.state_dir / "departments").iterdir()):
        status = open_budget_book(county.state_dir, folder.name).status("randhie")
        mine = [r for r in status.history if r.job_id == job]
        before = [r for r in status.history if r.timestamp < mine[0].timestamp]
        out[folder.name] = mine[-1].epsilon_after - (
            before[-1].epsilon_after if before else 0.0
        )
    return out


def test_the_register_lists_the_job_and_the_query_with_what_each_department_spent(
    county: County,
) -> None:
    # Prepare
    client = client_for(county.settings())

    # Execute
    page = client.get("/register")
    entries = client.get("/api/register").json()

    # Assert: both entries, their purpose, dataset and every department.
    assert page.status_code == 200
    assert f"<code>{JOB_ID}</code>" in page.text
    assert f"<code>{QUERY_ID}</code>" in page.text
    by_id = {e["id"]: e for e in entries}
    job, query = by_id[JOB_ID], by_id[QUERY_ID]
    assert (job["kind"], query["kind"]) == ("training", "query")
    assert {job["purpose"], query["purpose"]} == {PURPOSE}
    assert job["finished"]
    assert len(job["rounds"]) == county.job.num_rounds
    departments = sorted(d.department for d in county.record.departments)
    assert [d["department"] for d in job["departments"]] == departments
    assert [d["department"] for d in query["departments"]] == departments
    # The query's epsilon per department is the query's; the job's is what
    # each department's own budget ledger charged for the job.
    for use in query["departments"]:
        assert use["epsilon"] == pytest.approx(county.query.epsilon, rel=1e-6)
    charged = _budget_spends(county, JOB_ID)
    for use in job["departments"]:
        assert use["epsilon"] == pytest.approx(charged[use["department"]], rel=1e-6)
        assert county.job.epsilon is not None
        assert use["epsilon"] <= county.job.epsilon + 1e-9


def test_the_register_filters_and_refuses_unknown_filters(county: County) -> None:
    # Prepare
    client = client_for(county.settings())

    # Execute
    queries = client.get("/api/register?kind=query").json()
    bad = client.get("/register?department=nobody")
    bad_kind = client.get("/api/register?kind=<script>")

    # Assert
    assert [e["id"] for e in queries] == [QUERY_ID]
    assert bad.status_code == 400
    assert "department: must be one of" in bad.text
    assert bad_kind.status_code == 400
    assert "<script>" not in bad_kind.text


def test_each_entry_s_proofs_verify_under_the_anchored_roots(county: County) -> None:
    # Prepare
    client = client_for(county.settings())

    # Execute
    answer = client.get(f"/api/register/entry?kind=training&id={JOB_ID}").json()
    proofs = answer["proofs"]

    # Assert: the job_submit record and every department's budget spends, each
    # included under its log's anchored head, in Python and in JavaScript.
    assert len(proofs) == 1 + 6 * county.job.num_rounds
    assert json.loads(proofs[0]["record"])["action"] == "job_submit"
    for proof in proofs:
        verify_inclusion(
            proof["ref"]["index"],
            proof["tree_size"],
            leaf_hash(proof["record"].encode()),
            [bytes.fromhex(p) for p in proof["path"]],
            bytes.fromhex(proof["root"]),
        )
    results = run_js(
        *(
            {
                "op": "verify_inclusion",
                "index": p["ref"]["index"],
                "size": p["tree_size"],
                "leaf_hash": leaf_hash(p["record"].encode()).hex(),
                "proof": p["path"],
                "root": p["root"],
            }
            for p in proofs
        )
    )
    assert all(r["ok"] is True for r in results)
    anchored = {p["root"] for p in proofs}
    portal = client.app.state.portal  # type: ignore[attr-defined]
    roots = {log.anchored_root for log in portal.county.logs()}
    assert anchored <= roots


def test_a_record_edited_after_anchoring_fails_its_proof(
    county: County, tmp_path: Path
) -> None:
    # Prepare: a copy of the county's state whose first department edited a
    # budget spend in its log file (its triggers dropped, leaf hash untouched).
    # Its log opens with the budget_grant that created the limit.
    state = copy_state(county, tmp_path / "state")
    log = next((state / "departments" / "health-site-1").glob("audit-0x*.db"))
    with sqlite3.connect(log) as db:
        db.execute("DROP TRIGGER records_no_update")
        index, data = next(
            (i, d)
            for i, d in db.execute("SELECT idx, data FROM records ORDER BY idx")
            if b'"budget_spend"' in d
        )
        edited = data.replace(b'"epsilon":"', b'"epsilon":"0.0', 1)
        db.execute("UPDATE records SET data = ? WHERE idx = ?", (edited, index))
    client = client_for(county.settings(state_dirs=(state,)))

    # Execute
    proofs = client.get(f"/api/register/entry?kind=training&id={JOB_ID}").json()[
        "proofs"
    ]
    mine = [
        p
        for p in proofs
        if p["department"] == "health-site-1" and p["ref"]["index"] == index
    ]

    # Assert: the portal serves the edited bytes as they are, and they no
    # longer lead to the anchored root.
    (proof,) = mine
    assert proof["record"].encode() == edited
    with pytest.raises(ProofError):
        verify_inclusion(
            index,
            proof["tree_size"],
            leaf_hash(proof["record"].encode()),
            [bytes.fromhex(p) for p in proof["path"]],
            bytes.fromhex(proof["root"]),
        )


def test_a_log_file_shorter_than_its_anchor_gives_no_proof_and_says_why(
    county: County, tmp_path: Path
) -> None:
    # Prepare: health-site-4's file lost its last record after anchoring.
    state = copy_state(county, tmp_path / "state")
    log = next((state / "departments" / "health-site-4").glob("audit-0x*.db"))
    with sqlite3.connect(log) as db:
        db.execute("DROP TRIGGER records_no_delete")
        db.execute("DELETE FROM records WHERE idx = (SELECT MAX(idx) FROM records)")
    client = client_for(county.settings(state_dirs=(state,)))

    # Execute
    proofs = client.get(f"/api/register/entry?kind=query&id={QUERY_ID}").json()[
        "proofs"
    ]
    page = client.get(f"/register/entry?kind=query&id={QUERY_ID}")
    audit = client.get("/audit")

    # Assert
    (mine,) = [p for p in proofs if p["department"] == "health-site-4"]
    assert mine["path"] == []
    # 13 records of the job and query, after the budget_grant of the limit.
    assert mine["problem"].startswith("the anchored head covers 14 records")
    assert page.status_code == 200
    assert "this log file holds 13" in page.text
    assert '<span class="badge bad">differ</span>' in audit.text


def test_budgets_match_each_department_s_ledger(county: County) -> None:
    # Prepare
    client = client_for(county.settings())

    # Execute
    series = client.get("/api/budgets").json()
    page = client.get("/budgets")

    # Assert: limit, spent, remaining and every spend, as `fedgov budget show`.
    assert page.status_code == 200
    assert 'id="budget-data"' in page.text
    assert len(series) == 6
    for s in series:
        status = open_budget_book(county.state_dir, s["department"]).status(
            s["dataset"]
        )
        assert s["limit"] == status.limit.epsilon
        assert s["spent"] == pytest.approx(status.spent)
        assert s["remaining"] == pytest.approx(status.remaining)
        assert [p["epsilon_after"] for p in s["points"]] == [
            r.epsilon_after for r in status.history
        ]
        assert {p["kind"] for p in s["points"]} == {r.kind for r in status.history}
