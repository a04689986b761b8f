"""The coordinator's personalisation message: each department's answer is
checked as a round's reply is before its figures reach the run record."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Message,
    MetricRecord,
    RecordDict,
)

from coordinator.personalisation import personalise_departments
from fedgov import protocol as p
from tests.coordinator.test_guard import _task_identity  # noqa: F401

Answer = Callable[[Message], Message]


def _answer(
    department: str,
    *,
    status: str = p.Status.OK,
    metrics: dict[str, float] | None = None,
    arrays: bool = False,
) -> Answer:
    def reply(sent: Message) -> Message:
        content = RecordDict(
            {
                p.Record.METRICS: MetricRecord(
                    {
                        p.Metric.NUM_EXAMPLES: 100,
                        p.Metric.EPSILON_JOB: 0.99,
                        p.Metric.EVAL_ACCURACY: 0.8,
                    }
                    if metrics is None
                    else metrics
                ),
                p.Record.FEDGOV: ConfigRecord(
                    {
                        p.Reply.DEPARTMENT: department,
                        p.Reply.STATUS: status,
                        p.Reply.REASON: "" if status == p.Status.OK else "over budget",
                    }
                ),
            }
        )
        if arrays:
            content[p.Record.ARRAYS] = ArrayRecord({"w": Array(np.zeros(2))})
        return Message(content=content, reply_to=sent)

    return reply


class _Grid:
    """Answers each node's message with that node's canned reply."""

    def __init__(self, answers: dict[int, Answer]) -> None:
        self.answers = answers
        self.sent: list[Message] = []

    def get_node_ids(self) -> list[int]:
        return list(self.answers)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> list[Message]:
        self.sent = list(messages)
        return [self.answers[m.metadata.dst_node_id](m) for m in self.sent]


def _personalise(answers: dict[int, Answer]) -> dict[str, tuple[str, str]]:
    grid = _Grid(answers)
    outcomes = personalise_departments(
        grid,  # type: ignore[arg-type]
        ArrayRecord({"w": Array(np.ones(2))}),
        instruction={},
        server_round=4,
        timeout=1.0,
        max_examples=1000,
    )
    for message in grid.sent:
        config = message.content.config_records[p.Record.CONFIG]
        assert config[p.Instruction.PERSONALISE] is True
        assert config[p.Instruction.SERVER_ROUND] == 4
    return {o.department: (o.status, o.reason) for o in outcomes}


def test_good_answers_are_kept_with_their_figures() -> None:
    # Act
    grid = _Grid({1: _answer("a"), 2: _answer("b", status=p.Status.REFUSED)})
    outcomes = personalise_departments(
        grid,  # type: ignore[arg-type]
        ArrayRecord({"w": Array(np.ones(2))}),
        instruction={},
        server_round=4,
        timeout=1.0,
        max_examples=1000,
    )

    # Assert
    ok, refused = outcomes
    assert (ok.department, ok.status) == ("a", p.Status.OK)
    assert ok.metrics[p.Metric.EPSILON_JOB] == 0.99
    assert (refused.department, refused.status) == ("b", p.Status.REFUSED)
    assert refused.reason == "over budget"


def test_answers_breaking_a_reply_rule_are_rejected_naming_it() -> None:
    # Act
    found = _personalise(
        {
            1: _answer(
                "nan", metrics={p.Metric.NUM_EXAMPLES: 10, "train-loss": math.nan}
            ),
            2: _answer(
                "auc", metrics={p.Metric.NUM_EXAMPLES: 10, p.Metric.EVAL_AUC: 1.5}
            ),
            3: _answer("huge", metrics={p.Metric.NUM_EXAMPLES: 10**6}),
            4: _answer("none", metrics={p.Metric.NUM_EXAMPLES: 0}),
            5: _answer("model", arrays=True),
            6: _answer("fine"),
        }
    )

    # Assert: each named for the rule it broke; the good one kept
    rejected = p.Outcome.REJECTED
    assert found["nan"] == (rejected, "metric 'train-loss' is nan, not a finite number")
    assert found["auc"][0] == rejected
    assert "outside [0, 1]" in found["auc"][1]
    assert found["huge"][0] == rejected
    assert "max_examples 1000" in found["huge"][1]
    assert found["none"][0] == rejected
    assert "counts >= 1" in found["none"][1]
    assert found["model"][0] == rejected
    assert "array records []" in found["model"][1]
    assert found["fine"] == (p.Status.OK, "")


def test_two_answers_claiming_one_department_are_both_rejected() -> None:
    # Act
    found = _personalise({1: _answer("a"), 2: _answer("a"), 3: _answer("b")})

    # Assert
    assert found["node-1"][0] == p.Outcome.REJECTED
    assert found["node-2"][0] == p.Outcome.REJECTED
    assert "claims department 'a'" in found["node-1"][1]
    assert found["b"] == (p.Status.OK, "")
