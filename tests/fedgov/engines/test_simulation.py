"""Integration: departments train with DP in Flower's simulation engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from department_nodes.data_access import DepartmentDataAccess
from fedgov.engines.simulation import SimulationEngine
from fedgov.job import TrainJob
from fedgov.job_data import departments_for, model_spec
from fedgov.metrics import evaluate_model
from fedgov.models import build_model
from fedgov.run_record import PROGRESS_FILE


@pytest.mark.slow
def test_three_departments_two_dp_rounds(tmp_path: Path) -> None:
    # Prepare
    job = TrainJob(
        job_id="it",
        dataset="randhie",
        partition="dirichlet",
        num_departments=3,
        num_rounds=2,
        epsilon=1.0,
        budget_epsilon=2.0,
        run_dir=str(tmp_path / "run"),
        state_dir=str(tmp_path / "state"),
    )
    held_out = [
        DepartmentDataAccess(job, d).heldout_split() for d in departments_for(job)
    ]
    features = np.concatenate([x for x, _ in held_out])
    labels = np.concatenate([y for _, y in held_out])
    initial = evaluate_model(
        build_model(model_spec(job), seed=job.seed), features, labels
    )
    # Execute
    record = SimulationEngine(num_cpus=2).run(job)
    # Assert: both rounds ran with every department, and the model learned.
    assert [r["server_round"] for r in record.rounds] == [1, 2]
    final = record.rounds[-1]["aggregated_evaluate"]
    assert final["eval-auc"] > initial.auc + 0.05
    assert final["eval-accuracy"] >= initial.accuracy
    assert len(record.departments) == 3
    for department in record.departments:
        assert department.rounds_trained == 2
        assert 0.9 < department.epsilon_job <= job.epsilon
        assert department.epsilon_total <= department.epsilon_limit == 2.0
    written = json.loads((tmp_path / "run" / "run_record.json").read_text())
    assert written["job"]["epsilon"] == 1.0
    progress = json.loads((tmp_path / "run" / PROGRESS_FILE).read_text())
    assert progress == {"job-id": "it", "rounds": written["rounds"]}
    assert (tmp_path / "run" / "final_model.pt").exists()
