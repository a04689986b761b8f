"""``fedgov federation up|down|status``: docs/analytics.md's standing federation,
run as typed in a county; a query through it is charged and audited by the
departments' services; what a missing or broken record says."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fedgov.cli import main
from fedgov.engines._deployment_processes import tagged_processes
from fedgov.engines.standing import FEDERATION_FOLDER, StandingFederation
from fedgov.errors import ConfigurationError
from ledger.layout import department_dir, find_logs
from ledger.records import Action
from ledger.store import LogStore
from privacy.budget import open_budget_book
from tests.chain_fixtures import requires_anvil
from tests.county_fixtures import county

if TYPE_CHECKING:
    from fedgov.county import CountyConfig

__all__ = ["county"]

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs" / "analytics.md"
FEDGOV = Path(sys.executable).with_name("fedgov")
SITES = ("health-site-1", "health-site-2")


def _commands() -> list[list[str]]:
    section = DOCS.read_text(encoding="utf-8").split("\n## A standing federation\n")[1]
    block = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)[0]
    return [shlex.split(line) for line in block.splitlines() if line.strip()]


def _run(words: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FEDGOV), *words[1:]],
        cwd=cwd,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.anvil
@requires_anvil
@pytest.mark.timeout(900)
def test_the_documented_federation_answers_charges_audits_and_stops(
    tmp_path: Path, county: CountyConfig
) -> None:
    # Prepare
    commands = _commands()
    assert [w[1:3] for w in commands] == [
        ["federation", "up"],
        ["federation", "status"],
        ["query", "histogram"],
        ["query", "mean"],
        ["query", "count"],
        ["train", "model=logreg"],
        ["federation", "down"],
        ["audit", "verify"],
    ]
    state = county.paths.state_dir
    outputs: list[str] = []
    token = ""

    # Act: every command as typed
    try:
        for words in commands:
            if words[1:3] == ["federation", "down"]:
                federation = StandingFederation.find()
                assert federation is not None
                token = federation.token
            result = _run(words, tmp_path)
            assert result.returncode == 0, (words, result.stdout, result.stderr[-3000:])
            outputs.append(result.stdout)
    finally:
        _run(["fedgov", "federation", "down"], tmp_path)

    # Assert: up and healthy; the questions answered by both departments
    up, status, answer, mean, count, trained, down, verified = outputs
    assert "2 departments of randhie" in up
    assert "healthy" in status.splitlines()[-1]
    assert "SuperNodes online: 2 of 2" in status
    assert "query-service" in status
    assert "query service: answering" in status
    ids = []
    for text in (answer, mean, count):
        assert "2 of 2 departments answered" in text
        found = re.search(r"\(query (query-[0-9a-f]+)\)", text)
        assert found is not None
        ids.append(found.group(1))
    # ... through the standing federation's one query run: its answers, its
    # services, each question under its own id
    home = Path(os.environ["FEDGOV_HOME"]) / FEDERATION_FOLDER
    for query_id in ids:
        assert (home / "runs" / query_id / "query_result.json").is_file()
    for site in SITES:
        log = (home / "logs" / f"service-{site}.log").read_text()
        assert "query message of run" in log
        # charged to the department's own budget book, recorded in its log
        history = open_budget_book(state, site).status("randhie").history
        assert [(r.kind, r.job_id) for r in history[:3]] == [
            ("query", query_id) for query_id in ids
        ]
        path = next(p for p in find_logs(state) if p.parent.name == site)
        with LogStore(path) as store:
            records = store.records(0)
        queried = [(r.action, r.job) for r in records]
        for query_id in ids:
            assert (Action.ANALYTICS_QUERY, query_id) in queried
        assert not (department_dir(state, site) / "service.sock").exists()
    # the training job went to the same departments, charged to the same books
    assert "submitting to the standing federation" in trained
    for site in SITES:
        assert re.search(rf"{site}\s+epsilon job 1\.000", trained), trained
        kinds = [
            r.kind for r in open_budget_book(state, site).status("randhie").history
        ]
        assert kinds == ["query"] * 3 + ["train_round", "train_round"]
    # ... and down stopped everything it started, and what those started
    assert "stopped" in down
    assert tagged_processes(token) == []
    assert StandingFederation.find() is None
    assert not (home / "questions.sock").exists()
    # ... and the auditor finds every question on both sides, anchored
    assert verified.startswith("audit OK"), verified
    assert "3 queries cross-checked" in verified


def test_status_and_down_without_a_federation_say_so(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FEDGOV_HOME", str(tmp_path))

    assert main(["federation", "status"]) == 1
    assert "no standing federation is running" in capsys.readouterr().out
    assert main(["federation", "down"]) == 0
    assert "no standing federation is running" in capsys.readouterr().out


def test_a_broken_record_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEDGOV_HOME", str(tmp_path))
    record = tmp_path / FEDERATION_FOLDER / "federation.json"
    record.parent.mkdir(parents=True)
    for broken in ("{not json", json.dumps({"address": "127.0.0.1:1"})):
        record.write_text(broken)

        with pytest.raises(ConfigurationError, match=r"federation\.json"):
            StandingFederation.find()


@pytest.mark.slow
@pytest.mark.anvil
@requires_anvil
@pytest.mark.timeout(900)
def test_a_personalised_job_runs_through_the_department_services(
    tmp_path: Path, county: CountyConfig
) -> None:
    # Prepare: a standing federation of two departments, each behind its
    # service and the thin relay ClientApp
    state = county.paths.state_dir
    job_id = "standing-personal"
    commands = [
        shlex.split(f"fedgov federation up --departments {','.join(SITES)}"),
        shlex.split(
            "fedgov train model=logreg num_rounds=1 privacy.epsilon=1 "
            f"personalise=true personalise_epochs=1 job_id={job_id}"
        ),
        ["fedgov", "federation", "down"],
        ["fedgov", "audit", "verify"],
    ]
    outputs: list[str] = []

    # Act
    try:
        for words in commands:
            result = _run(words, tmp_path)
            assert result.returncode == 0, (words, result.stdout, result.stderr[-3000:])
            outputs.append(result.stdout)
    finally:
        _run(["fedgov", "federation", "down"], tmp_path)

    # Assert: the last message reached each department's service, which
    # fine-tuned within the job's epsilon, charged it to its own book as
    # `personalise` and kept the model
    _, trained, _, verified = outputs
    assert "submitting to the standing federation" in trained
    home = Path(os.environ["FEDGOV_HOME"]) / FEDERATION_FOLDER
    for site in SITES:
        line = re.search(
            rf"{site}\s+personalised: .*epsilon job ([0-9.]+) with fine-tuning",
            trained,
        )
        assert line is not None, trained
        assert 0.99 <= float(line.group(1)) <= 1.0
        history = open_budget_book(state, site).status("randhie").history
        assert [(r.kind, r.job_id, r.round) for r in history] == [
            ("train_round", job_id, 1),
            ("personalise", job_id, 2),
        ]
        kept = department_dir(state, site) / "personalised" / f"{job_id}.pt"
        assert kept.is_file()
        log = (home / "logs" / f"service-{site}.log").read_text()
        assert log.count("train message of run") == 2, log
    # ... and the auditor recomputes both spends of each department's log
    assert verified.startswith("audit OK"), verified
