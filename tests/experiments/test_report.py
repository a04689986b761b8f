"""The whole report pipeline, end to end, on the tiny profile (CI keeps it alive).

Two rounds, one seed, RandHIE only: a DP and a non-private federated point
and two baselines go through Hydra multirun, the tidy tables, the figures
and report.md.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest

from experiments import report
from experiments.results import load_results
from experiments.sweep import run_id_for
from fedgov.data import BUILT_IN_DECLARATIONS
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("report")
    status = report.main(
        ["--profile", "tiny", "--workers", "1", "--output", str(output)]
    )
    assert status == 0
    return output


def test_the_tiny_report_is_produced(tiny: Path) -> None:
    # Assert: every artefact is there
    text = (tiny / "report.md").read_text()
    for name in (
        "accuracy_vs_epsilon.png",
        "departments.png",
        "accuracy_vs_rounds.png",
    ):
        assert (tiny / name).stat().st_size > 10_000
        assert f"]({name})" in text
    assert "## Targets" in text
    assert "randhie" in text
    runs = pd.read_csv(tiny / "data" / "runs.csv")
    assert sorted(runs["kind"]) == [
        "centralized",
        "federated",
        "federated",
        "federated",
        "local",
    ]
    assert set(runs["num_rounds"]) == {2}
    rounds = pd.read_csv(tiny / "data" / "rounds.csv.gz")
    # 3 federated points x 2 rounds x (overall + 6 departments)
    assert len(rounds) == 3 * 2 * 7
    departments = pd.read_csv(tiny / "data" / "departments.csv")
    assert len(departments) == 3 * 6 + 6
    # The personalised point: each department's own model, at most its epsilon
    personal = departments.dropna(subset=["personalised_auc"])
    assert len(personal) == 6
    assert (personal["personalised_epsilon_spent"] <= 1.0 + 1e-9).all()
    assert (personal["epsilon_spent"] < personal["personalised_epsilon_spent"]).all()
    assert "## Personalisation" in text
    assert "personalised model at least as good as its local-only model" in text


def test_a_second_run_reuses_the_points_and_prunes_strays(tiny: Path) -> None:
    # Prepare: a stray point from some earlier configuration
    stray = tiny / "data" / "runs" / "stray.json.gz"
    stray.write_bytes(
        (tiny / "data" / "runs").glob("*.json.gz").__next__().read_bytes()
    )
    old = time.time() - 3600
    os.utime(stray, (old, old))
    before = {
        p.name: p.read_bytes() for p in (tiny / "data" / "runs").glob("*.json.gz")
    }

    # Execute
    status = report.main(["--profile", "tiny", "--workers", "1", "--output", str(tiny)])

    # Assert: nothing recomputed (same bytes), the stray is gone
    assert status == 0
    after = {p.name: p.read_bytes() for p in (tiny / "data" / "runs").glob("*.json.gz")}
    assert "stray.json.gz" not in after
    assert after == {k: v for k, v in before.items() if k != "stray.json.gz"}
    assert len(load_results(tiny / "data")) == 5


def test_run_ids_name_the_point_and_change_with_any_parameter() -> None:
    # Prepare
    job = TrainJob(dataset="adult", epsilon=0.5, seed=2, audit=False)

    # Execute
    name = run_id_for(job, baseline="", engine="inprocess")

    # Assert
    assert name.startswith("adult-natural-fedavg-inprocess-eps0.5-s2-")
    assert name == run_id_for(
        TrainJob(dataset="adult", epsilon=0.5, seed=2, audit=False, job_id="other"),
        baseline="",
        engine="inprocess",
    )
    assert name != run_id_for(
        TrainJob(dataset="adult", epsilon=0.5, seed=2, audit=False, learning_rate=0.1),
        baseline="",
        engine="inprocess",
    )
    assert run_id_for(job, baseline="local", engine="").startswith(
        "adult-natural-local-eps0.5-s2-"
    )


def test_run_ids_change_with_the_dataset_declaration(tmp_path: Path) -> None:
    # Prepare: the same job before and after its declaration file is edited.
    declaration = tmp_path / "adult.yaml"
    text = (
        (BUILT_IN_DECLARATIONS / "adult.yaml")
        .read_text(encoding="utf-8")
        .replace("public_test: true", "public_test: false")
    )
    declaration.write_text(text, encoding="utf-8")
    job = TrainJob(dataset="adult", declaration=str(declaration), audit=False)
    before = run_id_for(job, baseline="", engine="inprocess")
    assert "bins: [20, 25, 30," in text
    declaration.write_text(
        text.replace("bins: [20, 25, 30,", "bins: [21, 25, 30,"), encoding="utf-8"
    )

    # Execute
    after = run_id_for(job, baseline="", engine="inprocess")

    # Assert
    assert after != before
    assert after.rsplit("-", 1)[0] == before.rsplit("-", 1)[0]


def test_workers_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="workers"):
        report.run_sweeps(report.PROFILES["tiny"], tmp_path, workers=0, force=False)


def test_a_single_point_runs_outside_a_multirun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: one baseline point, as a user would run it by hand (no -m).
    from experiments import sweep

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        "sys.argv",
        [
            "sweep",
            f"output={tmp_path / 'data'}",
            "experiment=randhie",
            "baseline=centralized",
            "num_rounds=1",
            "seed=0",
        ],
    )

    # Execute
    sweep.main()

    # Assert
    (result,) = load_results(tmp_path / "data")
    assert result.kind == "centralized"
    assert result.job["num-rounds"] == 1
