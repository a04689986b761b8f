"""A long-lived department process keeps its records between jobs while its source
is unchanged, reads them again when the source changes, and keeps every round of
one job on the records its first round read."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from department_nodes.data_access import (
    DepartmentDataAccess,
    DepartmentDataset,
    source_state,
)
from fedgov.data import Source
from tests.own_data import DECLARATIONS, OFFICES, nmes_departments, nmes_job

__all__ = ["nmes_departments"]

OFFICE = OFFICES[0]


def _access(tmp_path: Path, csv: Path, job_id: str) -> DepartmentDataAccess:
    job = nmes_job(tmp_path, job_id=job_id)
    dataset = DepartmentDataset.resolve(
        job.dataset,
        declaration=str(DECLARATIONS["binary"]),
        source=Source.parse(f"csv:{csv}"),
    )
    return DepartmentDataAccess(job, OFFICE, dataset)


def _shrink(csv: Path) -> None:
    frame = pd.read_csv(csv)
    frame.iloc[: len(frame) // 2].to_csv(csv, index=False)
    stat = csv.stat()
    os.utime(csv, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_an_unchanged_source_is_read_once_across_jobs(
    tmp_path: Path, nmes_departments: Path
) -> None:
    csv = shutil.copy(nmes_departments / f"{OFFICE}.csv", tmp_path / "office.csv")

    first = _access(tmp_path, Path(csv), "job-a").data
    second = _access(tmp_path, Path(csv), "job-b").data

    assert second is first


def test_a_changed_source_is_read_again_by_the_next_job_not_the_running_one(
    tmp_path: Path, nmes_departments: Path
) -> None:
    csv = Path(shutil.copy(nmes_departments / f"{OFFICE}.csv", tmp_path / "o.csv"))
    before = _access(tmp_path, csv, "job-running").data
    state = source_state(Source.parse(f"csv:{csv}"), "job-running")

    _shrink(csv)

    assert source_state(Source.parse(f"csv:{csv}"), "job-running") != state
    # the running job's later rounds: the records its first round read
    assert _access(tmp_path, csv, "job-running").data is before
    # the next job: the source as it is now
    after = _access(tmp_path, csv, "job-next").data
    assert len(after.train) + len(after.held_out) < len(before.train) + len(
        before.held_out
    )


def test_a_database_source_is_read_once_per_job() -> None:
    source = Source.parse("postgresql://fedgov@localhost/county#visits")

    assert source_state(source, "job-a") == ("job-a",)
    assert source_state(source, "job-b") != source_state(source, "job-a")
    assert source_state(None, "job-a") == ()
