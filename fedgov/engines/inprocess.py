"""An in-process engine: the product's ServerApp and ClientApps, no Ray.

Flower's simulation starts Ray for every job (10-25 s on the development
machine) and then spends most of a small job waiting on actors. A sweep of a
hundred jobs cannot afford that, so :class:`InProcessEngine` runs the very
same apps (``coordinator.server_app.make_server_app`` and
``department_nodes.client_app.make_client_app``: GuardedStrategy, Flower's
strategies or SecAgg+ workflow, DepartmentNode with its budget book and
Opacus) with a :class:`flwr.serverapp.Grid` that hands each message to the
addressed department's ClientApp in this process, one after another.

Every message crosses a real wire format on the way (Flower's protobuf
serialisation and back), so departments never share objects with the
coordinator, and the bytes each direction carries are counted exactly.
With ``secure_rng=False`` a job gives the result Flower's simulation gives
for the same seed; ``experiments.report`` checks this on every full run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from flwr.app import Context, Error, Message, RecordDict
from flwr.app.user_config import UserConfigValue
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.common.serde import message_from_proto, message_to_proto
from flwr.proto.message_pb2 import Message as ProtoMessage
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from coordinator.guard import RoundReport
from coordinator.server_app import make_server_app
from department_nodes.access import RoleSource
from department_nodes.client_app import make_client_app
from fedgov.data import DepartmentSources
from fedgov.engines.audit import prepare_job
from fedgov.engines.base import job_with_sources
from fedgov.errors import FedgovError
from fedgov.job import TrainJob
from fedgov.job_data import departments_for
from fedgov.notices import warn_once
from fedgov.run_record import RunRecord
from ledger.county_ledger import FROM_COUNTY, CountyLedger, resolve_ledger

__all__ = [
    "InProcessEngine",
    "InProcessError",
    "NodeHandler",
    "RoundTraffic",
    "WireGrid",
]

logger = logging.getLogger(__name__)

# Node ids as a SuperLink would hand them out: anything but 0 and the
# SuperLink's own id; department k (Flower's partition id k) is node 1000 + k.
_FIRST_NODE_ID = 1000
_RUN_ID = 1


# A ClientApp, or any callable that answers a message as one would.
NodeHandler = Callable[[Message, Context], Message]


class InProcessError(FedgovError):
    """The in-process run ended without producing a run record."""


@dataclass(frozen=True)
class RoundTraffic:
    """Serialised message bytes one round carried, both directions, all departments."""

    messages: int
    bytes_down: int
    bytes_up: int


def _through_the_wire(message: Message) -> tuple[Message, int]:
    data = message_to_proto(message).SerializeToString()
    proto = ProtoMessage()
    proto.ParseFromString(data)
    return message_from_proto(proto), len(data)


class WireGrid(Grid):
    """Delivers each message to its department's ClientApp, via protobuf bytes.

    A department that raises is answered for with an error reply, as Flower's
    runtimes do, so the coordinator's guard sees a failed department rather
    than a crashed job. Traffic accumulates until :meth:`take_traffic`.
    """

    def __init__(
        self,
        apps: Mapping[int, NodeHandler],
        *,
        node_configs: Mapping[int, Mapping[str, UserConfigValue]] | None = None,
    ) -> None:
        self._apps = dict(apps)
        extra = node_configs or {}
        self._contexts = {
            node_id: Context(
                run_id=_RUN_ID,
                node_id=node_id,
                node_config={
                    "partition-id": k,
                    "num-partitions": len(self._apps),
                    **extra.get(node_id, {}),
                },
                state=RecordDict(),
                run_config={},
            )
            for k, node_id in enumerate(self._apps)
        }
        self._run = Run.create_empty(_RUN_ID)
        self._messages = 0
        self._down = 0
        self._up = 0

    @classmethod
    def numbered(cls, apps: Sequence[NodeHandler]) -> WireGrid:
        """Department k (Flower's partition id k) as node 1000 + k."""
        return cls({_FIRST_NODE_ID + k: app for k, app in enumerate(apps)})

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return Message(content, dst_node_id, message_type, group_id=group_id, ttl=ttl)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._apps)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        raise NotImplementedError("WireGrid delivers through send_and_receive only")

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        raise NotImplementedError("WireGrid delivers through send_and_receive only")

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        replies = []
        for sent in messages:
            received, size = _through_the_wire(sent)
            self._messages += 1
            self._down += size
            reply = self._answer(received.metadata.dst_node_id, received)
            if reply is None:
                continue
            answer, size = _through_the_wire(reply)
            self._messages += 1
            self._up += size
            replies.append(answer)
        return replies

    def _answer(self, node_id: int, message: Message) -> Message | None:
        """The node's reply (``None``: no reply, as from a node that went away)."""
        try:
            return self._apps[node_id](message, self._contexts[node_id])
        except Exception as exc:  # a runtime answers for a crashed ClientApp
            logger.warning("department node %d raised: %s", node_id, exc)
            return Message(
                Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=str(exc)),
                reply_to=message,
            )

    def take_traffic(self) -> RoundTraffic:
        """Traffic since the previous call."""
        traffic = RoundTraffic(self._messages, self._down, self._up)
        self._messages = self._down = self._up = 0
        return traffic


@dataclass
class _Recorder:
    grid: WireGrid
    on_round: Callable[[RoundReport], None] | None
    started: float = field(default_factory=time.perf_counter)
    traffic: list[dict[str, float]] = field(default_factory=list)
    records: list[RunRecord] = field(default_factory=list)

    def round_done(self, report: RoundReport) -> None:
        traffic = self.grid.take_traffic()
        self.traffic.append(
            {
                "server_round": report.server_round,
                "messages": traffic.messages,
                "bytes_down": traffic.bytes_down,
                "bytes_up": traffic.bytes_up,
                "elapsed_seconds": time.perf_counter() - self.started,
            }
        )
        if self.on_round is not None:
            self.on_round(report)


class InProcessEngine:
    """Runs a job's ServerApp and one ClientApp per department in this process.

    Same interface as :class:`fedgov.engines.simulation.SimulationEngine`. The
    record's ``engine`` is ``"inprocess"``; ``extra["traffic"]`` lists each
    round's message count and serialised bytes down (coordinator to
    departments) and up, and the seconds elapsed since the job started.
    ``roles`` is where the departments read analysts' roles (default: each
    department's node configuration).
    """

    def __init__(
        self,
        *,
        allow_non_private: bool = False,
        ledger: CountyLedger | Literal["county"] | None = FROM_COUNTY,
        roles: RoleSource | None = None,
    ) -> None:
        self.allow_non_private = allow_non_private
        self.ledger = ledger
        self.roles = roles
        if allow_non_private:
            warn_once(
                "inprocess-non-private",
                "in-process engine allows NON-PRIVATE training: for baselines only",
            )

    def run(
        self,
        job: TrainJob,
        *,
        on_round: Callable[[RoundReport], None] | None = None,
        sources: DepartmentSources | None = None,
    ) -> RunRecord:
        job = job_with_sources(job, sources)
        ledger = resolve_ledger(self.ledger) if job.audit else None
        job = prepare_job(job, ledger)
        departments = departments_for(job)
        apps = [
            make_client_app(
                job=job,
                allow_non_private=self.allow_non_private,
                sources=sources,
                roles=self.roles,
            )
            for _ in departments
        ]
        grid = WireGrid.numbered(apps)
        recorder = _Recorder(grid=grid, on_round=on_round)
        server_app = make_server_app(
            job=job,
            engine="inprocess",
            on_round=recorder.round_done,
            on_record=recorder.records.append,
            ledger=ledger,
        )
        # Flower stamps the coordinator's messages with the running task's
        # identity; its simulation sets the same for the ServerApp thread.
        TaskIdentity.task_id = 1
        TaskIdentity.run_id = _RUN_ID
        TaskIdentity.node_id = SUPERLINK_NODE_ID
        context = Context(
            run_id=_RUN_ID,
            node_id=SUPERLINK_NODE_ID,
            node_config={},
            state=RecordDict(),
            run_config={},
        )
        server_app(grid, context)
        if not recorder.records:
            raise InProcessError(
                f"in-process run of job {job.job_id!r} ended without a run record; "
                "see the log above"
            )
        record = recorder.records[0]
        return replace(record, extra={**record.extra, "traffic": recorder.traffic})
