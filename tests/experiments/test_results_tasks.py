"""The tidy tables carry every task's metrics: a regression point."""

from __future__ import annotations

import math
from typing import Any

import pytest

from experiments.results import RESULT_FORMAT, RunResult, tidy_tables


def _outcome(department: str, rmse: float, n: int) -> dict[str, Any]:
    metrics = {
        "eval-rmse": rmse,
        "eval-mae": rmse / 2,
        "eval-loss": 0.01,
        "num-examples": n,
    }
    return {"department": department, "status": "trained", "metrics": metrics}


def _point(kind: str) -> RunResult:
    job = {"dataset": "nmes1988", "epsilon": 1.0, "seed": 0}
    if kind == "local":
        held = {"num_examples": 30, "loss": 0.01, "rmse": 6.0, "mae": 3.0}
        other = {"num_examples": 10, "loss": 0.01, "rmse": 2.0, "mae": 1.0}
        final = {
            "local": {
                "a": {"held_out": held, "test": None},
                "b": {"held_out": other, "test": None},
            }
        }
        return RunResult(
            RESULT_FORMAT, "loc", "s", "local", "", job, 1.0, 1.0, final, None
        )
    record = {
        "dataset": {"name": "nmes1988", "digest": "00", "task": "regression"},
        "rounds": [
            {
                "server_round": 1,
                "aggregated_evaluate": {"eval-rmse": 5.0, "eval-mae": 2.5},
                "central_evaluate": {},
                "round_seconds": 1.0,
                "train_seconds": 1.0,
                "train": [],
                "evaluate": [_outcome("a", 6.0, 30), _outcome("b", 2.0, 10)],
            }
        ],
        "departments": [
            {
                "department": d,
                "num_examples": 100,
                "epsilon_job": 1.0,
                "rounds_trained": 1,
            }
            for d in ("a", "b")
        ],
    }
    final = {"pooled_held_out": {"loss": 0.01, "rmse": 5.1, "mae": 2.4}, "test": None}
    return RunResult(
        RESULT_FORMAT,
        "fed",
        "s",
        "federated",
        "inprocess",
        job,
        1.0,
        1.0,
        final,
        record,
    )


def test_a_regression_points_rows_hold_rmse_and_mae() -> None:
    tables = tidy_tables([_point("federated"), _point("local")])

    runs = tables.runs.set_index("run_id")
    assert runs.loc["fed", "task"] == "regression"
    assert runs.loc["fed", "pooled_rmse"] == 5.1
    assert math.isnan(runs.loc["fed", "pooled_accuracy"])
    # Every department alone: MAE averages over records, RMSE through its square.
    assert runs.loc["loc", "pooled_mae"] == pytest.approx((3.0 * 30 + 1.0 * 10) / 40)
    assert runs.loc["loc", "pooled_rmse"] == pytest.approx(
        math.sqrt((36 * 30 + 4 * 10) / 40)
    )
    departments = tables.departments.set_index(["run_id", "department"])
    assert departments.loc[("fed", "a"), "held_out_rmse"] == 6.0
    overall = tables.rounds[tables.rounds.scope == "overall"].iloc[0]
    assert (overall["rmse"], overall["mae"]) == (5.0, 2.5)
