"""A real simulated federation (Flower + Ray, DP-SGD), audited end to end.

Three Dirichlet departments of RandHIE train two DP rounds through the
engine alone (the apps attach both sides' hooks); the auditor accepts the run, then catches a tampered
log. Once in process on the embedded chain, once on anvil with the
``fedgov audit verify`` command in a subprocess, as an auditor would run it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from typing import TYPE_CHECKING

import pytest

from auditor.report import Check
from auditor.verify import verify_audit
from fedgov.engines.audit import AuditEnvironment
from fedgov.engines.simulation import SimulationEngine
from fedgov.job import TrainJob
from ledger.chain import AnvilProcess, Chain
from ledger.keys import PlaintextKeyWarning
from tests.audit_fixtures import ledger_on
from tests.chain_fixtures import requires_anvil

if TYPE_CHECKING:
    from pathlib import Path

    from coordinator.guard import RoundReport
    from fedgov.run_record import RunRecord

pytestmark = pytest.mark.slow


def _job(tmp_path: Path) -> TrainJob:
    return TrainJob(
        job_id="audited-e2e",
        dataset="randhie",
        partition="dirichlet",
        num_departments=3,
        num_rounds=2,
        model="logreg",
        run_dir=str(tmp_path / "run"),
        state_dir=str(tmp_path / "state"),
    )


def _run(chain: Chain, tmp_path: Path) -> tuple[AuditEnvironment, RunRecord, list[int]]:
    # The engine alone: the apps attach both sides' hooks, nobody wires them.
    job = _job(tmp_path)
    seen: list[int] = []

    def on_round(report: RoundReport) -> None:
        seen.append(report.server_round)

    ledger = ledger_on(chain)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextKeyWarning)
        record = SimulationEngine(num_cpus=2, ledger=ledger).run(job, on_round=on_round)
    return AuditEnvironment(ledger, tmp_path / "state"), record, seen


def _tamper(export: Path) -> None:
    lines = export.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["record"]["record_count"] += 1
    lines[1] = json.dumps(entry)
    export.write_text("\n".join(lines) + "\n")


def test_a_simulated_federation_is_audited_and_tampering_is_caught(
    tmp_path: Path,
) -> None:
    # Prepare
    env, record, seen = _run(Chain.embedded(), tmp_path)

    # Act
    report = env.verify(run_record=record)
    exports = env.export_logs(tmp_path / "exports")
    department = next(p for p in exports if p.name.startswith("dept-1-"))
    _tamper(department)
    tampered = verify_audit(
        exports,
        chain=env.ledger.chain,
        registry=env.ledger.registry.address,
        run_record=record,
    )

    # Assert
    assert report.ok, report.summary()
    assert seen == [1, 2]
    assert (report.rounds, report.jobs) == (2, ("audited-e2e",))
    # Per round: 3 departments x (3 train + 2 evaluate) + coordinator (3 + 1);
    # each department's log opens with the grant of its budget.
    assert report.records == 2 * (3 * 5 + 4) + 2 + 3
    failure = tampered.first_failure
    assert failure is not None
    assert (failure.check, failure.log, failure.index) == (
        Check.INTEGRITY,
        str(department),
        0,
    )


@pytest.mark.anvil
@requires_anvil
def test_the_command_line_verifies_a_simulated_federation_on_anvil(
    tmp_path: Path,
) -> None:
    # Prepare
    with AnvilProcess() as anvil:
        env, record, _ = _run(
            Chain.connect(anvil.url, accounts=anvil.accounts), tmp_path
        )
        exports = env.export_logs(tmp_path / "exports")
        command = [
            sys.executable,
            "-m",
            "fedgov",
            "audit",
            "verify",
            "--rpc",
            anvil.url,
            "--registry",
            env.ledger.registry.address,
            "--roles",
            env.ledger.roles.address,
            "--run-record",
            str(tmp_path / "run" / "run_record.json"),
            *(arg for path in exports for arg in ("--log", str(path))),
        ]

        # Act
        honest = subprocess.run(
            command, capture_output=True, text=True, timeout=300, check=False
        )
        _tamper(exports[-1])
        tampered = subprocess.run(
            command, capture_output=True, text=True, timeout=300, check=False
        )

    # Assert
    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert "audit OK: 4 logs" in honest.stdout
    assert tampered.returncode == 1
    assert f"FAILED: [integrity] {exports[-1]}, record 0" in tampered.stderr
    assert record.checkpoint is not None
