"""Experiments: Hydra entry points, baselines, the in-process engine and the report.

Public names are imported on first use (:mod:`fedgov._lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedgov._lazy import lazy_exports

if TYPE_CHECKING:
    from experiments.baselines import (
        BaselineResult,
        centralized_baseline,
        local_only_baseline,
    )
    from experiments.config import build_job, register_schemas
    from experiments.inprocess import (
        InProcessEngine,
        InProcessError,
        RoundTraffic,
        WireGrid,
    )
    from experiments.report import PROFILES, ReportError, SweepCall, build_report
    from experiments.results import (
        ResultFormatError,
        RunResult,
        TidyTables,
        load_results,
        read_result,
        result_path,
        tidy_tables,
        write_result,
    )
    from experiments.sweep import SweepConf, run_id_for, run_point

__all__ = [
    "PROFILES",
    "BaselineResult",
    "InProcessEngine",
    "InProcessError",
    "ReportError",
    "ResultFormatError",
    "RoundTraffic",
    "RunResult",
    "SweepCall",
    "SweepConf",
    "TidyTables",
    "WireGrid",
    "build_job",
    "build_report",
    "centralized_baseline",
    "load_results",
    "local_only_baseline",
    "read_result",
    "register_schemas",
    "result_path",
    "run_id_for",
    "run_point",
    "tidy_tables",
    "write_result",
]

_EXPORTS: dict[str, str] = {
    "PROFILES": "experiments.report",
    "BaselineResult": "experiments.baselines",
    "InProcessEngine": "experiments.inprocess",
    "InProcessError": "experiments.inprocess",
    "ReportError": "experiments.report",
    "ResultFormatError": "experiments.results",
    "RoundTraffic": "experiments.inprocess",
    "RunResult": "experiments.results",
    "SweepCall": "experiments.report",
    "SweepConf": "experiments.sweep",
    "TidyTables": "experiments.results",
    "WireGrid": "experiments.inprocess",
    "build_job": "experiments.config",
    "build_report": "experiments.report",
    "centralized_baseline": "experiments.baselines",
    "load_results": "experiments.results",
    "local_only_baseline": "experiments.baselines",
    "read_result": "experiments.results",
    "register_schemas": "experiments.config",
    "result_path": "experiments.results",
    "run_id_for": "experiments.sweep",
    "run_point": "experiments.sweep",
    "tidy_tables": "experiments.results",
    "write_result": "experiments.results",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
