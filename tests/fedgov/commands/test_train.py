"""``fedgov train`` as a user types it, from a folder that is not the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from eth_account import Account

from department_nodes.access import POLICY_FILE
from fedgov.cli import main
from ledger.layout import department_dir
from privacy.budget import open_budget_book
from tests.chain_fixtures import requires_anvil
from tests.county_fixtures import county

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from fedgov.county import CountyConfig

__all__ = ["county"]

FEDGOV = Path(sys.executable).with_name("fedgov")


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.anvil
@requires_anvil
def test_the_readme_command_runs_from_another_folder(
    tmp_path: Path, county: CountyConfig
) -> None:
    # Prepare: the README's first command in a county, two overrides keeping
    # it short (one round, the in-process engine); a folder outside the
    # repository.
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
    env = dict(os.environ)

    # Act
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=540
    )

    # Assert: it ran, printed every department's spend and wrote its record
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Primary config" not in result.stderr
    assert "epsilon job" in result.stdout
    record = json.loads(
        (county.paths.runs_dir / "typed" / "run_record.json").read_text()
    )
    assert record["job"]["strategy"] == "fedprox"
    assert record["job"]["epsilon"] == 3.0
    assert len(record["rounds"]) == 1


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_without_a_county_train_says_what_to_do_or_runs_ephemeral(
    tmp_path: Path,
) -> None:
    command = [str(FEDGOV), "train", "num_rounds=1", "engine=inprocess", "job_id=e"]

    refused = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    ephemeral = subprocess.run(
        [
            *command[:2],
            "--ephemeral",
            *command[2:],
            "partition=dirichlet",
            "partition.num_departments=2",
            "model=logreg",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=540,
    )

    assert refused.returncode == 1
    assert "fedgov init --county NAME" in refused.stderr
    assert ephemeral.returncode == 0, ephemeral.stderr[-3000:]
    assert "(ephemeral)" in ephemeral.stdout
    assert (tmp_path / "runs" / "e" / "run_record.json").is_file()


@pytest.mark.slow
@pytest.mark.anvil
@requires_anvil
@pytest.mark.timeout(900)
def test_a_job_signed_on_the_command_line_trains_where_the_policy_allows(
    tmp_path: Path, county: CountyConfig
) -> None:
    # Prepare: in the county, the admin grants an analyst the role (the
    # command); health-site-1 allows training for "health-cost-model" only.
    folder = department_dir(county.paths.state_dir, "health-site-1")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / POLICY_FILE).write_text(
        "fedgov_access_policy: 1\n"
        "department: health-site-1\n"
        "data_officers: []\n"
        "max_epsilon: 1.0\n"
        "rules:\n"
        "  - {dataset: randhie, purposes: [health-cost-model], kinds: [train]}\n"
    )
    analyst: LocalAccount = Account.create()
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
    assert county.accounts.admin is not None
    admin_key = county.home / county.accounts.admin
    assert main(["access", "grant", analyst.address, "--rpc", county.chain.rpc_url,
                 "--roles", county.contracts.roles, "--admin-key",
                 str(admin_key)]) == 0  # fmt: skip

    def train(purpose: str, job_id: str) -> dict[str, Any]:
        command = [str(FEDGOV), "train", "engine=inprocess", "num_rounds=1",
                   "privacy.epsilon=0.5", f"job_id={job_id}",
                   "--analyst-key", "analyst.json", "--purpose", purpose]  # fmt: skip
        result = subprocess.run(
            command, cwd=tmp_path, env=dict(os.environ), capture_output=True,
            text=True, timeout=400, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        path = county.paths.runs_dir / job_id / "run_record.json"
        return cast(dict[str, Any], json.loads(path.read_text()))

    # Act: signed for the county's Roles contract (no --rpc, --roles)
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
    book = open_budget_book(county.paths.state_dir, "health-site-1")
    assert len(book.status("randhie").history) == 1
