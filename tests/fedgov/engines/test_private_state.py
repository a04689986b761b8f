"""A job's state and run folders are their operator's alone (0600 / 0700)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedgov.engines.inprocess import InProcessEngine
from tests.audit_federation import small_job
from tests.fedgov.test_files import open_to_others

if TYPE_CHECKING:
    from pathlib import Path

    from tests.audit_fixtures import AuditHarness


def test_an_audited_job_leaves_nothing_readable_by_others(
    embedded_env: AuditHarness, tmp_path: Path
) -> None:
    # Keys, audit databases, budget books, locks, the model and run record:
    # they used to be created 0644 in 0755 folders.
    run_dir = tmp_path / "run"
    job = small_job(
        num_rounds=1,
        model="logreg",
        hidden="",
        run_dir=str(run_dir),
        state_dir=str(embedded_env.state_dir),
    )
    record = InProcessEngine(ledger=embedded_env.ledger).run(job)
    assert record.checkpoint is not None

    assert open_to_others(embedded_env.state_dir) == []
    assert open_to_others(run_dir) == []
