"""docs/access.md's walkthrough, run exactly as a user types it, in a county.

What a user fills in by hand is filled in here, and only that: the
analyst's address (printed by ``fedgov access key``) for the address granted
and revoked, the officer's for the policy's ``data_officers``. The county is
``fedgov init``'s in a temporary ``$FEDGOV_HOME`` (its chain node on anvil);
the six RandHIE sites answer the query in Flower's simulation engine
(``slow``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from auditor.verify import load_log
from department_nodes.access import POLICY_FILE
from department_nodes.data_access import DepartmentDataAccess
from fedgov.job import TrainJob
from ledger.layout import department_dir, find_logs
from ledger.records import Action, AuditRecord
from privacy.budget import open_budget_book
from privacy.errors import DatasetDestroyedError
from tests.chain_fixtures import requires_anvil
from tests.county_fixtures import county

if TYPE_CHECKING:
    from fedgov.county import CountyConfig

__all__ = ["county"]

pytestmark = [pytest.mark.slow, pytest.mark.anvil, requires_anvil]

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs" / "access.md"
FEDGOV = Path(sys.executable).with_name("fedgov")
SITE = "health-site-1"


def _section(heading: str) -> str:
    after = DOCS.read_text(encoding="utf-8").split(f"\n{heading}\n", 1)[1]
    return re.split(r"\n## ", after, maxsplit=1)[0]


def _block(heading: str, language: str) -> str:
    return str(re.findall(rf"```{language}\n(.*?)```", _section(heading), re.DOTALL)[0])


def _commands(block: str) -> list[list[str]]:
    lines = block.replace("\\\n", " ").splitlines()
    return [words for line in lines if (words := shlex.split(line, comments=True))]


def walkthrough() -> list[list[str]]:
    """The walkthrough's commands, each as its words."""
    return _commands(_block("## Walkthrough", "bash"))


@pytest.mark.timeout(900)
def test_the_walkthrough_runs_as_documented(
    tmp_path: Path, county: CountyConfig
) -> None:
    # Prepare
    commands = walkthrough()
    policy = _block("## The department's policy, decided by the department", "yaml")
    state = county.paths.state_dir
    outputs: dict[str, str] = {}
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
        argv = [addresses["analyst.json"] if w == "0x..." else w for w in words]
        result = subprocess.run(
            [str(FEDGOV), *argv[1:]],
            cwd=tmp_path,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, (argv, result.stdout, result.stderr[-3000:])
        outputs[" ".join(words[1:3])] = result.stdout
        if words[1:3] == ["access", "key"]:
            addresses[words[-1]] = result.stdout.split()[-1]

    # Assert: the role granted then revoked on chain, the agreement signed,
    # health-site-1 answering the query under it, its records destroyed, and
    # the auditor content with all of it
    analyst = addresses["analyst.json"]
    assert outputs["access list"].split() == [analyst]
    assert "no longer holds the analyst role" in outputs["access revoke"]
    assert "data-use agreement required" in outputs["access policy"]
    assert "agreement 0x" in outputs["access approve"]
    assert "'research'" in outputs["access agreements"]
    answered = outputs["query histogram"]
    assert re.search(rf"{SITE}\s+ok\s", answered), answered
    assert "6 of 6 departments answered" in answered
    assert "held since" in outputs["data retention"]
    assert "data key" in outputs["data destroy"]
    assert "audit OK" in outputs["audit verify"], outputs["audit verify"]
    assert len(open_budget_book(state, SITE).status("randhie").history) == 1
    log = next(p for p in find_logs(state) if p.parent.name == SITE)
    actions = [AuditRecord.decode(r).action for r in load_log(log).records]
    assert actions[:2] == [Action.ACCESS_POLICY, Action.DATA_USE_AGREEMENT]
    assert Action.ACCESS_GRANTED in actions
    assert actions[-1] is Action.DATASET_DESTROYED
    with pytest.raises(DatasetDestroyedError):
        DepartmentDataAccess(
            TrainJob(dataset="randhie"), SITE, state_dir=state
        ).train_split()
