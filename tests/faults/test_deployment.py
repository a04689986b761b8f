"""A deployed job whose SuperNode, or SuperLink, is killed with SIGKILL mid-job.

A SuperNode's death used to abort ``fedgov deploy``, and a deployed
ServerApp waited "2 connected (minimum required: 3)" until the node came
back, past round-timeout and ignoring min-departments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from experiments.faults import superlink_kill, supernode_kill
from tests.chain_fixtures import requires_anvil

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.slow, pytest.mark.anvil, requires_anvil]


@pytest.mark.timeout(1800)
def test_a_killed_department_leaves_the_job_to_the_others(tmp_path: Path) -> None:
    # Act
    outcome = supernode_kill(tmp_path)

    # Assert: completed with the other two, the lost one on record, audit OK
    assert outcome.problems() == [], outcome.must_hold
    assert outcome.completed == 1
    assert outcome.verdict is True


@pytest.mark.timeout(1800)
def test_a_killed_superlink_ends_the_job_with_a_clear_error(tmp_path: Path) -> None:
    # Act
    outcome = superlink_kill(tmp_path)

    # Assert
    assert outcome.problems() == [], outcome.must_hold
    assert outcome.failed_clearly == 1
    assert outcome.verdict is True
