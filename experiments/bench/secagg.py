"""What SecAgg+ costs a training round: wall time and traffic against plain FedAvg.

Run ``python -m experiments.bench.secagg``. One simulation (RandHIE's six
sites, the default model and DP settings) runs blocks of plain and secure
rounds alternately (plain, secure | secure, plain | ...) over the same
Ray actors and departments, so both modes share the run and process
conditions, including whatever else the machine is doing at the time. The
first round of each block is left out (the very first also starts Ray,
loads data and calibrates noise).

Reported per mode: the median round wall time (``round_seconds``), the
median train phase (``train_seconds``: until the aggregate is known, which
for SecAgg+ is all four of its stages) and the bytes each department sent
and received per training round, counted on the coordinator's Grid. Anchor:
Bonawitz et al. (CCS 2017) report a 1.73x communication expansion for SecAgg
at their largest setting; fedgov's target is at most 1.5x round wall time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from flwr.app import ArrayRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp

from coordinator.secagg import SecAggSettings, run_secure_training
from coordinator.training import run_training
from department_nodes.client_app import make_client_app
from fedgov.engines.simulation import simulate
from fedgov.job import TrainJob
from fedgov.job_data import departments_for, model_spec
from fedgov.models import build_model

if TYPE_CHECKING:
    from flwr.supercore.run import Run

    from coordinator.guard import RoundReport


def _value_bytes(value: object) -> int:
    if isinstance(value, list):
        return sum(_value_bytes(v) for v in value)
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, str):
        return len(value.encode())
    return 1 if isinstance(value, bool) else 8


def _size(content: RecordDict) -> int:
    # Flower's own count_bytes refuses ConfigRecords holding lists (SecAgg+'s).
    total = 0
    for name, record in content.items():
        total += len(name)
        if isinstance(record, ArrayRecord):
            total += record.count_bytes()
        else:
            total += sum(len(k) + _value_bytes(v) for k, v in record.items())
    return total


def _phase(msg: Message) -> str:
    configs = msg.content.config_records.get("secaggplus_configs")
    if configs is not None:
        return "train"  # any SecAgg+ stage
    return msg.metadata.message_type.split(".")[0]


def _stage(msg: Message) -> str:
    # SecAgg+'s stage, or the message type of a plain message.
    configs = msg.content.config_records.get("secaggplus_configs")
    if configs is not None:
        return str(configs.get("stage"))
    return msg.metadata.message_type.split(".")[0]


def _opens_round(msg: Message) -> bool:
    # A department's training round starts with a plain train message or
    # with SecAgg+'s setup stage.
    configs = msg.content.config_records.get("secaggplus_configs")
    if configs is not None:
        return configs.get("stage") == "setup"
    return msg.metadata.message_type == "train"


class CountingGrid(Grid):
    """The engine's Grid, counting the bytes of every message in each direction."""

    def __init__(self, grid: Grid) -> None:
        self._grid = grid
        self.sent: dict[str, int] = defaultdict(int)
        self.received: dict[str, int] = defaultdict(int)
        self.messages: dict[str, int] = defaultdict(int)
        self.department_rounds: dict[str, int] = defaultdict(int)
        self.round_trips: dict[str, list[float]] = defaultdict(list)

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

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self._grid.pull_messages(message_ids)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        outgoing = list(messages)
        for msg in outgoing:
            self.sent[_phase(msg)] += _size(msg.content)
            self.messages[_phase(msg)] += 1
            if _opens_round(msg):
                self.department_rounds[msg.metadata.message_type] += 1
        started = time.perf_counter()
        replies = list(self._grid.send_and_receive(outgoing, timeout=timeout))
        if outgoing:
            self.round_trips[_stage(outgoing[0])].append(time.perf_counter() - started)
        for reply in replies:
            if reply.has_content():
                self.received[_phase(reply)] += _size(reply.content)
        return replies

    def take(self) -> Counts:
        """What was counted since the last call."""
        counts = Counts(
            bytes_down=self.sent.get("train", 0),
            bytes_up=self.received.get("train", 0),
            messages=self.messages.get("train", 0),
            department_rounds=self.department_rounds.get("train", 0),
            round_trips={k: list(v) for k, v in self.round_trips.items()},
        )
        for table in (self.sent, self.received, self.messages, self.department_rounds):
            table.clear()
        self.round_trips.clear()
        return counts


@dataclass(frozen=True)
class Counts:
    """Training traffic since the last count, and each kind of round trip's duration."""

    bytes_down: int
    bytes_up: int
    messages: int
    department_rounds: int
    round_trips: dict[str, list[float]]


@dataclass
class Measured:
    """One mode's rounds and traffic, summed over its blocks."""

    label: str
    round_seconds: list[float] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    bytes_down: int = 0
    bytes_up: int = 0
    messages: int = 0
    department_rounds: int = 0
    round_trips: dict[str, list[float]] = field(default_factory=dict)

    def add(self, reports: list[RoundReport], grid: CountingGrid) -> None:
        self.round_seconds += [r.round_seconds for r in reports[1:]]
        self.train_seconds += [r.train_seconds for r in reports[1:]]
        counts = grid.take()
        self.bytes_down += counts.bytes_down
        self.bytes_up += counts.bytes_up
        self.messages += counts.messages
        self.department_rounds += counts.department_rounds
        for stage, seconds in counts.round_trips.items():
            self.round_trips.setdefault(stage, []).extend(seconds)

    def per_department_round(self, value: int) -> float:
        return value / max(self.department_rounds, 1)

    def median_round(self) -> float:
        return statistics.median(self.round_seconds)

    def median_train(self) -> float:
        return statistics.median(self.train_seconds)


def _run_blocks(
    base: TrainJob, root: Path, *, blocks: int, num_cpus: int
) -> dict[bool, Measured]:
    measured = {False: Measured("plain FedAvg"), True: Measured("SecAgg+")}
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        counting = CountingGrid(grid)
        for block in range(blocks):
            for secure in (False, True) if block % 2 == 0 else (True, False):
                name = f"{'secure' if secure else 'plain'}-{block}"
                job = replace(
                    base,
                    job_id=f"bench-secagg-{name}",
                    secure_aggregation=secure,
                    run_dir=str(root / name),
                )
                reports: list[RoundReport] = []
                if secure:
                    run_secure_training(
                        counting,
                        context,
                        job,
                        engine="simulation",
                        on_round=reports.append,
                    )
                else:
                    run_training(
                        counting, job, engine="simulation", on_round=reports.append
                    )
                measured[secure].add(reports, counting)
                print(
                    f"block {block} {name}: rounds "
                    + ", ".join(f"{r.round_seconds:.2f}" for r in reports),
                    flush=True,
                )

    # The departments' job covers every round of every block: one DP plan and
    # one budget for the whole benchmark. They answer SecAgg+ rounds whatever
    # their job says (the rounds carry SecAgg+'s own records).
    departments_job = replace(base, num_rounds=base.num_rounds * blocks * 2)
    simulate(
        server_app,
        make_client_app(job=departments_job),
        num_supernodes=len(departments_for(base)),
        num_cpus=num_cpus,
    )
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="rounds per block (>= 2)")
    parser.add_argument("--blocks", type=int, default=3, help="blocks of each mode")
    parser.add_argument("--num-cpus", type=int, default=2)
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be >= 2: each block's first round is left out")
    root = Path(tempfile.mkdtemp(prefix="fedgov-bench-secagg-"))
    base = TrainJob(
        job_id="bench-secagg", num_rounds=args.rounds, state_dir=str(root / "state")
    )
    started = time.perf_counter()
    runs = _run_blocks(base, root, blocks=args.blocks, num_cpus=args.num_cpus)
    print(f"benchmark: {time.perf_counter() - started:.1f} s in all", flush=True)
    departments = len(departments_for(base))
    parameters = sum(
        t.numel() for t in build_model(model_spec(base)).state_dict().values()
    )
    settings = SecAggSettings.for_training(base, num_departments=departments)
    print()
    print(
        f"{departments} departments (RandHIE natural partition), {parameters} parameters, "
        f"{args.blocks} blocks of {args.rounds} rounds per mode (each block's first "
        f"left out), {args.num_cpus} CPUs"
    )
    print(
        f"SecAgg+: threshold {settings.reconstruction_threshold} "
        f"(tolerates {settings.tolerated_dropouts} dropouts), clipping range "
        f"{settings.clipping_range:g}, quantization range 2^"
        f"{settings.quantization_range.bit_length() - 1}"
    )
    header = (
        f"{'':<14}{'round (s)':>11}{'train (s)':>11}{'msgs/dept':>11}"
        f"{'down B/dept':>13}{'up B/dept':>11}"
    )
    print(header)
    for secure in (False, True):
        m = runs[secure]
        print(
            f"{m.label:<14}{m.median_round():>11.2f}{m.median_train():>11.2f}"
            f"{m.per_department_round(m.messages):>11.0f}"
            f"{m.per_department_round(m.bytes_down):>13.0f}"
            f"{m.per_department_round(m.bytes_up):>11.0f}"
        )
    plain, secure_run = runs[False], runs[True]

    def ratio(attribute: str) -> float:
        return secure_run.per_department_round(
            getattr(secure_run, attribute)
        ) / plain.per_department_round(getattr(plain, attribute))

    print(
        f"{'ratio':<14}{secure_run.median_round() / plain.median_round():>10.2f}x"
        f"{secure_run.median_train() / plain.median_train():>10.2f}x"
        f"{ratio('messages'):>10.0f}x{ratio('bytes_down'):>12.2f}x"
        f"{ratio('bytes_up'):>10.2f}x"
    )
    expansion = secure_run.per_department_round(
        secure_run.bytes_down + secure_run.bytes_up
    ) / plain.per_department_round(plain.bytes_down + plain.bytes_up)
    print(
        f"communication expansion (down + up): {expansion:.2f}x "
        "(Bonawitz et al. 2017: 1.73x); wall-time target: <= 1.5x"
    )
    print("median round trip per kind of message (s):")
    for secure in (False, True):
        m = runs[secure]
        trips = ", ".join(
            f"{stage} {statistics.median(seconds):.2f}"
            for stage, seconds in m.round_trips.items()
        )
        print(f"  {m.label}: {trips}")
    for secure in (False, True):
        m = runs[secure]
        rounds = ", ".join(f"{s:.2f}" for s in m.round_seconds)
        print(f"{m.label} round times (s): {rounds}")


if __name__ == "__main__":
    main()
