"""The in-process engine: the product's apps over a protobuf wire, no Ray.

The fast tests run one short DP job over three Dirichlet departments of
RandHIE; the comparison with Flower's own simulation engine (Ray) is slow.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.common.serde import message_to_proto
from flwr.supercore.task_identity import TaskIdentity

from fedgov.engines.inprocess import InProcessEngine, _through_the_wire
from fedgov.engines.simulation import SimulationEngine
from fedgov.job import TrainJob
from fedgov.run_record import RunRecord


def _job(tmp_path: Path, **changes: object) -> TrainJob:
    settings: dict[str, object] = {
        "job_id": "inprocess-test",
        "dataset": "randhie",
        "partition": "dirichlet",
        "num_departments": 3,
        "dirichlet_alpha": 10.0,
        "model": "logreg",
        "hidden": "",
        "num_rounds": 2,
        "batch_size": 4096,
        "learning_rate": 2.0,
        "epsilon": 1.0,
        "budget_epsilon": 100.0,
        "secure_rng": False,
        "audit": False,
        "seed": 3,
        "run_dir": str(tmp_path / "run"),
        "state_dir": str(tmp_path / "state"),
    }
    settings.update(changes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return TrainJob(**settings)  # type: ignore[arg-type]


def _losses(record: RunRecord) -> dict[tuple[int, str], float]:
    """Every department's held-out loss, every round."""
    return {
        (r["server_round"], o["department"]): o["metrics"]["eval-loss"]
        for r in record.rounds
        for o in r["evaluate"]
    }


def _assert_same_losses(a: RunRecord, b: RunRecord, *, tolerance: float) -> None:
    # Flower samples departments in random order, so FedAvg sums the same
    # updates in another order: equal up to float rounding, not bit for bit.
    ours, theirs = _losses(a), _losses(b)
    assert ours.keys() == theirs.keys()
    for key, value in ours.items():
        assert value == pytest.approx(theirs[key], abs=tolerance), key


def test_a_message_survives_the_wire_and_is_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Prepare: Flower stamps new messages with the running task's identity
    for name in ("_run_id", "_node_id", "_task_id"):
        monkeypatch.setattr(TaskIdentity, name, 1)
    content = RecordDict(
        {
            "arrays": ArrayRecord({"w": Array(np.arange(6, dtype=np.float32))}),
            "config": ConfigRecord({"server-round": 3}),
        }
    )
    reply = Message(content, reply_to=Message(RecordDict(), 7, "train"))

    # Execute
    received, size = _through_the_wire(reply)

    # Assert
    assert size == len(message_to_proto(reply).SerializeToString())
    assert received is not reply
    assert received.content["config"]["server-round"] == 3
    np.testing.assert_array_equal(
        received.content.array_records["arrays"]["w"].numpy(), np.arange(6)
    )


def test_a_job_runs_reproducibly_with_its_traffic(tmp_path: Path) -> None:
    # Prepare
    engine = InProcessEngine()

    # Execute
    first = engine.run(_job(tmp_path / "a"))
    again = engine.run(_job(tmp_path / "b"))
    other_seed = engine.run(_job(tmp_path / "c", seed=4, num_rounds=1))

    # Assert: every department trained both rounds, under DP
    assert first.engine == "inprocess"
    assert [d.rounds_trained for d in first.departments] == [2, 2, 2]
    assert all(0 < d.epsilon_job <= 1.0 for d in first.departments)
    # same seed, seeded noise: the same models, round after round; not so
    # with another seed
    _assert_same_losses(first, again, tolerance=1e-6)
    ours, theirs = _losses(first), _losses(other_seed)
    assert max(abs(ours[k] - theirs[k]) for k in theirs) > 1e-3
    traffic = first.extra["traffic"]
    assert [t["server_round"] for t in traffic] == [1, 2]
    # 3 train + 3 evaluate messages each way per round
    assert all(t["messages"] == 12 for t in traffic)
    # a logreg on 24 features: 50 float32 parameters go down 6 times a round
    assert all(t["bytes_down"] > 6 * 50 * 4 for t in traffic)
    assert all(t["bytes_up"] > 3 * 50 * 4 for t in traffic)


def test_non_private_jobs_run_when_the_engine_allows_them(tmp_path: Path) -> None:
    # Prepare
    with pytest.warns(UserWarning, match="NON-PRIVATE"):
        engine = InProcessEngine(allow_non_private=True)

    # Execute
    record = engine.run(_job(tmp_path, epsilon=None, num_rounds=1))

    # Assert
    assert {d.rounds_trained for d in record.departments} == {1}
    assert {d.epsilon_job for d in record.departments} == {0.0}


@pytest.mark.slow
@pytest.mark.parametrize("secure", [False, True])
def test_the_same_job_gives_the_same_model_as_flowers_simulation(
    tmp_path: Path, secure: bool
) -> None:
    # Prepare
    job = _job(tmp_path / "a", secure_aggregation=secure)

    # Execute
    ours = InProcessEngine().run(job)
    flower = SimulationEngine(num_cpus=2).run(
        _job(tmp_path / "b", secure_aggregation=secure)
    )

    # Assert: the same department metrics every round. SecAgg+ rounds each
    # department's update, scaled by num_examples / 2**20, stochastically to
    # 4.8e-7 (unseeded): about 1e-4 on a RandHIE department's own update.
    _assert_same_losses(ours, flower, tolerance=5e-3 if secure else 1e-6)
