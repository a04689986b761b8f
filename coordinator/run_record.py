"""The run record: what a job did, written as JSON next to its checkpoint."""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from coordinator.guard import RoundReport

__all__ = [
    "DepartmentSummary",
    "RunRecord",
    "round_to_json",
    "summarize_departments",
    "write_json_atomic",
]


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


@dataclass(frozen=True)
class RunRecord:
    """The whole job: configuration, per-round metrics, per-department outcome."""

    job: dict[str, Any]
    engine: str
    started_at: float
    finished_at: float
    rounds: list[dict[str, Any]]
    departments: list[DepartmentSummary]
    checkpoint: str | None
    extra: dict[str, Any] = field(default_factory=dict)


def summarize_departments(reports: list[RoundReport]) -> list[DepartmentSummary]:
    """Fold the round reports into one line per department."""
    names = sorted({o.department for r in reports for o in r.train + r.evaluate})
    out = []
    for name in names:
        train = [o for r in reports for o in r.train if o.department == name]
        evals = [o for r in reports for o in r.evaluate if o.department == name]
        with_eps = [o for o in train if "epsilon-total" in o.metrics]
        last = with_eps[-1].metrics if with_eps else {}
        trained = [o for o in train if o.status == "trained"]
        final_eval = evals[-1].metrics if evals else {}
        out.append(
            DepartmentSummary(
                department=name,
                rounds_trained=len(trained),
                rounds_refused=sum(o.status == "refused" for o in train),
                rounds_rejected=sum(o.status == "rejected" for o in train),
                num_examples=int(trained[-1].metrics.get("num-examples", 0))
                if trained
                else 0,
                epsilon_job=float(trained[-1].metrics.get("epsilon-job", 0.0))
                if trained
                else 0.0,
                epsilon_total=float(last.get("epsilon-total", 0.0)),
                epsilon_limit=float(last.get("epsilon-limit", 0.0)),
                final_accuracy=final_eval.get("eval-accuracy"),
                final_auc=final_eval.get("eval-auc"),
            )
        )
    return out


def _clean(value: Any) -> Any:
    # JSON has no NaN; an undefined metric is written as null.
    if is_dataclass(value) and not isinstance(value, type):
        return _clean(asdict(value))
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write ``payload`` as JSON so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(_clean(payload), handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def round_to_json(report: RoundReport) -> dict[str, Any]:
    """One round as plain JSON values."""
    return asdict(report)
