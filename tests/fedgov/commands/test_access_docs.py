"""docs/access.md's walkthrough, run exactly as a user types it.

What a user fills in by hand is filled in here, and only that: the test's
anvil stands in for ``http://127.0.0.1:8545``, its Roles contract for
``--roles 0x...``, the analyst's address (printed by ``fedgov access key``)
for the address granted and revoked, the officer's for the policy's
``data_officers``; ``admin.json`` is the key of the contract's admin. The
six RandHIE sites answer the query in Flower's simulation engine (``slow``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.verify import load_log
from department_nodes.access import POLICY_FILE
from department_nodes.data_access import DepartmentDataAccess
from fedgov.job import TrainJob
from ledger.chain import AnvilProcess, Chain
from ledger.chain_roles import Roles
from ledger.layout import department_dir, find_logs
from ledger.records import Action, AuditRecord, Role
from privacy.budget import open_budget_book
from privacy.errors import DatasetDestroyedError
from tests.chain_fixtures import requires_anvil

pytestmark = [pytest.mark.slow, pytest.mark.anvil, requires_anvil]

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs" / "access.md"
FEDGOV = Path(sys.executable).with_name("fedgov")
RPC = "http://127.0.0.1:8545"
SITE = "health-site-1"


def _section(heading: str) -> str:
    after = DOCS.read_text(encoding="utf-8").split(f"\n{heading}\n", 1)[1]
    return re.split(r"\n## ", after, maxsplit=1)[0]


def _block(heading: str, language: str) -> str:
    return str(re.findall(rf"```{language}\n(.*?)```", _section(heading), re.DOTALL)[0])


def _commands(block: str) -> list[list[str]]:
    lines = block.replace("\\\n", " ").splitlines()
    return [words for line in lines if (words := shlex.split(line, comments=True))]


def _fill(words: list[str], *, url: str, roles: str, analyst: str) -> list[str]:
    filled = []
    for before, word in zip(["", *words], words, strict=False):
        if word == "0x...":
            word = roles if before == "--roles" else analyst
        filled.append(word.replace(RPC, url))
    return filled


def _plaintext_key(path: Path, address: str, key: bytes) -> None:
    path.write_text(
        json.dumps(
            {
                "format": "fedgov-plaintext-key",
                "address": address,
                "private_key": "0x" + key.hex(),
            }
        )
    )
    path.chmod(0o600)


@pytest.mark.timeout(900)
def test_the_walkthrough_runs_as_documented(tmp_path: Path) -> None:
    # Prepare: the county's chain and Roles contract, its admin's key file
    commands = _commands(_block("## Walkthrough", "bash"))
    policy = _block("## The department's policy, decided by the department", "yaml")
    env = {k: v for k, v in os.environ.items() if k != "FEDGOV_KEY_PASSWORD"}
    env["FEDGOV_HOME"] = str(tmp_path / "home")
    state = tmp_path / "county"
    outputs: dict[str, str] = {}
    with AnvilProcess() as anvil:
        chain = Chain.connect(anvil.url, accounts=anvil.accounts)
        admin = chain.accounts[0]
        roles = Roles.deploy(chain, admin=admin)
        _plaintext_key(tmp_path / "admin.json", admin.address, bytes(admin.key))
        addresses: dict[str, str] = {}

        # Act: every command, in order, as typed
        for words in commands:
            assert words[0] == "fedgov", words
            if words[1:3] == ["access", "policy"]:
                folder = department_dir(state, SITE)
                folder.mkdir(parents=True, exist_ok=True)
                (folder / POLICY_FILE).write_text(
                    policy.replace("0x...", addresses["officer.json"])
                )
            argv = _fill(
                words,
                url=anvil.url,
                roles=roles.address,
                analyst=addresses.get("analyst.json", ""),
            )
            result = subprocess.run(
                [str(FEDGOV), *argv[1:]],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert result.returncode == 0, (argv, result.stdout, result.stderr[-3000:])
            outputs[" ".join(words[1:3])] = result.stdout
            if words[1:3] == ["access", "key"]:
                addresses[words[-1]] = result.stdout.split()[-1]
        still_analyst = roles.check_now(addresses["analyst.json"], Role.ANALYST)

    # Assert: the role granted then revoked on chain, the agreement signed,
    # health-site-1 answering the query under it, then its records destroyed
    analyst = addresses["analyst.json"]
    assert outputs["access list"].split() == [analyst]
    assert not still_analyst.held
    assert "data-use agreement required" in outputs["access policy"]
    assert "agreement 0x" in outputs["access approve"]
    assert "'research'" in outputs["access agreements"]
    assert re.search(rf"{SITE}\s+ok\s", outputs["query histogram"]), outputs[
        "query histogram"
    ]
    assert "6 of 6 departments answered" in outputs["query histogram"]
    assert "held since" in outputs["data retention"]
    assert "data key" in outputs["data destroy"]
    assert len(open_budget_book(state, SITE).status("randhie").history) == 1
    log = next(p for p in find_logs(state) if p.parent.name == SITE)
    actions = [AuditRecord.decode(r).action for r in load_log(log).records]
    assert actions == [
        Action.ACCESS_POLICY,
        Action.DATA_USE_AGREEMENT,
        Action.DATASET_DESTROYED,
    ]
    with pytest.raises(DatasetDestroyedError):
        DepartmentDataAccess(
            TrainJob(dataset="randhie"), SITE, state_dir=state
        ).train_split()
