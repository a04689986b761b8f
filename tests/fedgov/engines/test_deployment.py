"""DeploymentEngine and ``fedgov deploy`` without starting Flower."""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import TYPE_CHECKING

import pytest

from coordinator.guard import DepartmentOutcome, RoundReport
from coordinator.summary import round_from_json, round_to_json
from fedgov.commands.deploy import _job_from_args, configure, format_record
from fedgov.engines.deployment import DeploymentEngine
from fedgov.errors import ConfigurationError
from fedgov.files import write_json_atomic
from fedgov.job import TrainJob
from fedgov.run_record import (
    DepartmentSummary,
    RunRecord,
    RunRecordError,
    read_run_record,
    run_dir_of,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.filterwarnings("ignore:deployment engine:UserWarning")


def _report(server_round: int) -> RoundReport:
    return RoundReport(
        server_round=server_round,
        started=1.0,
        train=[
            DepartmentOutcome("parks", 11, "trained", "", {"epsilon-job": 0.4}),
            DepartmentOutcome("housing", 12, "refused", "budget spent", {}),
        ],
        evaluate=[
            DepartmentOutcome("parks", 11, "trained", "", {"eval-accuracy": 0.7})
        ],
        aggregated_evaluate={"eval-accuracy": 0.7125},
        train_seconds=3.0,
        round_seconds=4.5,
    )


def _record(run_dir: Path) -> RunRecord:
    return RunRecord(
        job=TrainJob(run_dir=str(run_dir)).to_run_config(),
        engine="deployment",
        started_at=time.time(),
        finished_at=time.time() + 1,
        rounds=[round_to_json(_report(1)), round_to_json(_report(2))],
        departments=[
            DepartmentSummary("parks", 2, 0, 0, 120, 0.8, 2.4, 8.0, 0.7, None),
            DepartmentSummary("housing", 0, 2, 0, 0, 0.0, 8.0, 8.0, None, None),
        ],
        checkpoint=str(run_dir / "final_model.pt"),
    )


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(argv)


def _job_of(argv: list[str]) -> TrainJob:
    # The job `fedgov deploy` would run, without running it.
    return _job_from_args(_parse(argv))


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"startup_timeout": 0.0}, "startup_timeout"),
        ({"run_timeout": -1.0}, "run_timeout"),
        ({"app_dir": "/"}, "app_dir"),
    ],
)
def test_engine_rejects_bad_settings(kwargs: dict[str, object], argument: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        DeploymentEngine(**kwargs)  # type: ignore[arg-type]
    assert caught.value.argument == argument


def test_insecure_engine_warns() -> None:
    with pytest.warns(UserWarning, match="WITHOUT TLS"):
        DeploymentEngine()


def test_a_run_folder_flwr_would_pack_is_refused(tmp_path: Path) -> None:
    # Prepare: a Flower App whose .gitignore does not cover the run folder.
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    (tmp_path / ".gitignore").write_text("runs/\n")
    engine = DeploymentEngine(app_dir=str(tmp_path))
    job = TrainJob(run_dir=str(tmp_path / "results" / "j1"))

    # Execute / Assert
    with pytest.raises(ConfigurationError, match="app bundle") as caught:
        engine.run(job)
    assert caught.value.argument == "run_dir"
    assert not (tmp_path / "results").exists()


def test_run_record_reads_back_what_the_server_app_writes(tmp_path: Path) -> None:
    # Prepare
    record = _record(tmp_path)
    write_json_atomic(tmp_path / "run_record.json", record)

    # Execute
    read = read_run_record(tmp_path / "run_record.json")

    # Assert
    assert read == dataclasses.replace(record, extra={})


def test_a_broken_run_record_is_a_deployment_error(tmp_path: Path) -> None:
    # Prepare
    (tmp_path / "run_record.json").write_text('{"job": {}}')

    # Execute / Assert
    with pytest.raises(RunRecordError, match=r"run_record\.json"):
        read_run_record(tmp_path / "run_record.json")


def test_round_reports_are_rebuilt_from_the_record() -> None:
    # Prepare
    report = _report(3)

    # Execute
    rebuilt = round_from_json(round_to_json(report))

    # Assert
    assert rebuilt == report


def test_format_record_shows_rounds_and_privacy_spend(tmp_path: Path) -> None:
    # Execute
    text = format_record(_record(tmp_path))

    # Assert
    lines = text.splitlines()
    assert lines[1].split() == ["1", "1/2", "1", "0.7125", "4.5"]
    assert lines[2].split() == ["2", "1/2", "1", "0.7125", "4.5"]
    assert ["parks", "0.800", "2.400", "8.000"] in [line.split() for line in lines]


def test_format_record_shows_each_personalised_model(tmp_path: Path) -> None:
    # Prepare: a job that ended with personalisation
    record = dataclasses.replace(
        _record(tmp_path),
        extra={
            "personalisation": [
                {
                    "department": "parks",
                    "status": "ok",
                    "reason": "",
                    "metrics": {"eval-accuracy": 0.8125, "epsilon-job": 0.9993},
                },
                {
                    "department": "housing",
                    "status": "refused",
                    "reason": "budget spent",
                    "metrics": {},
                },
            ]
        },
    )

    # Execute
    lines = format_record(record).splitlines()

    # Assert
    assert lines[-2].split() == [
        "parks", "personalised:", "accuracy", "0.8125,", "epsilon", "job", "0.999",
        "with", "fine-tuning",
    ]  # fmt: skip
    assert lines[-1].split() == ["housing", "not", "personalised:", "budget", "spent"]


def test_deploy_options_and_overrides_make_the_job(tmp_path: Path) -> None:
    # Execute
    job = _job_of(
        [
            "--dataset", "adult", "--partition", "dirichlet", "--departments", "3",
            "--rounds", "2", "--epsilon", "0", "--run-dir", str(tmp_path),
            "--set", "learning-rate=0.1", "--set", "secure-rng=true",
            "--set", "hidden=64,32",
        ]
    )  # fmt: skip

    # Assert
    assert (job.dataset, job.partition, job.num_departments) == (
        "adult",
        "dirichlet",
        3,
    )
    assert job.num_rounds == 2
    assert job.epsilon is None  # 0 means a non-private job
    assert job.learning_rate == 0.1
    assert job.hidden == "64,32"
    assert run_dir_of(job) == tmp_path.resolve()


@pytest.mark.parametrize("item", ["no-such-key=1", "learning-rate"])
def test_deploy_refuses_unknown_override_keys(item: str) -> None:
    with pytest.raises(ConfigurationError, match="--set"):
        _job_of(["--set", item])


def test_deploy_wants_all_tls_files_or_none(tmp_path: Path) -> None:
    # Prepare
    args = _parse(["--tls-ca-certfile", str(tmp_path / "ca.pem")])

    # Execute / Assert
    with pytest.raises(ConfigurationError, match="--tls"):
        args.func(args)


def test_run_dir_defaults_to_runs_job_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    monkeypatch.chdir(tmp_path)

    # Execute
    run_dir = run_dir_of(TrainJob(job_id="j7"))

    # Assert
    assert run_dir == tmp_path.resolve() / "runs" / "j7"
