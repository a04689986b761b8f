"""The chain node goes away, or is killed with SIGKILL, mid-anchoring; the
audit log service is killed with SIGKILL between a department's pushes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from experiments.faults import chain_node_kill, chain_outage, log_service_kill
from tests.chain_fixtures import requires_anvil

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


@pytest.mark.anvil
@requires_anvil
@pytest.mark.timeout(600)
def test_a_chain_outage_delays_anchors_and_loses_none(tmp_path: Path) -> None:
    # Act
    outcome = chain_outage(tmp_path)

    # Assert: the relay saw the outage, anchored all after it, the audit passes
    assert outcome.problems() == [], outcome.must_hold
    assert outcome.completed == 1
    assert "is unavailable" in outcome.errors[0]
    assert outcome.verdict is True


@pytest.mark.anvil
@requires_anvil
@pytest.mark.timeout(3600)
def test_a_kill_9_of_the_chain_node_mid_anchoring_loses_nothing(
    tmp_path: Path,
) -> None:
    # Act
    outcome = chain_node_kill(tmp_path)

    # Assert
    assert outcome.problems() == [], outcome.must_hold
    assert outcome.completed == 1
    assert outcome.verdict is True


@pytest.mark.timeout(600)
def test_a_kill_9_of_the_log_service_loses_no_pushed_record(tmp_path: Path) -> None:
    # Act
    outcome = log_service_kill(tmp_path)

    # Assert: pushes failed quietly while it was dead, the replica caught up
    assert outcome.problems() == [], outcome.must_hold
    assert "failed (retried at the next commit)" in outcome.errors[0]
    assert outcome.verdict is True
