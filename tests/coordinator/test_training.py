"""The coordinator's job loop: the progress file a running job leaves behind."""

from __future__ import annotations

import json
import stat
from typing import TYPE_CHECKING

import pytest

from coordinator.guard import DepartmentOutcome, RoundReport
from coordinator.summary import round_to_json
from coordinator.training import progress_writer
from fedgov import protocol as p
from fedgov.job import TrainJob
from fedgov.run_record import PROGRESS_FILE

if TYPE_CHECKING:
    from pathlib import Path


def _report(server_round: int) -> RoundReport:
    return RoundReport(
        server_round=server_round,
        started=float(server_round),
        train=[
            DepartmentOutcome(
                "health", 7, p.Outcome.TRAINED, metrics={p.Metric.EPSILON_JOB: 0.5}
            )
        ],
        aggregated_evaluate={p.Metric.EVAL_ACCURACY: 0.5 + server_round / 10},
    )


def test_each_round_rewrites_the_progress_file_then_tells_the_observer(
    tmp_path: Path,
) -> None:
    # Prepare
    job = TrainJob(job_id="progress", run_dir=str(tmp_path / "run"))
    path = tmp_path / "run" / PROGRESS_FILE
    seen: list[tuple[int, list[int]]] = []

    def observer(report: RoundReport) -> None:
        # The file already holds the round when the next observer hears of it.
        rounds = json.loads(path.read_text())["rounds"]
        seen.append((report.server_round, [r["server_round"] for r in rounds]))

    on_round = progress_writer(job, then=observer)

    # Execute
    for server_round in (1, 2, 3):
        on_round(_report(server_round))

    # Assert
    assert json.loads(path.read_text()) == {
        "job-id": "progress",
        "rounds": [round_to_json(_report(r)) for r in (1, 2, 3)],
    }
    assert seen == [(1, [1]), (2, [1, 2]), (3, [1, 2, 3])]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [f.name for f in path.parent.iterdir()] == [PROGRESS_FILE]


def test_without_a_run_dir_the_file_goes_to_runs_of_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    progress_writer(TrainJob(job_id="plain"))(_report(1))

    assert (tmp_path / "runs" / "plain" / PROGRESS_FILE).is_file()
