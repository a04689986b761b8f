"""A county's own dataset on a real SuperLink and one real SuperNode per office.

Each SuperNode is told its own ``data-source`` and ``dataset-declaration``
through ``--node-config``, as on the department's own machine; the job
carries only the declaration's name and digest. One office's table breaks
the declaration: that office refuses ("data invalid" and the reason's class)
and the others train. Slow: every message starts a ``flwr-clientapp``
process (tens of seconds per round on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fedgov import protocol as p
from fedgov.data import DepartmentSources, get_dataset
from fedgov.engines.deployment import DeploymentEngine
from privacy.budget import open_budget_book
from tests.own_data import (
    DECLARATIONS,
    break_one_office,
    nmes_departments,
    nmes_job,
)

__all__ = ["nmes_departments"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1200),
    pytest.mark.filterwarnings("ignore:deployment engine:UserWarning"),
]


def test_each_supernode_reads_its_own_source_and_a_broken_one_refuses(
    tmp_path: Path, nmes_departments: Path
) -> None:
    # Prepare
    folder = break_one_office(nmes_departments, tmp_path / "departments", "office-west")
    job = nmes_job(tmp_path, num_rounds=1, round_timeout=600.0)
    engine = DeploymentEngine(startup_timeout=240.0, run_timeout=1000.0)

    # Execute
    record = engine.run(job, sources=DepartmentSources.from_folder(folder))

    # Assert: the job the coordinator sent names no source (only the office
    # whose own file is broken refused: each node read its own).
    run_config = (Path(job.run_dir) / "run_config.toml").read_text(encoding="utf-8")
    assert str(folder) not in run_config
    spec = get_dataset(str(DECLARATIONS["binary"]))
    assert record.engine == "deployment"
    assert record.dataset["digest"] == spec.digest
    (round_,) = record.rounds
    outcomes = {o["department"]: o for o in round_["train"]}
    assert outcomes["office-west"]["status"] == p.Outcome.REFUSED
    assert outcomes["office-west"]["reason"] == "data invalid: out-of-range"
    trained = [d for d, o in outcomes.items() if o["status"] == p.Outcome.TRAINED]
    assert sorted(trained) == ["office-midwest", "office-northeast", "office-other"]
    assert 0.0 <= round_["aggregated_evaluate"][p.Metric.EVAL_ACCURACY] <= 1.0
    state = tmp_path / "state"
    assert "nmes1988" not in open_budget_book(state, "office-west").datasets()
    assert len(open_budget_book(state, "office-other").status("nmes1988").history) == 1
