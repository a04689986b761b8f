"""The coordinator's Grid, asking the SuperLink for replies every tenth of a second.

flwr 1.42's deployed Grid (``HttpGrid``) waits 3 s between two pulls of
replies in ``send_and_receive``, a constant: a department's reply that
arrives just after a pull waits up to 3 s, twice per round (train, then
evaluate). :class:`PromptGrid` is the same Grid with the same
``send_and_receive`` contract, written over the Grid's own public
``push_messages``/``pull_messages``, pulling every ``interval`` seconds
(:func:`fedgov.polling.poll_seconds`: 0.1 s unless ``FEDGOV_POLL_SECONDS``
says otherwise). A pull is one small HTTP request to the SuperLink on the
coordinator's machine. Every other call goes to the Grid it wraps unchanged.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flwr.serverapp import Grid
from flwr.superlink.grid import HttpGrid

from fedgov.polling import poll_seconds

if TYPE_CHECKING:
    from collections.abc import Iterable

    from flwr.app import Message, RecordDict
    from flwr.proto.node_pb2 import NodeInfo
    from flwr.supercore.run import Run

__all__ = ["PromptGrid", "prompt"]


class PromptGrid(Grid):
    """``grid``, its replies pulled every ``interval`` seconds."""

    def __init__(self, grid: Grid, *, interval: float) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self._grid = grid
        self.interval = interval

    def set_run(self, run: Run) -> None:
        self._grid.set_run(run)

    @property
    def run(self) -> Run:
        return self._grid.run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return self._grid.create_message(
            content, message_type, dst_node_id, group_id, ttl
        )

    def get_node_ids(self) -> Iterable[int]:
        return self._grid.get_node_ids()

    def get_nodes(self) -> Iterable[NodeInfo]:
        return self._grid.get_nodes()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self._grid.pull_messages(message_ids)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Push ``messages``, then pull replies until all came or ``timeout`` passed.

        As Flower's own: ``timeout=None`` waits for every reply, and the
        replies that came are returned when time runs out.
        """
        pending = set(self.push_messages(messages))
        deadline = None if timeout is None else time.monotonic() + timeout
        replies: list[Message] = []
        while pending:
            pulled = list(self.pull_messages(pending))
            replies.extend(pulled)
            pending.difference_update(m.metadata.reply_to_message_id for m in pulled)
            if not pending:
                break
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                time.sleep(min(self.interval, left))
            else:
                time.sleep(self.interval)
        return replies


def prompt(grid: Grid) -> Grid:
    """A deployed (HTTP) Grid as a :class:`PromptGrid`; any other Grid as it is.

    A simulation's Grid already pulls at its own short interval, and an
    in-process one answers at once.
    """
    if isinstance(grid, HttpGrid):
        return PromptGrid(grid, interval=poll_seconds())
    return grid
