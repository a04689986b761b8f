"""Report points on disk, and the tidy tables built from them.

One point is one gzipped JSON file, ``<output>/runs/<run_id>.json.gz``: the
configuration (the job's flat run_config), what was measured around the run
(CPU and wall seconds) and, for a federated point, the product's own
:class:`~coordinator.summary.RunRecord` unchanged. Every number of the
report is derived from these files by :func:`tidy_tables`, so a figure can be
traced back to the run records it came from by ``run_id``.

Tables (pandas, written as CSV):

* ``runs``: one row per point: configuration and task, final metrics
  (``pooled_*``: on the union of the departments' held-out records;
  ``test_*``: Adult's official test split; ``department_auc``: each
  department's held-out AUC, averaged weighted by its records), cost. Every
  metric is a column for every task, ``NaN`` where it does not apply:
  accuracy, AUC and macro F1 for classification, RMSE and MAE (in the
  target's unit) for regression, the loss for both;
* ``rounds``: one row per federated point, round and scope, the scope being
  ``overall`` (federated and central evaluation, time, bytes) or a
  department (its held-out evaluation, its training, epsilon spent);
* ``departments``: one row per point and department, the final model's
  quality on that department's held-out split (federated points: the last
  round's evaluation; local-only baselines: the department's own model).
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fedgov import protocol as p
from fedgov.data import get_dataset, list_datasets
from fedgov.errors import FedgovError
from fedgov.files import write_atomic

__all__ = [
    "RESULT_FORMAT",
    "ResultFormatError",
    "RunResult",
    "TidyTables",
    "load_results",
    "read_result",
    "result_path",
    "tidy_tables",
    "write_result",
]

RESULT_FORMAT = "fedgov-report-point/1"

# Run-config keys copied into every table row, with their column names.
_CONFIG_COLUMNS = {
    "dataset": "dataset",
    "partition": "partition",
    "num-departments": "num_departments",
    "dirichlet-alpha": "dirichlet_alpha",
    "strategy": "strategy",
    "secure-aggregation": "secure_aggregation",
    "model": "model",
    "hidden": "hidden",
    "batch-size": "batch_size",
    "learning-rate": "learning_rate",
    "max-grad-norm": "max_grad_norm",
    "local-epochs": "local_epochs",
    "num-rounds": "num_rounds",
    "delta": "delta",
    "seed": "seed",
    "personalise": "personalise",
    "personalise-share": "personalise_share",
    "personalise-epochs": "personalise_epochs",
    "personalise-learning-rate": "personalise_learning_rate",
    "server-learning-rate": "server_learning_rate",
}


class ResultFormatError(FedgovError):
    """A result file is not a report point this code can read."""

    def __init__(self, path: Path, rule: str) -> None:
        self.path = path
        self.rule = rule
        super().__init__(f"{path}: {rule}")


@dataclass(frozen=True)
class RunResult:
    """One report point as stored: see the module docstring."""

    format: str
    run_id: str
    sweep: str
    kind: str
    engine: str
    job: dict[str, Any]
    cpu_seconds: float
    wall_seconds: float
    final: dict[str, Any]
    record: dict[str, Any] | None
    # The Hydra overrides that selected the point, for running it again.
    overrides: list[str] = field(default_factory=list)


def result_path(output: Path, run_id: str) -> Path:
    return output / "runs" / f"{run_id}.json.gz"


def _clean(value: Any) -> Any:
    # JSON has no NaN; an undefined metric is stored as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_result(path: Path, result: RunResult) -> None:
    """Write ``result`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(_clean(asdict(result)), sort_keys=True, separators=(",", ":"))
    write_atomic(path, gzip.compress(payload.encode("utf-8"), mtime=0))


def read_result(path: Path) -> RunResult:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultFormatError(path, f"not a gzipped JSON file ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != RESULT_FORMAT:
        raise ResultFormatError(path, f"format must be {RESULT_FORMAT!r}")
    try:
        return RunResult(**data)
    except TypeError as exc:
        raise ResultFormatError(path, f"fields do not match RunResult ({exc})") from exc


def load_results(output: Path) -> list[RunResult]:
    """Every point under ``output/runs``, in file-name order."""
    return [read_result(p) for p in sorted((output / "runs").glob("*.json.gz"))]


def _nan(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _task(result: RunResult) -> str | None:
    """The point's task: as its run record names it, else a built-in dataset's."""
    named = ((result.record or {}).get("dataset") or {}).get("task")
    if named:
        return str(named)
    dataset = str(result.job.get("dataset", ""))
    if dataset in list_datasets():
        return str(get_dataset(dataset).task_kind)
    return None


def _config_row(result: RunResult) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": result.run_id,
        "kind": result.kind,
        "engine": result.engine,
        "sweep": result.sweep,
    }
    row.update({column: result.job.get(key) for key, column in _CONFIG_COLUMNS.items()})
    row["task"] = _task(result)
    epsilon = float(result.job["epsilon"])
    # epsilon 0 in a run_config is the non-private job.
    row["private"] = epsilon > 0
    row["epsilon"] = epsilon if epsilon > 0 else math.inf
    return row


def _metrics(prefix: str, evaluation: Mapping[str, Any] | None) -> dict[str, float]:
    evaluation = evaluation or {}
    return {
        f"{prefix}_accuracy": _nan(evaluation.get("accuracy")),
        f"{prefix}_auc": _nan(evaluation.get("auc")),
        f"{prefix}_loss": _nan(evaluation.get("loss")),
        f"{prefix}_f1": _nan(evaluation.get("macro_f1")),
        f"{prefix}_rmse": _nan(evaluation.get("rmse")),
        f"{prefix}_mae": _nan(evaluation.get("mae")),
    }


# A department's evaluate reply, by the tables' metric names.
_REPLY_METRICS = {
    "accuracy": p.Metric.EVAL_ACCURACY,
    "auc": p.Metric.EVAL_AUC,
    "loss": p.Metric.EVAL_LOSS,
    "f1": p.Metric.EVAL_F1,
    "rmse": p.Metric.EVAL_RMSE,
    "mae": p.Metric.EVAL_MAE,
}
_TEST_METRICS = {
    "accuracy": p.Metric.TEST_ACCURACY,
    "auc": p.Metric.TEST_AUC,
    "loss": p.Metric.TEST_LOSS,
    "f1": p.Metric.TEST_F1,
    "rmse": p.Metric.TEST_RMSE,
    "mae": p.Metric.TEST_MAE,
}


def _reply_metrics(prefix: str, metrics: Mapping[str, Any]) -> dict[str, float]:
    joined = f"{prefix}_" if prefix else ""
    return {
        f"{joined}{name}": _nan(metrics.get(key))
        for name, key in _REPLY_METRICS.items()
    }


def _department_rows(result: RunResult) -> list[dict[str, Any]]:
    base = _config_row(result)
    rows = []
    if result.kind == "local":
        for department, outcome in sorted(result.final["local"].items()):
            held = outcome["held_out"]
            rows.append(
                {
                    **base,
                    "department": department,
                    "num_held_out": held["num_examples"],
                    **_metrics("held_out", held),
                }
            )
        return rows
    if result.record is None:
        return rows
    summaries = {d["department"]: d for d in result.record["departments"]}
    last = result.record["rounds"][-1]["evaluate"] if result.record["rounds"] else []
    personalised = _personalised(result)
    for outcome in sorted(last, key=lambda o: o["department"]):
        metrics = outcome["metrics"]
        summary = summaries.get(outcome["department"], {})
        row = {
            **base,
            "department": outcome["department"],
            "num_train": summary.get("num_examples"),
            "num_held_out": metrics.get(p.Metric.NUM_EXAMPLES),
            **_reply_metrics("held_out", metrics),
            "epsilon_spent": _nan(summary.get("epsilon_job")),
            "rounds_trained": summary.get("rounds_trained"),
        }
        if personalised is not None:
            own = personalised.get(outcome["department"], {})
            row.update(_reply_metrics("personalised", own))
            row["personalised_epsilon_spent"] = _nan(own.get(p.Metric.EPSILON_JOB))
        rows.append(row)
    return rows


def _personalised(result: RunResult) -> dict[str, dict[str, Any]] | None:
    """Each department's personalised model's reply metrics (``None``: a job
    without personalisation; a department that did not personalise: absent)."""
    extra = (result.record or {}).get("extra") or {}
    if "personalisation" not in extra:
        return None
    return {
        o["department"]: o["metrics"]
        for o in extra["personalisation"]
        if o["status"] == p.Status.OK
    }


def _weighted(rows: list[dict[str, Any]], column: str) -> float:
    pairs = [
        (r[column], r["num_held_out"])
        for r in rows
        if r["num_held_out"] and math.isfinite(r[column])
    ]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else float("nan")


def _run_row(result: RunResult, departments: list[dict[str, Any]]) -> dict[str, Any]:
    row = _config_row(result)
    row["cpu_seconds"] = result.cpu_seconds
    row["wall_seconds"] = result.wall_seconds
    row["num_departments_actual"] = len(departments) or None
    if result.kind == "centralized":
        outcome = result.final["centralized"]
        row.update(_metrics("pooled", outcome["held_out"]))
        row.update(_metrics("test", outcome["test"]))
        return row
    if result.kind == "local":
        # "Every department alone": the departments' own models, each on its
        # own held-out records. Accuracy and loss add up over records, so their
        # weighted means are the pooled values; an AUC does not (it ranks across
        # departments), so only its mean over departments is defined.
        row["pooled_accuracy"] = _weighted(departments, "held_out_accuracy")
        row["pooled_auc"] = math.nan
        row["pooled_loss"] = _weighted(departments, "held_out_loss")
        # F1 ranks no records but is not additive either; MAE is, RMSE's square is.
        row["pooled_f1"] = math.nan
        row["pooled_mae"] = _weighted(departments, "held_out_mae")
        mse = _weighted(
            [{**d, "held_out_mse": d["held_out_rmse"] ** 2} for d in departments],
            "held_out_mse",
        )
        row["pooled_rmse"] = math.sqrt(mse) if math.isfinite(mse) else math.nan
        row["department_auc"] = _weighted(departments, "held_out_auc")
        return row
    row.update(_metrics("pooled", result.final.get("pooled_held_out")))
    row.update(_metrics("test", result.final.get("test")))
    assert result.record is not None
    rounds = result.record["rounds"]
    last = rounds[-1] if rounds else {}
    # Flower's federated evaluation: each department's held-out metric,
    # averaged weighted by its held-out records.
    federated = last.get("aggregated_evaluate", {})
    row["department_auc"] = _nan(federated.get(p.Metric.EVAL_AUC))
    spent = [d["epsilon_job"] for d in result.record["departments"]]
    row["epsilon_spent_max"] = max(spent) if spent else float("nan")
    if departments and "personalised_accuracy" in departments[0]:
        # Each department's own model on its own held-out records, pooled
        # as the local-only baseline's are.
        row["personalised_accuracy"] = _weighted(departments, "personalised_accuracy")
        row["personalised_department_auc"] = _weighted(departments, "personalised_auc")
        row["personalised_epsilon_spent_max"] = max(
            d["personalised_epsilon_spent"] for d in departments
        )
    traffic = result.record.get("extra", {}).get("traffic", [])
    row["bytes_down"] = sum(t["bytes_down"] for t in traffic) if traffic else None
    row["bytes_up"] = sum(t["bytes_up"] for t in traffic) if traffic else None
    row["messages"] = sum(t["messages"] for t in traffic) if traffic else None
    row["round_seconds_mean"] = (
        sum(r["round_seconds"] for r in rounds) / len(rounds) if rounds else math.nan
    )
    return row


# rounds.csv.gz repeats these per row; the rest of a point's configuration is
# one join away, in runs.csv (by run_id).
_ROUND_CONFIG = (
    "run_id",
    "kind",
    "sweep",
    "dataset",
    "task",
    "partition",
    "num_departments",
    "dirichlet_alpha",
    "strategy",
    "secure_aggregation",
    "epsilon",
    "seed",
)


def _round_rows(result: RunResult) -> list[dict[str, Any]]:
    if result.record is None:
        return []
    config = _config_row(result)
    base = {key: config[key] for key in _ROUND_CONFIG}
    traffic = {
        int(t["server_round"]): t
        for t in result.record.get("extra", {}).get("traffic", [])
    }
    rows = []
    for entry in result.record["rounds"]:
        server_round = int(entry["server_round"])
        federated = entry.get("aggregated_evaluate") or {}
        central = entry.get("central_evaluate") or {}
        moved = traffic.get(server_round, {})
        rows.append(
            {
                **base,
                "round": server_round,
                "scope": "overall",
                **_reply_metrics("", federated),
                **{
                    f"test_{name}": _nan(central.get(key))
                    for name, key in _TEST_METRICS.items()
                },
                "round_seconds": _nan(entry.get("round_seconds")),
                "train_seconds": _nan(entry.get("train_seconds")),
                "messages": moved.get("messages"),
                "bytes_down": moved.get("bytes_down"),
                "bytes_up": moved.get("bytes_up"),
                "elapsed_seconds": moved.get("elapsed_seconds"),
            }
        )
        trained = {o["department"]: o for o in entry.get("train", [])}
        for outcome in entry.get("evaluate", []):
            metrics = outcome["metrics"]
            train = trained.get(outcome["department"], {})
            train_metrics = train.get("metrics", {})
            rows.append(
                {
                    **base,
                    "round": server_round,
                    "scope": outcome["department"],
                    **_reply_metrics("", metrics),
                    "train_status": train.get("status"),
                    "train_loss": _nan(train_metrics.get(p.Metric.TRAIN_LOSS)),
                    "epsilon_spent": _nan(train_metrics.get(p.Metric.EPSILON_JOB)),
                }
            )
    return rows


@dataclass(frozen=True)
class TidyTables:
    runs: pd.DataFrame
    rounds: pd.DataFrame
    departments: pd.DataFrame


def tidy_tables(results: Iterable[RunResult]) -> TidyTables:
    """The three tables of the module docstring."""
    runs, rounds, departments = [], [], []
    for result in results:
        rows = _department_rows(result)
        departments.extend(rows)
        runs.append(_run_row(result, rows))
        rounds.extend(_round_rows(result))
    return TidyTables(
        runs=pd.DataFrame(runs),
        rounds=pd.DataFrame(rounds),
        departments=pd.DataFrame(departments),
    )
