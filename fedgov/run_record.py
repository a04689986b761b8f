"""The run folder and the run record: what a job did, as every party reads it.

The coordinator writes ``run_record.json`` (and the final model) into the
job's run folder; engines, commands and the auditor read it back. The record
holds plain JSON values only, so a reader needs nothing of the coordinator's.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from fedgov.errors import FedgovError
from fedgov.job import TrainJob

__all__ = [
    "PROGRESS_FILE",
    "QUERY_RESULT_FILE",
    "RUN_RECORD_FILE",
    "DepartmentSummary",
    "RunRecord",
    "RunRecordError",
    "read_run_record",
    "run_dir_of",
    "run_record_json",
]

RUN_RECORD_FILE: Final = "run_record.json"
QUERY_RESULT_FILE: Final = "query_result.json"
"""What a query run writes into its run folder instead of a run record."""
PROGRESS_FILE: Final = "progress.json"
"""The rounds so far (``{"job-id": ..., "rounds": [...]}``), rewritten after
every round while a training job runs, before its run record exists."""


class RunRecordError(FedgovError):
    """A run record file is missing, unreadable or not a run record."""


@dataclass(frozen=True)
class DepartmentSummary:
    """A department's part in the job, as the coordinator saw it."""

    department: str
    rounds_trained: int
    rounds_refused: int
    rounds_rejected: int
    num_examples: int
    epsilon_job: float
    epsilon_total: float
    epsilon_limit: float
    final_accuracy: float | None
    final_auc: float | None
    final_f1: float | None = None
    final_rmse: float | None = None
    final_mae: float | None = None
    refused: str = ""
    """The reason of the department's last refusal in the job, if any."""


@dataclass(frozen=True)
class RunRecord:
    """The whole job: configuration, per-round metrics, per-department outcome.

    ``dataset`` names the declaration the coordinator held: ``name``,
    ``digest`` (what every department checked its own copy against) and
    ``task`` (binary, multiclass, regression: which metrics the rounds hold).
    """

    job: dict[str, Any]
    engine: str
    started_at: float
    finished_at: float
    rounds: list[dict[str, Any]]
    departments: list[DepartmentSummary]
    checkpoint: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, str] = field(default_factory=dict)


def run_dir_of(job: TrainJob) -> Path:
    """The job's run folder as an absolute path (``runs/<job_id>`` by default)."""
    return Path(job.run_dir or Path("runs") / job.job_id).resolve()


def read_run_record(path: Path) -> RunRecord:
    """A :class:`RunRecord` back from the ``run_record.json`` a coordinator wrote."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return RunRecord(
            job=data["job"],
            dataset=dict(data.get("dataset") or {}),
            engine=data["engine"],
            started_at=float(data["started_at"]),
            finished_at=float(data["finished_at"]),
            rounds=list(data["rounds"]),
            departments=[DepartmentSummary(**d) for d in data["departments"]],
            checkpoint=data.get("checkpoint"),
            extra=dict(data.get("extra") or {}),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunRecordError(f"cannot read the run record {path}: {exc}") from exc


def run_record_json(
    source: RunRecord | Mapping[str, Any] | str | Path,
) -> dict[str, Any]:
    """A run record as plain JSON values (from the object, its JSON or its file)."""
    if isinstance(source, str | Path):
        try:
            loaded = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise RunRecordError(f"cannot read {source}: {e}") from e
        if not isinstance(loaded, dict):
            raise RunRecordError(f"{source} holds no JSON object")
        return loaded
    if isinstance(source, Mapping):
        return dict(source)
    return dataclasses.asdict(source)
