"""The coordinator's vetting of replies before Flower aggregates them."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.serverapp.strategy import FedAvg
from flwr.supercore.task_identity import TaskIdentity
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from coordinator.guard import GuardedStrategy, check_update
from fedgov import protocol as p

GLOBAL = {"w": np.zeros((2, 3), dtype=np.float32), "b": np.zeros(2, dtype=np.float32)}


@pytest.fixture(autouse=True)
def _task_identity() -> None:
    # Flower stamps messages with the running task's identity; tests have none.
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1


def _reply(
    node: int,
    department: str,
    *,
    arrays: dict[str, np.ndarray] | None,
    status: str = p.Status.OK,
    num_examples: int = 10,
) -> Message:
    sent = Message(
        content=RecordDict(), dst_node_id=node, message_type=MessageType.TRAIN
    )
    content = RecordDict(
        {
            p.Record.METRICS: MetricRecord(
                {p.Metric.NUM_EXAMPLES: num_examples, "train-loss": 0.5}
            ),
            p.Record.FEDGOV: ConfigRecord(
                {
                    p.Reply.DEPARTMENT: department,
                    p.Reply.STATUS: status,
                    p.Reply.REASON: "over budget" if status != p.Status.OK else "",
                }
            ),
        }
    )
    if arrays is not None:
        content[p.Record.ARRAYS] = ArrayRecord({k: Array(v) for k, v in arrays.items()})
    return Message(content=content, reply_to=sent)


def _guard() -> GuardedStrategy:
    guard = GuardedStrategy(FedAvg(), max_update_norm=10.0)
    guard._global = GLOBAL  # what configure_train would have recorded
    return guard


def test_good_updates_are_averaged_and_bad_ones_reported() -> None:
    # Prepare
    ones = {k: np.ones_like(v) for k, v in GLOBAL.items()}
    threes = {k: 3 * np.ones_like(v) for k, v in GLOBAL.items()}
    nan = {k: np.full_like(v, np.nan) for k, v in GLOBAL.items()}
    wrong_shape = {"w": np.zeros((3, 3), dtype=np.float32), "b": GLOBAL["b"]}
    huge = {k: 1e6 * np.ones_like(v) for k, v in GLOBAL.items()}
    replies = [
        _reply(2, "a", arrays=ones),
        _reply(3, "b", arrays=threes),
        _reply(4, "c", arrays=nan),
        _reply(5, "d", arrays=wrong_shape),
        _reply(6, "e", arrays=huge),
        _reply(7, "f", arrays=None, status=p.Status.REFUSED),
        _reply(8, "g", arrays={"w": GLOBAL["w"]}),
    ]
    guard = _guard()
    # Execute
    arrays, _ = guard.aggregate_train(1, replies)
    # Assert
    assert arrays is not None
    assert np.allclose(p.arrays_to_numpy(arrays)["w"], 2.0)
    outcomes = {o.department: (o.status, o.reason) for o in guard.reports[0].train}
    assert outcomes["a"][0] == outcomes["b"][0] == "trained"
    assert outcomes["c"] == ("rejected", "tensor w contains NaN or infinite values")
    assert "shape (3, 3)" in outcomes["d"][1]
    assert outcomes["e"][0] == "rejected"
    assert "exceeds the limit" in outcomes["e"][1]
    assert outcomes["f"] == ("refused", "over budget")
    assert "missing ['b']" in outcomes["g"][1]


def test_nothing_to_aggregate_keeps_the_model() -> None:
    guard = _guard()
    arrays, metrics = guard.aggregate_train(
        1, [_reply(2, "a", arrays=None, status="refused")]
    )
    assert arrays is None
    assert metrics is None


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float32, (2, 3), elements=st.floats(-1e3, 1e3, width=32)),
    st.floats(0.1, 1e4),
)
def test_norm_rule_is_exact(update: np.ndarray, limit: float) -> None:
    reference = {"w": np.zeros((2, 3), dtype=np.float32)}
    norm = float(np.sqrt(np.sum(update.astype(np.float64) ** 2)))
    verdict = check_update({"w": update}, reference, max_norm=limit)
    assert (verdict is None) == (norm <= limit)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 5), st.sampled_from([np.nan, np.inf, -np.inf]))
def test_any_non_finite_value_is_rejected(index: int, bad: float) -> None:
    update = np.zeros(6, dtype=np.float32)
    update[index] = bad
    assert check_update(
        {"w": update}, {"w": np.zeros(6, dtype=np.float32)}, max_norm=1e9
    )
