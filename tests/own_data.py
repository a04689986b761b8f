"""The worked example of docs/datasets.md as test fixtures: four regional
offices' CSV files of the NMES 1988 survey, and its declarations."""

from __future__ import annotations

import runpy
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fedgov.job import TrainJob

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "nmes1988"
DECLARATIONS = {
    "binary": EXAMPLE / "nmes1988.yaml",
    "regression": EXAMPLE / "nmes1988-visits.yaml",
    "multiclass": EXAMPLE / "nmes1988-health.yaml",
}
OFFICES = ("office-midwest", "office-northeast", "office-other", "office-west")


def write_departments(folder: Path) -> Path:
    """The example's ``make_departments.py``, as shipped, writing into ``folder``."""
    runpy.run_path(str(EXAMPLE / "make_departments.py"))["main"](str(folder))
    return folder


def break_one_office(source: Path, target: Path, office: str) -> Path:
    """A copy of the offices' files in which ``office`` holds an age outside
    the declared bounds [6.5, 11.0]."""
    shutil.copytree(source, target)
    frame = pd.read_csv(target / f"{office}.csv")
    frame.loc[3, "age"] = 12.5
    frame.to_csv(target / f"{office}.csv", index=False)
    return target


@pytest.fixture(scope="session")
def nmes_departments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CSV file per regional office (written once per session; read-only)."""
    return write_departments(tmp_path_factory.mktemp("nmes1988") / "departments")


def nmes_job(tmp_path: Path, task: str = "binary", **overrides: object) -> TrainJob:
    """A short job on the example's dataset, declared for ``task``."""
    settings: dict[str, object] = {
        "job_id": f"nmes-{task}",
        "dataset": "nmes1988",
        "declaration": str(DECLARATIONS[task]),
        "model": "logreg",
        "hidden": "",
        "num_rounds": 1,
        "batch_size": 256,
        "learning_rate": 1.0,
        "secure_rng": True,
        "run_dir": str(tmp_path / "run"),
        "state_dir": str(tmp_path / "state"),
    }
    settings.update(overrides)
    return TrainJob(**settings)  # type: ignore[arg-type]
