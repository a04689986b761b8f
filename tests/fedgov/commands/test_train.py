"""``fedgov train`` as a user types it, from a folder that is not the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from eth_account import Account

from department_nodes.access import POLICY_FILE
from ledger.chain import AnvilProcess, Chain
from ledger.chain_roles import Roles
from ledger.layout import department_dir
from ledger.records import Role
from privacy.budget import open_budget_book
from tests.chain_fixtures import requires_anvil

FEDGOV = Path(sys.executable).with_name("fedgov")


@pytest.mark.timeout(600)
def test_the_readme_command_runs_from_another_folder(tmp_path: Path) -> None:
    # Prepare: the README's first command, two overrides keeping it short
    # (one round, the in-process engine); a folder outside the repository.
    command = [
        str(FEDGOV),
        "train",
        "dataset=adult",
        "privacy.epsilon=3",
        "strategy=fedprox",
        "num_rounds=1",
        "engine=inprocess",
        "job_id=typed",
    ]
    env = {**os.environ, "FEDGOV_HOME": str(tmp_path / "home")}

    # Act
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=540
    )

    # Assert: it ran, printed every department's spend and wrote its record
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Primary config" not in result.stderr
    assert "epsilon job" in result.stdout
    record = json.loads((tmp_path / "runs" / "typed" / "run_record.json").read_text())
    assert record["job"]["strategy"] == "fedprox"
    assert record["job"]["epsilon"] == 3.0
    assert len(record["rounds"]) == 1


@pytest.mark.slow
@pytest.mark.anvil
@requires_anvil
@pytest.mark.timeout(900)
def test_a_job_signed_on_the_command_line_trains_where_the_policy_allows(
    tmp_path: Path,
) -> None:
    # Prepare: the county's chain and Roles contract, an analyst holding the
    # role; health-site-1 allows training for "health-cost-model" only.
    home = tmp_path / "home"
    folder = department_dir(home, "health-site-1")
    folder.mkdir(parents=True)
    (folder / POLICY_FILE).write_text(
        "fedgov_access_policy: 1\n"
        "department: health-site-1\n"
        "data_officers: []\n"
        "max_epsilon: 1.0\n"
        "rules:\n"
        "  - {dataset: randhie, purposes: [health-cost-model], kinds: [train]}\n"
    )
    analyst = Account.create()
    (tmp_path / "analyst.json").write_text(
        json.dumps(
            {
                "format": "fedgov-plaintext-key",
                "address": analyst.address,
                "private_key": "0x" + bytes(analyst.key).hex(),
            }
        )
    )
    (tmp_path / "analyst.json").chmod(0o600)
    env = {**os.environ, "FEDGOV_HOME": str(home)}
    with AnvilProcess() as anvil:
        chain = Chain.connect(anvil.url, accounts=anvil.accounts)
        roles = Roles.deploy(chain, admin=chain.accounts[0])
        roles.grant(analyst.address, Role.ANALYST, sender=chain.accounts[0])

        def train(purpose: str, job_id: str) -> dict[str, Any]:
            command = [str(FEDGOV), "train", "engine=inprocess", "num_rounds=1",
                       "privacy.epsilon=0.5", f"job_id={job_id}",
                       "--analyst-key", "analyst.json", "--purpose", purpose,
                       "--rpc", anvil.url, "--roles", roles.address]  # fmt: skip
            result = subprocess.run(
                command, cwd=tmp_path, env=env, capture_output=True, text=True,
                timeout=400, check=False,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr[-3000:]
            path = tmp_path / "runs" / job_id / "run_record.json"
            return cast(dict[str, Any], json.loads(path.read_text()))

        # Act
        allowed = train("health-cost-model", "allowed")
        refused = train("marketing", "refused")

    # Assert: health-site-1 trained under the signed request, then refused
    # the other purpose before spending; sites without a policy trained both
    def trained(record: dict[str, Any]) -> dict[str, int]:
        return {d["department"]: d["rounds_trained"] for d in record["departments"]}

    assert trained(allowed)["health-site-1"] == 1
    assert trained(refused)["health-site-1"] == 0
    assert set(trained(refused).values()) == {0, 1}
    (outcome,) = [
        o for o in refused["rounds"][0]["train"] if o["department"] == "health-site-1"
    ]
    assert outcome["reason"].startswith("access refused (purpose)")
    book = open_budget_book(home, "health-site-1")
    assert len(book.status("randhie").history) == 1
