"""The coordinator's prompt Grid: Flower's send_and_receive contract, pulled often."""

from __future__ import annotations

import time
from collections.abc import Iterable

import pytest
from flwr.app import ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid
from flwr.supercore.task_identity import TaskIdentity

from coordinator.polling import PromptGrid, prompt


@pytest.fixture(autouse=True)
def _task_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 0)
    monkeypatch.setattr(TaskIdentity, "_task_id", 0)


class _SlowLink(Grid):
    """Replies become available ``delay`` seconds after they were pushed."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.pushed: dict[str, tuple[float, Message]] = {}
        self.pulls = 0

    def set_run(self, run: object) -> None:  # type: ignore[override]
        raise NotImplementedError

    @property
    def run(self) -> object:  # type: ignore[override]
        raise NotImplementedError

    def create_message(  # type: ignore[override]
        self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
        ttl: float | None = None,
    ) -> Message:  # fmt: skip
        raise NotImplementedError

    def get_node_ids(self) -> Iterable[int]:
        return [1, 2]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for index, msg in enumerate(messages):
            msg.metadata.__dict__["_message_id"] = f"m{index}"
            self.pushed[f"m{index}"] = (time.monotonic(), msg)
            ids.append(f"m{index}")
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        self.pulls += 1
        now = time.monotonic()
        return [
            Message(RecordDict(), reply_to=msg)
            for mid in message_ids
            for pushed, msg in [self.pushed[mid]]
            if now - pushed >= self.delay
        ]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        raise AssertionError("the prompt grid pulls itself")


def _messages() -> list[Message]:
    return [
        Message(
            RecordDict({"q": ConfigRecord({"i": node})}),
            dst_node_id=node,
            message_type=MessageType.QUERY,
        )
        for node in (1, 2)
    ]


def test_replies_are_returned_within_an_interval_of_their_arrival() -> None:
    link = _SlowLink(delay=0.3)
    grid = PromptGrid(link, interval=0.02)

    started = time.monotonic()
    replies = list(grid.send_and_receive(_messages(), timeout=10))
    waited = time.monotonic() - started

    assert sorted(r.metadata.reply_to_message_id for r in replies) == ["m0", "m1"]
    assert 0.3 <= waited < 1.0  # Flower's own Grid: 3 s
    assert link.pulls >= 2


def test_the_replies_that_came_are_returned_when_the_timeout_passes() -> None:
    link = _SlowLink(delay=60)
    grid = PromptGrid(link, interval=0.02)

    started = time.monotonic()
    replies = list(grid.send_and_receive(_messages(), timeout=0.2))

    assert replies == []
    assert time.monotonic() - started < 1.0


def test_only_a_deployed_grid_is_made_prompt() -> None:
    link = _SlowLink(delay=0)

    assert prompt(link) is link
    with pytest.raises(ValueError, match="interval"):
        PromptGrid(link, interval=0)
