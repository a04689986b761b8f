"""A round waits for departments at most the round timeout, never forever."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord
from flwr.serverapp.strategy import FedAvg

from coordinator._membership import (
    DepartmentsLostError,
    Membership,
    await_departments,
)
from coordinator.guard import GuardedStrategy
from fedgov import protocol as p
from tests.coordinator.test_guard import GLOBAL, _reply, _task_identity  # noqa: F401


class _Grid:
    """A grid whose connected nodes change as the clock advances."""

    def __init__(self, timeline: list[tuple[float, list[int]]]) -> None:
        self.timeline = timeline
        self.now = 0.0
        self.run_id = 1

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def get_node_ids(self) -> list[int]:
        return next(nodes for at, nodes in reversed(self.timeline) if at <= self.now)


MEMBERS = Membership(roster=3, minimum=2, wait=120.0)


def _wait(grid: _Grid, *, first: bool) -> int:
    return await_departments(
        grid, MEMBERS, first=first, what="round 2 (train)", clock=grid.clock,
        sleep=grid.sleep,
    )  # fmt: skip


def test_the_first_round_waits_for_the_whole_roster() -> None:
    grid = _Grid([(0, [1]), (5, [1, 2]), (30, [1, 2, 3])])
    assert _wait(grid, first=True) == 3
    assert grid.now == 30


def test_the_first_round_goes_on_with_enough_after_the_timeout() -> None:
    grid = _Grid([(0, [1, 2])])
    assert _wait(grid, first=True) == 2
    assert grid.now == 120


def test_a_later_round_goes_on_at_once_without_a_lost_department() -> None:
    # It used to wait "2 connected (minimum required: 3)" until the node came back.
    grid = _Grid([(0, [1, 2])])
    assert _wait(grid, first=False) == 2
    assert grid.now == 0


def test_too_few_departments_end_the_job_with_a_clear_error() -> None:
    grid = _Grid([(0, [1])])
    with pytest.raises(DepartmentsLostError, match="only 1 of 3 departments"):
        _wait(grid, first=False)
    assert grid.now == 120


def test_a_department_that_never_replied_is_reported_as_such() -> None:
    guard = GuardedStrategy(
        FedAvg(), max_update_norm=10.0, max_examples=1000, membership=MEMBERS
    )
    grid = _Grid([(0, [2, 3, 4])])
    arrays = ArrayRecord({k: Array(v) for k, v in GLOBAL.items()})
    sent = list(guard.configure_train(1, arrays, ConfigRecord(), grid))  # type: ignore[arg-type]
    assert sorted(m.metadata.dst_node_id for m in sent) == [2, 3, 4]

    ones = {k: np.ones_like(v) for k, v in GLOBAL.items()}
    guard.aggregate_train(1, [_reply(2, "a", arrays=ones), _reply(3, "b", arrays=ones)])

    lost = [o for o in guard.reports[0].train if o.status == p.Outcome.FAILED]
    assert [(o.department, o.node_id) for o in lost] == [("node-4", 4)]
    assert "never reached the coordinator" in lost[0].reason
