"""SecAgg+ in Flower's simulation engine with real departments (DP-SGD, budgets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flwr.app import Context, Message
from flwr.clientapp.typing import ClientAppCallable
from flwr.common import Scalar
from flwr.serverapp import Grid, ServerApp

from coordinator.secagg import SecureSumResult, secure_sum
from coordinator.server_app import make_server_app
from department_nodes.client_app import make_client_app
from department_nodes.data_access import DepartmentDataAccess
from department_nodes.secagg import SecureSumRequest
from fedgov import protocol as p
from fedgov.engines.simulation import run_simulated_job, simulate
from fedgov.job import TrainJob
from fedgov.job_data import departments_for
from fedgov.run_record import RunRecord

pytestmark = pytest.mark.slow


def _job(tmp_path: Path, **overrides: object) -> TrainJob:
    settings: dict[str, object] = {
        "job_id": "secagg-e2e",
        "partition": "dirichlet",
        "num_departments": 3,
        "num_rounds": 2,
        "secure_aggregation": True,
        "run_dir": str(tmp_path / "run"),
        "state_dir": str(tmp_path / "state"),
        **overrides,
    }
    return TrainJob(**settings)  # type: ignore[arg-type]


def test_secure_training_completes_with_dp_and_reports_epsilon(tmp_path: Path) -> None:
    job = _job(tmp_path)

    record = run_simulated_job(job, num_cpus=2, ledger=None)

    assert [sorted(o["status"] for o in r["train"]) for r in record.rounds] == [
        [p.Outcome.TRAINED] * 3
    ] * 2
    assert all(r["aggregate_hash"] for r in record.rounds)
    assert all(o["update_hash"] == "" for r in record.rounds for o in r["train"])
    assert record.rounds[-1]["aggregated_evaluate"]["eval-accuracy"] > 0.5
    for department in record.departments:
        assert department.rounds_trained == 2
        assert 0 < department.epsilon_job <= job.epsilon + 1e-6  # type: ignore[operator]
        assert department.epsilon_total >= department.epsilon_job
    secure = record.extra["secure_aggregation"]
    assert secure["reconstruction_threshold"] == 2
    assert secure["halted_rounds"] == []
    assert Path(str(record.checkpoint)).exists()


def _crash_department_0_in_round_1(
    msg: Message, context: Context, call_next: ClientAppCallable
) -> Message:
    configs = msg.content.config_records.get("secaggplus_configs")
    stage = configs.get("stage") if configs is not None else None
    if (
        context.node_config.get("partition-id") == 0
        and msg.metadata.group_id == "1"
        and stage == "collect_masked_vectors"
    ):
        raise RuntimeError("department 0 went away after sharing its keys")
    return call_next(msg, context)


def test_training_survives_a_department_lost_after_sharing_keys(tmp_path: Path) -> None:
    job = _job(tmp_path, job_id="secagg-dropout")

    # The product's apps, with a fault injected inside the department's mods.
    records: list[RunRecord] = []
    server_app = make_server_app(
        job=job, engine="simulation", on_record=records.append, ledger=None
    )
    client_app = make_client_app(job=job, mods=[_crash_department_0_in_round_1])
    simulate(server_app, client_app, num_supernodes=3, num_cpus=2)
    (record,) = records

    first, second = record.rounds
    lost = departments_for(job)[0]
    assert sorted((o["department"], o["status"]) for o in first["train"]) == sorted(
        [(lost, p.Outcome.FAILED)]
        + [(d, p.Outcome.TRAINED) for d in departments_for(job)[1:]]
    )
    assert first["aggregate_hash"]
    assert sorted(o["status"] for o in second["train"]) == [p.Outcome.TRAINED] * 3
    # The lost department never trained in round 1, so it was charged once.
    summary = {d.department: d for d in record.departments}
    assert summary[lost].rounds_trained == 1


def label_counts(request: SecureSumRequest, context: Context) -> np.ndarray:
    """A department's label histogram (no noise: the test checks exact sums)."""
    job = TrainJob(**request.query)  # type: ignore[arg-type]
    _, labels = DepartmentDataAccess(job, request.department).train_split()
    return np.bincount(labels, minlength=request.length).astype(np.float64)


def test_secure_sum_in_simulation(tmp_path: Path) -> None:
    job = _job(tmp_path, job_id="secagg-sum")
    query: dict[str, Scalar] = {
        "dataset": job.dataset,
        "partition": job.partition,
        "num_departments": job.num_departments,
        "seed": job.seed,
    }
    results: list[SecureSumResult] = []
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        results.append(
            secure_sum(
                grid,
                context,
                task="labels",
                length=2,
                bound=1e5,
                num_departments=3,
                query=query,
                timeout=300.0,
            )
        )

    client_app = make_client_app(job=job, secure_sum_providers={"labels": label_counts})
    simulate(server_app, client_app, num_supernodes=3, num_cpus=2)

    [result] = results
    exact = sum(
        np.bincount(DepartmentDataAccess(job, d).train_split()[1], minlength=2)
        for d in departments_for(job)
    )
    assert np.allclose(result.total, exact, atol=result.max_error)
    assert sorted(result.contributors) == sorted(departments_for(job))
