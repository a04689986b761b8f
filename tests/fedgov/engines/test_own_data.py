"""A county's own dataset through the in-process engine: every task kind, a
department whose records break the declaration, and too few departments."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest

from coordinator.summary import round_from_json
from fedgov import protocol as p
from fedgov.commands.train import round_line
from fedgov.data import DepartmentSources, TaskKind, get_dataset
from fedgov.engines.inprocess import InProcessEngine
from fedgov.errors import ConfigurationError
from fedgov.metrics import pooled_rmse
from privacy.budget import open_budget_book
from tests.own_data import (
    DECLARATIONS,
    OFFICES,
    break_one_office,
    nmes_departments,
    nmes_job,
)

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["nmes_departments"]

TASK_METRICS = {
    "binary": {p.Metric.EVAL_ACCURACY, p.Metric.EVAL_AUC, p.Metric.EVAL_F1},
    "multiclass": {p.Metric.EVAL_ACCURACY, p.Metric.EVAL_AUC, p.Metric.EVAL_F1},
    "regression": {p.Metric.EVAL_RMSE, p.Metric.EVAL_MAE},
}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_task_trains_and_reports_its_own_metrics(
    tmp_path: Path, nmes_departments: Path, task: str
) -> None:
    # Prepare
    job = nmes_job(tmp_path, task)
    sources = DepartmentSources.from_folder(nmes_departments)

    # Execute
    record = InProcessEngine().run(job, sources=sources)

    # Assert: the departments are the files, the record names the declaration
    spec = get_dataset(str(DECLARATIONS[task]))
    assert record.dataset == {"name": "nmes1988", "digest": spec.digest, "task": task}
    assert [d.department for d in record.departments] == list(OFFICES)
    assert all(d.rounds_trained == 1 for d in record.departments)
    last = record.rounds[-1]
    other = TASK_METRICS["binary" if task == "regression" else "regression"]
    for outcome in last["evaluate"]:
        assert TASK_METRICS[task] <= set(outcome["metrics"])
        assert not other & set(outcome["metrics"])
    assert TASK_METRICS[task] <= set(last["aggregated_evaluate"])
    if task == "regression":
        # In the target's unit (visits a year); the federated RMSE is the RMSE
        # of the union of the held-out records, not a mean of roots.
        rmses = [o["metrics"][p.Metric.EVAL_RMSE] for o in last["evaluate"]]
        sizes = [o["metrics"][p.Metric.NUM_EXAMPLES] for o in last["evaluate"]]
        overall = last["aggregated_evaluate"]
        assert 1.0 < overall[p.Metric.EVAL_RMSE] < 120.0
        assert overall[p.Metric.EVAL_MAE] <= overall[p.Metric.EVAL_RMSE]
        assert overall[p.Metric.EVAL_RMSE] == pytest.approx(pooled_rmse(rmses, sizes))
        assert all(d.final_rmse is not None for d in record.departments)
    else:
        assert 0.0 <= last["aggregated_evaluate"][p.Metric.EVAL_ACCURACY] <= 1.0
        assert all(d.final_f1 is not None for d in record.departments)
    line = round_line(round_from_json(last), TaskKind(task))
    assert ("RMSE" in line) == (task == "regression")


def test_a_department_whose_records_break_the_declaration_refuses_and_spends_nothing(
    tmp_path: Path, nmes_departments: Path
) -> None:
    # Prepare: one office's table holds an age outside the declared bounds
    folder = break_one_office(nmes_departments, tmp_path / "departments", "office-west")
    job = nmes_job(tmp_path, num_rounds=2)

    # Execute
    record = InProcessEngine().run(job, sources=DepartmentSources.from_folder(folder))

    # Assert: refused every round with the reason's class (never the value),
    # the others trained and were aggregated, the refusal is reported
    for data in record.rounds:
        report = round_from_json(data)
        outcomes = {o.department: o for o in report.train + report.evaluate}
        west = outcomes["office-west"]
        assert (west.status, west.reason) == (
            p.Outcome.REFUSED,
            "data invalid: out-of-range",
        )
        assert sum(o.status == p.Outcome.TRAINED for o in report.train) == 3
        assert report.aggregate_hash
        assert not report.skipped
        assert "office-west refused: data invalid: out-of-range" in round_line(
            report, TaskKind.BINARY
        )
        assert "12.5" not in west.reason
    summary = {d.department: d for d in record.departments}
    assert summary["office-west"].refused == "data invalid: out-of-range"
    assert summary["office-west"].rounds_refused == 2
    # Nothing charged for rounds it could not read; the others paid for theirs.
    state = tmp_path / "state"
    assert "nmes1988" not in open_budget_book(state, "office-west").datasets()
    other = open_budget_book(state, "office-other").status("nmes1988")
    assert len(other.history) == 2


def test_a_round_with_fewer_departments_than_the_minimum_changes_nothing(
    tmp_path: Path, nmes_departments: Path
) -> None:
    folder = break_one_office(nmes_departments, tmp_path / "departments", "office-west")
    job = nmes_job(tmp_path, min_departments=4)

    record = InProcessEngine().run(job, sources=DepartmentSources.from_folder(folder))

    report = round_from_json(record.rounds[0])
    assert report.skipped.startswith(
        "3 department(s) trained, fewer than min_departments 4"
    )
    assert not report.aggregate_hash


def test_a_department_named_after_a_sensitive_column_is_refused_before_anything_runs(
    tmp_path: Path, nmes_departments: Path
) -> None:
    folder = tmp_path / "departments"
    shutil.copytree(nmes_departments, folder)
    (folder / "office-west.csv").rename(folder / "health-west.csv")

    with pytest.raises(
        ConfigurationError, match="'health-west' names the column 'health'"
    ):
        InProcessEngine().run(
            nmes_job(tmp_path), sources=DepartmentSources.from_folder(folder)
        )


def test_the_unit_of_privacy_and_split_follow_the_declaration(
    nmes_departments: Path,
) -> None:
    spec = get_dataset(str(DECLARATIONS["binary"]))
    assert (spec.unit.column, spec.unit.max_records_per_unit, spec.split_key) == (
        "person",
        1,
        "person",
    )
    assert len(spec.schema.feature_names) == 21
