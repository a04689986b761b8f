"""What a standing federation refuses before it submits a job: another dataset,
other departments, records of the operator's; what its record keeps (a question
on another dataset: tests/coordinator/test_query_service.py)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from fedgov.data import DepartmentSources, Source
from fedgov.engines.standing import (
    FEDERATION_FOLDER,
    StandingEngine,
    StandingFederation,
)
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob


def _federation(tmp_path: Path) -> StandingFederation:
    return StandingFederation(
        folder=str(tmp_path / FEDERATION_FOLDER),
        address="127.0.0.1:1",
        port=1,
        token="t",
        dataset="randhie",
        departments=("health-site-1", "health-site-2"),
        state_dir=str(tmp_path / "state"),
        processes={"superlink": 2**22},
        started_at=0.0,
    )


def test_its_record_reads_back_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEDGOV_HOME", str(tmp_path))
    federation = _federation(tmp_path)
    record = tmp_path / FEDERATION_FOLDER / "federation.json"
    record.parent.mkdir()
    record.write_text(json.dumps(asdict(federation)))

    assert StandingFederation.find() == federation
    assert federation.service_socket("health-site-1") == (
        tmp_path / "state" / "departments" / "health-site-1" / "service.sock"
    )
    assert federation.questions_socket == (
        tmp_path / FEDERATION_FOLDER / "questions.sock"
    )


@pytest.mark.parametrize(
    ("job", "sources", "rule"),
    [
        (TrainJob(dataset="adult"), None, "not 'adult'"),
        (
            TrainJob(partition="dirichlet", num_departments=2),
            None,
            "serves health-site-1, health-site-2",
        ),
        (TrainJob(departments="health-site-3"), None, "the job trains health-site-3"),
        (
            TrainJob(),
            DepartmentSources.from_mapping(
                {"health-site-1": Source.parse("csv:/tmp/x.csv")}
            ),
            "read their own",
        ),
    ],
)
def test_a_job_it_cannot_run_is_refused_before_anything_is_sent(
    tmp_path: Path, job: TrainJob, sources: DepartmentSources | None, rule: str
) -> None:
    engine = StandingEngine(_federation(tmp_path))

    with pytest.raises(ConfigurationError, match=rule):
        engine.run(job, sources=sources)
    assert not (tmp_path / FEDERATION_FOLDER).exists()
