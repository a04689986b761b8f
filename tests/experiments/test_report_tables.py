"""Report points on disk, the tidy tables and the analysis, on hand-made points."""

from __future__ import annotations

import gzip
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from experiments._report_analysis import (
    department_table,
    engine_check,
    personalisation_table,
    spread,
    target_table,
)
from experiments.results import (
    RESULT_FORMAT,
    ResultFormatError,
    RunResult,
    load_results,
    read_result,
    result_path,
    tidy_tables,
    write_result,
)


def _job(**changes: Any) -> dict[str, Any]:
    job = {
        "dataset": "randhie",
        "partition": "natural",
        "num-departments": 6,
        "dirichlet-alpha": 1.0,
        "strategy": "fedavg",
        "secure-aggregation": False,
        "model": "logreg",
        "hidden": "",
        "batch-size": 256,
        "learning-rate": 2.0,
        "max-grad-norm": 1.0,
        "local-epochs": 1,
        "num-rounds": 2,
        "delta": 1e-5,
        "seed": 0,
        "epsilon": 1.0,
    }
    job.update(changes)
    return job


def _outcome(department: str, **metrics: float) -> dict[str, Any]:
    return {"department": department, "status": "trained", "metrics": metrics}


def _federated(
    run_id: str = "fed",
    *,
    sweep: str = "epsilon",
    engine: str = "inprocess",
    **job: Any,
) -> RunResult:
    rounds = []
    for server_round, accuracy in ((1, 0.6), (2, 0.7)):
        rounds.append(
            {
                "server_round": server_round,
                "aggregated_evaluate": {"eval-accuracy": accuracy, "eval-auc": 0.65},
                "central_evaluate": {},
                "round_seconds": 1.5,
                "train_seconds": 1.0,
                "train": [
                    _outcome(
                        "a", **{"epsilon-job": 0.5 * server_round, "train-loss": 0.6}
                    ),
                    _outcome(
                        "b", **{"epsilon-job": 0.5 * server_round, "train-loss": 0.5}
                    ),
                ],
                "evaluate": [
                    _outcome(
                        "a",
                        **{
                            "eval-accuracy": accuracy,
                            "eval-loss": 0.6,
                            "num-examples": 30,
                        },
                    ),
                    _outcome(
                        "b",
                        **{
                            "eval-accuracy": accuracy + 0.1,
                            "eval-auc": 0.7,
                            "eval-loss": 0.5,
                            "num-examples": 10,
                        },
                    ),
                ],
            }
        )
    departments = [
        {"department": d, "num_examples": n, "epsilon_job": 1.0, "rounds_trained": 2}
        for d, n in (("a", 120), ("b", 40))
    ]
    traffic = [
        {"server_round": r, "messages": 8, "bytes_down": 1000, "bytes_up": 600}
        for r in (1, 2)
    ]
    return RunResult(
        format=RESULT_FORMAT,
        run_id=run_id,
        sweep=sweep,
        kind="federated",
        engine=engine,
        job=_job(**job),
        cpu_seconds=3.0,
        wall_seconds=4.0,
        final={
            "pooled_held_out": {"accuracy": 0.71, "auc": 0.72, "loss": 0.55},
            "test": None,
        },
        record={
            "rounds": rounds,
            "departments": departments,
            "extra": {"traffic": traffic},
        },
    )


def _local(run_id: str = "local", **job: Any) -> RunResult:
    return RunResult(
        format=RESULT_FORMAT,
        run_id=run_id,
        sweep="baselines",
        kind="local",
        engine="",
        job=_job(**job),
        cpu_seconds=1.0,
        wall_seconds=1.0,
        final={
            "local": {
                "a": {
                    "held_out": {
                        "accuracy": 0.6,
                        "auc": 0.6,
                        "loss": 0.7,
                        "num_examples": 30,
                    }
                },
                "b": {
                    "held_out": {
                        "accuracy": 0.9,
                        "auc": 0.8,
                        "loss": 0.4,
                        "num_examples": 10,
                    }
                },
            }
        },
        record=None,
    )


def test_a_point_survives_disk(tmp_path: Path) -> None:
    # Prepare
    point = _federated()
    path = result_path(tmp_path, point.run_id)

    # Execute
    write_result(path, point)

    # Assert
    assert path == tmp_path / "runs" / "fed.json.gz"
    assert read_result(path) == point
    assert load_results(tmp_path) == [point]


def test_a_foreign_file_is_refused_with_its_path(tmp_path: Path) -> None:
    # Prepare
    wrong = tmp_path / "runs" / "x.json.gz"
    wrong.parent.mkdir()
    with gzip.open(wrong, "wt") as handle:
        handle.write('{"format": "something-else"}')
    broken = tmp_path / "runs" / "y.json.gz"
    broken.write_text("not gzip")

    # Execute / Assert
    with pytest.raises(ResultFormatError, match=r"x\.json\.gz"):
        read_result(wrong)
    with pytest.raises(ResultFormatError, match="not a gzipped JSON"):
        read_result(broken)


def test_tidy_tables_hold_one_row_per_point_round_and_scope() -> None:
    # Execute
    tables = tidy_tables([_federated(), _local()])

    # Assert: runs
    runs = tables.runs.set_index("run_id")
    assert runs.loc["fed", "pooled_auc"] == 0.72
    assert runs.loc["fed", "bytes_down"] == 2000
    assert runs.loc["fed", "messages"] == 16
    assert runs.loc["fed", "epsilon_spent_max"] == 1.0
    assert runs.loc["fed", "department_auc"] == 0.65
    # local-only: the departments' own models, pooled by held-out records; a
    # pooled AUC of several models is undefined, their weighted mean is not
    assert runs.loc[["local"], "pooled_auc"].isna().all()
    assert runs.loc["local", "department_auc"] == pytest.approx(
        (0.6 * 30 + 0.8 * 10) / 40
    )
    assert runs.loc["local", "pooled_accuracy"] == pytest.approx(
        (0.6 * 30 + 0.9 * 10) / 40
    )
    # rounds: overall plus two departments, two rounds
    rounds = tables.rounds
    assert len(rounds) == 6
    overall = rounds[rounds["scope"] == "overall"]
    assert list(overall["accuracy"]) == [0.6, 0.7]
    b = rounds[rounds["scope"] == "b"]
    assert list(b["epsilon_spent"]) == [0.5, 1.0]
    assert math.isnan(float(rounds[rounds["scope"] == "a"]["auc"].iloc[0]))
    # departments: the last round's evaluation, and the local models
    departments = tables.departments.set_index(["run_id", "department"])
    assert departments.loc[("fed", "b"), "held_out_accuracy"] == pytest.approx(0.8)
    assert departments.loc[("fed", "a"), "num_train"] == 120
    assert departments.loc[("local", "b"), "held_out_accuracy"] == 0.9


def test_no_dp_is_an_infinite_epsilon() -> None:
    # Execute
    tables = tidy_tables([_federated(epsilon=0.0)])

    # Assert
    assert tables.runs["private"].tolist() == [False]
    assert math.isinf(tables.runs["epsilon"].iloc[0])


def test_targets_are_judged_on_the_mean_of_seeds() -> None:
    # Prepare: RandHIE's target is AUC 0.73 at epsilon 1
    points = [_federated(f"s{seed}", seed=seed) for seed in range(3)]
    runs = tidy_tables(points).runs
    runs.loc[:, "pooled_auc"] = [0.74, 0.73, 0.75]

    # Execute
    table = target_table(runs).set_index("dataset")

    # Assert
    row = table.loc["randhie"]
    assert bool(row["met"])
    assert row["mean"] == pytest.approx(0.74)
    assert row["margin"] == pytest.approx(0.01)
    assert row["n"] == 3
    # no Adult points: reported, not met
    assert not table.loc["adult"]["met"].any()


def test_departments_gain_when_federated_beats_alone() -> None:
    # Prepare: federated AUC only for b (a's held-out has one class)
    tables = tidy_tables([_federated(), _local()])

    # Execute
    table = department_table(tables.departments).set_index("department")

    # Assert: b federated 0.7 against 0.8 alone
    assert table.loc["b", "gain"] == pytest.approx(-0.1)
    assert not table.loc["b", "better_off"]
    assert table.loc[["a"], "federated"].isna().all()


def test_engine_check_finds_no_difference_between_equal_runs() -> None:
    # Prepare
    points = [
        _federated("ours", sweep="engines", engine="inprocess"),
        _federated("flower", sweep="engines", engine="simulation"),
    ]
    tables = tidy_tables(points)

    # Execute
    check = engine_check(tables.runs, tables.rounds)

    # Assert
    assert len(check) == 1
    assert check["max_round_metric_difference"].iloc[0] == 0.0
    assert check["missing_rows"].iloc[0] == 0
    assert check["rounds_compared"].iloc[0] == 2


@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=8))
def test_spread_brackets_the_mean(values: list[float]) -> None:
    # Prepare
    frame = pd.DataFrame({"epsilon": [1.0] * len(values), "v": values})

    # Execute
    stats = spread(frame, ["epsilon"], "v").iloc[0]

    # Assert
    assert stats["min"] - 1e-12 <= stats["mean"] <= stats["max"] + 1e-12
    assert stats["n"] == len(values)


def _department_rows(
    sweep: str, kind: str, metric: str, values: dict[int, float]
) -> list[dict[str, Any]]:
    return [
        {
            "dataset": "randhie",
            "sweep": sweep,
            "kind": kind,
            "epsilon": 1.0,
            "seed": seed,
            "department": "a",
            "num_train": 100,
            metric: value,
            "held_out_auc": 0.7 if metric != "held_out_auc" else value,
        }
        for seed, value in values.items()
    ]


def test_personalisation_says_how_far_seed_noise_moves_the_difference() -> None:
    # Prepare: personalised minus local-only is -0.01, +0.02 and +0.02 by seed
    departments = pd.DataFrame(
        _department_rows(
            "personalise", "federated", "personalised_auc", {0: 0.70, 1: 0.72, 2: 0.74}
        )
        + _department_rows(
            "baselines", "local", "held_out_auc", {0: 0.71, 1: 0.70, 2: 0.72}
        )
    )

    # Execute
    row = personalisation_table(departments).iloc[0]

    # Assert: mean +0.01, sample sd sqrt(3e-4), standard error 0.01 over 3 seeds
    assert row["gain"] == pytest.approx(0.01)
    assert row["gain_min"] == pytest.approx(-0.01)
    assert row["gain_se"] == pytest.approx(0.01)
    assert row["seeds"] == 3
    assert row["at_least_local"]


def test_one_seed_has_no_standard_error() -> None:
    departments = pd.DataFrame(
        _department_rows("personalise", "federated", "personalised_auc", {0: 0.70})
        + _department_rows("baselines", "local", "held_out_auc", {0: 0.71})
    )

    row = personalisation_table(departments).iloc[0]

    assert math.isnan(row["gain_se"])
    assert not row["at_least_local"]
