"""A whole DP training job on a real SuperLink and three real SuperNodes.

Slow: every message starts a ``flwr-clientapp`` process that imports torch,
and Flower polls every few seconds (tens of seconds per round on 2 cores).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from department_nodes.access import POLICY_FILE, RpcRoles
from fedgov.engines.access import sign_job
from fedgov.engines.deployment import DeploymentEngine
from fedgov.job import TrainJob
from ledger.chain import AnvilProcess, Chain
from ledger.chain_roles import Roles
from ledger.layout import department_dir
from ledger.records import Role
from privacy.budget import open_budget_book
from tests.chain_fixtures import requires_anvil
from tests.fedgov.engines.test_deployment_federation import processes_mentioning

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path("/proc/self/environ").exists(), reason="the sweep reads /proc (Linux)"
    ),
    pytest.mark.filterwarnings("ignore:deployment engine:UserWarning"),
]


def test_two_dp_rounds_on_three_supernodes(tmp_path: Path) -> None:
    # Prepare
    run_dir = tmp_path / "run"
    job = TrainJob(
        job_id="e2e",
        dataset="randhie",
        partition="dirichlet",
        num_departments=3,
        num_rounds=2,
        model="logreg",
        epsilon=1.0,
        budget_epsilon=8.0,
        min_departments=3,
        run_dir=str(run_dir),
        state_dir=str(tmp_path / "state"),
        round_timeout=300.0,
    )
    engine = DeploymentEngine(startup_timeout=180.0, run_timeout=900.0)
    seen_rounds: list[int] = []

    # Execute
    record = engine.run(
        job, on_round=lambda report: seen_rounds.append(report.server_round)
    )

    # Assert: the record came from the deployed ServerApp, for both rounds.
    assert (run_dir / "run_record.json").is_file()
    assert (run_dir / "final_model.pt").is_file()
    assert record.engine == "deployment"
    assert [r["server_round"] for r in record.rounds] == [1, 2]
    assert seen_rounds == [1, 2]
    for round_ in record.rounds:
        assert [o["status"] for o in round_["train"]] == ["trained"] * 3
        # The global model was evaluated on every department's held-out split.
        assert len(round_["evaluate"]) == 3
        assert 0.0 <= round_["aggregated_evaluate"]["eval-accuracy"] <= 1.0
    # Each department trained both rounds with DP, within the job's epsilon
    # and its own lifetime budget ...
    assert len(record.departments) == 3
    for dept in record.departments:
        assert dept.rounds_trained == 2
        assert 0.0 < dept.epsilon_job <= 1.0 + 1e-6
        assert math.isclose(dept.epsilon_total, dept.epsilon_job, rel_tol=1e-6)
        assert dept.epsilon_limit == job.budget_epsilon
        # ... and the department's own durable ledger, in the state folder the
        # launcher handed its SuperNode, holds the same spend.
        ledger = open_budget_book(tmp_path / "state", dept.department)
        status = ledger.status(job.dataset)
        assert len(status.history) == 2
        assert math.isclose(status.spent, dept.epsilon_total, rel_tol=1e-6)
    # Every process of the launch is gone, logs stay.
    assert processes_mentioning(run_dir) == []
    logs = {p.name for p in (run_dir / "logs").iterdir()}
    assert {"superlink.log", "flwr-run.log"} <= logs
    assert len([name for name in logs if name.startswith("supernode-")]) == 3


@pytest.mark.anvil
@requires_anvil
def test_deployed_departments_check_the_analysts_signed_job(tmp_path: Path) -> None:
    # Prepare: an analyst holding the role on the county's chain; dept-0
    # allows training for another purpose only, the others for this one.
    state = tmp_path / "state"
    for name, purpose in (("dept-0", "marketing"), ("dept-1", "research"),
                          ("dept-2", "research")):  # fmt: skip
        folder = department_dir(state, name)
        folder.mkdir(parents=True)
        (folder / POLICY_FILE).write_text(
            f"fedgov_access_policy: 1\ndepartment: {name}\ndata_officers: []\n"
            f"max_epsilon: 1.0\nrules:\n  - {{dataset: randhie, purposes: [{purpose}]}}\n"
        )
    job = TrainJob(
        job_id="e2e-access",
        dataset="randhie",
        partition="dirichlet",
        num_departments=3,
        num_rounds=1,
        model="logreg",
        epsilon=1.0,
        min_departments=2,
        run_dir=str(tmp_path / "run"),
        state_dir=str(state),
        round_timeout=300.0,
        purpose="research",
    )
    with AnvilProcess() as anvil:
        chain = Chain.connect(anvil.url, accounts=anvil.accounts)
        admin, analyst = chain.accounts[0], chain.accounts[1]
        roles = Roles.deploy(chain, admin=admin)
        roles.grant(analyst.address, Role.ANALYST, sender=admin)
        county = RpcRoles(anvil.url, roles.address, chain.chain_id)
        engine = DeploymentEngine(
            startup_timeout=180.0, run_timeout=900.0, roles=county
        )

        # Act
        record = engine.run(sign_job(job, analyst, county.access_domain))

    # Assert: each SuperNode checked the request against the chain it was
    # told of; dept-0 refused before spending, the others trained.
    (round_one,) = record.rounds
    outcomes = {o["department"]: o for o in round_one["train"]}
    assert outcomes["dept-0"]["status"] == "refused"
    assert outcomes["dept-0"]["reason"].startswith("access refused (purpose)")
    assert {outcomes[d]["status"] for d in ("dept-1", "dept-2")} == {"trained"}
    assert "randhie" not in open_budget_book(state, "dept-0").datasets()
    assert len(open_budget_book(state, "dept-1").status("randhie").history) == 1
