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

from coordinator._membership import Membership
from coordinator.audit import round_records
from coordinator.guard import GuardedStrategy, check_update
from fedgov import protocol as p
from fedgov.job import TrainJob

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
    num_examples: float = 10,
    message_type: str = MessageType.TRAIN,
    metrics: dict[str, float] | None = None,
) -> Message:
    sent = Message(content=RecordDict(), dst_node_id=node, message_type=message_type)
    content = RecordDict(
        {
            p.Record.METRICS: MetricRecord(
                {p.Metric.NUM_EXAMPLES: num_examples, "train-loss": 0.5}
                if metrics is None
                else metrics
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
    guard = GuardedStrategy(
        FedAvg(),
        max_update_norm=10.0,
        max_examples=1000,
        membership=Membership(roster=3, minimum=1, wait=1.0),
    )
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


def _filled(value: float) -> dict[str, np.ndarray]:
    return {k: np.full_like(v, value) for k, v in GLOBAL.items()}


@pytest.mark.parametrize(
    ("claimed", "rule"),
    [
        (float("nan"), "not a whole number"),
        (float("inf"), "not a whole number"),
        (1e15, "above the job's max_examples 1000"),
        (-10, "counts >= 1"),
        (0, "counts >= 1"),
        (2.5, "not a whole number"),
    ],
)
def test_a_reported_weight_no_department_could_have_is_dropped(
    claimed: float, rule: str
) -> None:
    # An attacker's weight: NaN/inf poisoned the model, 1e15 took it over,
    # -10 crashed aggregation with ZeroDivisionError.
    replies = [
        _reply(2, "a", arrays=_filled(1.0), num_examples=10),
        _reply(3, "b", arrays=_filled(3.0), num_examples=10),
        _reply(4, "evil", arrays=_filled(9.0), num_examples=claimed),
    ]
    guard = _guard()
    arrays, _ = guard.aggregate_train(1, replies)
    assert arrays is not None
    assert np.allclose(p.arrays_to_numpy(arrays)["w"], 2.0)
    evil = next(o for o in guard.reports[0].train if o.department == "evil")
    assert evil.status == p.Outcome.REJECTED
    assert rule in evil.reason
    # The rejection is on the coordinator's record, with the rule it broke.
    records = round_records(
        guard.reports[0], job=TrainJob(), actor="0x" + "11" * 20, timestamp_ms=1
    )
    entry = next(r for r in records if r.details.get("department") == "evil")
    assert entry.details["train"] == p.Outcome.REJECTED
    assert rule in entry.details["reason"]
    assert entry.record_count == 0
    # The round counts the examples of what it aggregated only.
    assert records[-1].record_count == 20


def test_a_count_above_what_the_department_reported_before_is_dropped() -> None:
    guard = _guard()
    guard.aggregate_train(1, [_reply(2, "a", arrays=_filled(1.0), num_examples=50)])
    guard.aggregate_train(2, [_reply(2, "a", arrays=_filled(1.0), num_examples=40)])
    arrays, _ = guard.aggregate_train(
        3, [_reply(2, "a", arrays=_filled(1.0), num_examples=51)]
    )
    assert arrays is None
    assert [o.status for r in guard.reports for o in r.train] == [
        "trained",
        "trained",
        "rejected",
    ]
    assert "reported 50 earlier in this job" in guard.reports[2].train[0].reason


@pytest.mark.parametrize(
    ("metrics", "rule"),
    [
        ({p.Metric.NUM_EXAMPLES: 10, "train-loss": float("nan")}, "not a finite"),
        ({p.Metric.NUM_EXAMPLES: 10, p.Metric.EPSILON_JOB: -1.0}, "below 0"),
        ({p.Metric.NUM_EXAMPLES: 10, p.Metric.SAMPLE_RATE: 2.0}, "outside [0, 1]"),
        ({"train-loss": 0.5}, "reports no 'num-examples'"),
    ],
)
def test_a_metric_out_of_its_range_drops_the_reply(
    metrics: dict[str, float], rule: str
) -> None:
    guard = _guard()
    arrays, _ = guard.aggregate_train(
        1,
        [
            _reply(2, "a", arrays=_filled(1.0)),
            _reply(3, "evil", arrays=_filled(5.0), metrics=metrics),
        ],
    )
    assert arrays is not None
    assert np.allclose(p.arrays_to_numpy(arrays)["w"], 1.0)
    evil = guard.reports[0].train[1]
    assert (evil.status, rule in evil.reason) == ("rejected", True)
    # Only finite numbers reach the report (and the audit record).
    assert all(np.isfinite(v) for v in evil.metrics.values())


def test_two_replies_claiming_one_department_are_both_dropped() -> None:
    # Both used to be aggregated: a second node doubled one department's weight.
    guard = _guard()
    arrays, _ = guard.aggregate_train(
        1,
        [
            _reply(2, "a", arrays=_filled(1.0)),
            _reply(3, "b", arrays=_filled(7.0)),
            _reply(4, "b", arrays=_filled(9.0)),
        ],
    )
    assert arrays is not None
    assert np.allclose(p.arrays_to_numpy(arrays)["w"], 1.0)
    outcomes = {o.department: o for o in guard.reports[0].train}
    assert set(outcomes) == {"a", "node-3", "node-4"}
    assert outcomes["node-3"].status == outcomes["node-4"].status == "rejected"
    assert "claims department 'b'" in outcomes["node-4"].reason
    records = round_records(
        guard.reports[0], job=TrainJob(), actor="0x" + "11" * 20, timestamp_ms=1
    )
    assert [r.details["department"] for r in records[:-1]] == ["a", "node-3", "node-4"]


def test_an_extra_array_record_drops_the_reply_not_the_round() -> None:
    # Flower refuses a whole round's aggregation when one reply has two.
    extra = _reply(3, "evil", arrays=_filled(5.0))
    extra.content["more"] = ArrayRecord({"w": Array(GLOBAL["w"])})
    guard = _guard()
    arrays, _ = guard.aggregate_train(1, [_reply(2, "a", arrays=_filled(1.0)), extra])
    assert arrays is not None
    assert "array records ['arrays'], this one ['arrays', 'more']" in (
        guard.reports[0].train[1].reason
    )


def test_an_evaluation_reporting_impossible_figures_is_not_averaged() -> None:
    guard = _guard()
    good = {p.Metric.NUM_EXAMPLES: 10, p.Metric.EVAL_ACCURACY: 0.5}
    bad = {p.Metric.NUM_EXAMPLES: 10, p.Metric.EVAL_ACCURACY: 7.0}
    metrics = guard.aggregate_evaluate(
        1,
        [
            _reply(
                2, "a", arrays=None, message_type=MessageType.EVALUATE, metrics=good
            ),
            _reply(3, "b", arrays=None, message_type=MessageType.EVALUATE, metrics=bad),
        ],
    )
    assert metrics is not None
    assert metrics[p.Metric.EVAL_ACCURACY] == pytest.approx(0.5)
    assert [o.status for o in guard.reports[0].evaluate] == ["trained", "rejected"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        arrays(np.float32, (2, 3), elements=st.floats(-1, 1, width=32)),
        min_size=3,
        max_size=3,
    ),
    st.lists(st.integers(1, 999), min_size=3, max_size=3),
    st.permutations([0, 1, 2]),
)
def test_the_aggregate_does_not_depend_on_the_order_replies_arrive(
    updates: list[np.ndarray], counts: list[int], order: list[int]
) -> None:
    # Float sums depend on their order; replies arrive in whatever order the
    # departments finish, and a rerun of a job must give the same model.
    replies = [
        _reply(
            node + 2,
            f"dept-{node}",
            arrays={"w": update, "b": GLOBAL["b"]},
            num_examples=count,
        )
        for node, (update, count) in enumerate(zip(updates, counts, strict=True))
    ]
    in_order, _ = _guard().aggregate_train(1, replies)
    shuffled, _ = _guard().aggregate_train(1, [replies[i] for i in order])
    assert in_order is not None
    assert shuffled is not None
    assert p.hash_arrays(in_order) == p.hash_arrays(shuffled)
