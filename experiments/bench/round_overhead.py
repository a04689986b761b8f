"""What a round costs beyond the departments' own work, per engine, and why.

Run ``python -m experiments.bench.round_overhead``. One DP job runs on the
simulation engine and twice on the deployment engine (a real SuperLink and
one SuperNode process per department), side by side in one run:

* **Flower's pace, cold** (``DeploymentEngine(department_services=False,
  poll_seconds=None)``): what a deployment cost before fedgov kept its
  departments warm: Flower's polling (3 s SuperNode and Grid, 1 s
  SuperExec), and every message runs the whole department ClientApp in a
  fresh ``flwr-clientapp`` process (torch, Opacus, fedgov imported, the
  records read again);
* **warm** (the default): a department service per department holds the
  ClientApp, its imports and its records; the ``flwr-clientapp`` process
  runs the thin relay ClientApp; fedgov's processes poll every 0.1 s.

A round's *overhead* is its wall time (``round_seconds`` in the run record)
minus the slowest department's local compute in that round. Nodes do not
report their compute time, so it is measured here, in this process: each
department's ``train`` and ``evaluate`` handlers on the same job, one fresh
``DepartmentNode`` per message as every engine makes them.

The deployment overhead is then taken apart, each part measured:

* a message round trip through SuperLink and SuperNodes with a ClientApp
  that does nothing (Flower's polling and the ``flwr-clientapp`` process),
  from a throw-away Flower App this benchmark writes and runs, at both paces;
* the start of a fresh ClientApp process: interpreter, ``flwr``, then the
  relay ClientApp (what a warm deployment imports per message) and fedgov's
  whole ClientApp (torch, Opacus: what a cold one imports), then the
  department's data.

Keep departments <= cores: with more, departments queue for a core in both
engines and the queueing shows up as overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Message,
    MessageType,
    Metadata,
    RecordDict,
)

from department_nodes.node import DepartmentNode, NodePolicy
from fedgov import protocol as p
from fedgov.engines._deployment_federation import start_federation
from fedgov.engines._deployment_flower import write_run_config
from fedgov.engines.deployment import DeploymentEngine
from fedgov.engines.simulation import SimulationEngine
from fedgov.job import TrainJob
from fedgov.job_data import departments_for, model_spec
from fedgov.models import build_model
from fedgov.polling import POLL_SECONDS

if TYPE_CHECKING:
    from fedgov.run_record import RunRecord

# A Flower App whose ClientApp answers at once: what is left of a message
# round trip is Flower's own machinery.
_NULL_PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "nullapp"
version = "1.0.0"
description = "fedgov benchmark: message round trips with a ClientApp that does nothing"
license = "Apache-2.0"
dependencies = []

[tool.flwr.app]
publisher = "fedgov"

[tool.flwr.app.components]
serverapp = "nullapp.server:app"
clientapp = "nullapp.client:app"

[tool.flwr.app.config]
nodes = 1
messages = 1
out = ""
"""
_NULL_SERVER = """\
import json
import time
from pathlib import Path

from flwr.app import ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import ServerApp

from coordinator.polling import prompt

app = ServerApp()


@app.main()
def main(grid, context):
    # As fedgov's ServerApp: replies pulled at FEDGOV_POLL_SECONDS (3 s at
    # Flower's pace, as Flower's own Grid).
    grid = prompt(grid)
    config = context.run_config
    while len(list(grid.get_node_ids())) < int(config["nodes"]):
        time.sleep(0.2)
    seconds = []
    for index in range(int(config["messages"])):
        messages = [
            Message(RecordDict({"q": ConfigRecord({"i": index})}), dst_node_id=node,
                    message_type=MessageType.QUERY)
            for node in grid.get_node_ids()
        ]
        started = time.perf_counter()
        replies = list(grid.send_and_receive(messages, timeout=600))
        seconds.append(time.perf_counter() - started)
        assert len(replies) == len(messages)
    Path(str(config["out"])).write_text(json.dumps(seconds))
"""
_NULL_CLIENT = """\
from flwr.app import RecordDict, Message
from flwr.clientapp import ClientApp

app = ClientApp()


@app.query()
def query(msg, context):
    return Message(RecordDict(), reply_to=msg)
"""
# A fresh fedgov ClientApp process, phase by phase, as flwr-clientapp runs
# it: its own imports, the relay app's, the whole app's, then one message's
# handler (which loads the department's data in a cold process). The handler is imported
# from this module after the timed imports, so it adds nothing to them.
_COLD_START = """\
import json, sys, tempfile, time
from pathlib import Path
t0 = time.perf_counter()
from flwr.supernode.cli import flwr_clientapp
t1 = time.perf_counter()
import department_nodes.relay_app
t2 = time.perf_counter()
import department_nodes.client_app
t3 = time.perf_counter()
from experiments.bench.round_overhead import handler_seconds
from fedgov.job import TrainJob
from flwr.app import RecordDict
job = TrainJob.from_run_config(json.loads(sys.argv[1]))
handler = handler_seconds(
    job, sys.argv[2], sys.argv[3], state_dir=Path(tempfile.mkdtemp()), state=RecordDict(),
    server_round=1,
)
print(json.dumps([t1 - t0, t2 - t1, t3 - t2, handler]))
"""


def _received(content: RecordDict, kind: str, server_round: int) -> Message:
    """A message as a SuperNode hands it to its ClientApp.

    Flower builds those from their metadata, a constructor its type stubs
    leave out.
    """
    metadata = Metadata(
        run_id=1,
        message_id=f"{kind}-{server_round}",
        src_node_id=1,
        dst_node_id=2,
        reply_to_message_id="",
        group_id=str(server_round),
        created_at=time.time(),
        ttl=3600.0,
        message_type=kind,
    )
    received: Message = Message(content, metadata=metadata)  # type: ignore[call-overload]
    return received


def handler_seconds(
    job: TrainJob,
    department: str,
    kind: str,
    *,
    state_dir: Path,
    state: RecordDict,
    server_round: int,
) -> float:
    """One ``train`` or ``evaluate`` message on a fresh ``DepartmentNode``, in seconds.

    ``state`` plays the node's ``Context.state`` (the job's noise plan is
    kept there after the first round).
    """
    torch.set_num_threads(1)  # as each department's ClientApp does
    arrays = ArrayRecord(build_model(model_spec(job), seed=job.seed).state_dict())
    config = ConfigRecord(
        {p.Instruction.SERVER_ROUND: server_round, p.Instruction.JOB_ID: job.job_id}
    )
    message = _received(
        RecordDict({p.Record.ARRAYS: arrays, p.Record.CONFIG: config}),
        kind,
        server_round,
    )
    node = DepartmentNode(
        job, NodePolicy(department=department, state_dir=state_dir), state
    )
    started = time.perf_counter()
    if kind == MessageType.TRAIN:
        node.train(message)
    else:
        node.evaluate(message)
    return time.perf_counter() - started


def local_compute(
    job: TrainJob, departments: list[str], state_dir: Path
) -> list[float]:
    """Per round, the slowest department's train + evaluate handler time (seconds)."""
    per_round = [0.0] * job.num_rounds
    for department in departments:
        state = RecordDict()
        for index in range(job.num_rounds):
            seconds = sum(
                handler_seconds(
                    job, department, kind, state_dir=state_dir, state=state,
                    server_round=index + 1,
                )
                for kind in (MessageType.TRAIN, MessageType.EVALUATE)
            )  # fmt: skip
            per_round[index] = max(per_round[index], seconds)
    return per_round


def null_round_trips(
    departments: list[str],
    messages: int,
    folder: Path,
    *,
    poll_seconds: float | None,
) -> list[float]:
    """Seconds per message round trip to every SuperNode, ClientApp doing nothing."""
    app = folder / "nullapp"
    (app / "nullapp").mkdir(parents=True)
    (app / "pyproject.toml").write_text(_NULL_PYPROJECT)
    (app / "nullapp" / "__init__.py").write_text("")
    (app / "nullapp" / "server.py").write_text(_NULL_SERVER)
    (app / "nullapp" / "client.py").write_text(_NULL_CLIENT)
    out = folder / "null-round-trips.json"
    run_config = write_run_config(
        folder / "null-run-config.toml",
        {"nodes": len(departments), "messages": messages, "out": str(out)},
    )
    nodes = {d: {"department": d} for d in departments}
    with start_federation(
        folder / "null-run",
        nodes,
        tls=None,
        startup_timeout=300,
        poll_seconds=poll_seconds,
    ) as federation:
        federation.run_app(app_dir=app, run_config=run_config, timeout=900)
    seconds: list[float] = json.loads(out.read_text())
    return seconds


def cold_start(job: TrainJob, department: str, kind: str, repeats: int) -> list[float]:
    """Fastest of ``repeats`` fresh processes, in seconds per phase.

    [interpreter, flwr-clientapp's imports, relay app's imports, fedgov
    ClientApp's imports, handler].
    """
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        interpreter = time.perf_counter() - started
        done = subprocess.run(
            [sys.executable, "-c", _COLD_START, json.dumps(job.to_run_config()), department,
             kind],
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(
                f"a fresh ClientApp process failed:\n{done.stderr[-3000:]}"
            )
        runs.append([interpreter, *json.loads(done.stdout.strip().splitlines()[-1])])
    return min(runs, key=sum)


def _run(
    engine: DeploymentEngine | SimulationEngine, job: TrainJob
) -> tuple[float, RunRecord]:
    started = time.perf_counter()
    record = engine.run(job)
    return time.perf_counter() - started, record


def _row(name: str, values: list[float]) -> str:
    cells = "".join(f"{v:>10.2f}" for v in values)
    return f"  {name:<28}{cells}{statistics.mean(values):>10.2f}"


def _deployed(
    name: str, record: RunRecord, compute: list[float], flower: dict[str, object]
) -> tuple[list[float], list[float], float]:
    rounds = [float(r["round_seconds"]) for r in record.rounds]
    over = [r - c for r, c in zip(rounds, compute, strict=True)]
    print(_row(f"{name}: round", rounds))
    print(_row(f"{name}: overhead", over))
    compute_time = flower.get("compute-time", {})
    assert isinstance(compute_time, dict)
    return rounds, over, float(compute_time.get("clientapp-seconds", 0.0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="randhie")
    parser.add_argument(
        "--departments", type=int, default=min(3, os.cpu_count() or 1),
        help="Dirichlet departments (default: min(3, cores))",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="logreg")
    parser.add_argument("--null-messages", type=int, default=4)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)

    with tempfile.TemporaryDirectory(prefix="fedgov-bench-") as tmp:
        folder = Path(tmp)
        job = TrainJob(
            job_id="bench-overhead",
            dataset=args.dataset,
            partition="dirichlet",
            num_departments=args.departments,
            num_rounds=args.rounds,
            model=args.model,
            epsilon=1.0,
            min_departments=args.departments,
        )
        departments = departments_for(job)
        print(
            f"job: {job.dataset}, {len(departments)} Dirichlet departments, "
            f"{job.model}, {job.num_rounds} DP rounds (epsilon {job.epsilon}); "
            f"{os.cpu_count()} cores"
        )
        # The least of two passes: a busy machine only ever adds time.
        compute = [
            min(pair)
            for pair in zip(
                local_compute(job, departments, folder / "compute-state-1"),
                local_compute(job, departments, folder / "compute-state-2"),
                strict=True,
            )
        ]
        # The slowest department decides a round: per kind, its coldest start.
        # First: a ClientApp that cannot start fails here, in seconds.
        cold = {
            kind: max(
                (cold_start(job, d, kind, repeats=2) for d in departments), key=sum
            )
            for kind in (MessageType.TRAIN, MessageType.EVALUATE)
        }

        def job_in(name: str) -> TrainJob:
            return replace(
                job,
                run_dir=str(folder / name / "run"),
                state_dir=str(folder / name / "state"),
            )

        def flower_account(name: str) -> dict[str, object]:
            path = folder / name / "run" / "flwr-run.json"
            account: dict[str, object] = json.loads(path.read_text())
            return account

        sim_wall, sim = _run(SimulationEngine(), job_in("simulation"))
        cold_engine = DeploymentEngine(department_services=False, poll_seconds=None)
        cold_wall, cold_record = _run(cold_engine, job_in("cold"))
        warm_wall, warm_record = _run(DeploymentEngine(), job_in("warm"))
        trips_flower = null_round_trips(
            departments, args.null_messages, folder / "null-3s", poll_seconds=None
        )
        trips_fedgov = null_round_trips(
            departments, args.null_messages, folder / "null-fast",
            poll_seconds=POLL_SECONDS,
        )  # fmt: skip
        accounts = {name: flower_account(name) for name in ("cold", "warm")}

    header = "".join(f"{f'round {i + 1}':>10}" for i in range(job.num_rounds))
    print(f"\nseconds per round{'':<13}{header}{'mean':>10}")
    print(_row("slowest department compute", compute))
    sim_rounds = [float(r["round_seconds"]) for r in sim.rounds]
    sim_over = [r - c for r, c in zip(sim_rounds, compute, strict=True)]
    print(_row("simulation: round", sim_rounds))
    print(_row("simulation: overhead", sim_over))
    cold_rounds, cold_over, cold_app = _deployed(
        "Flower's pace, cold", cold_record, compute, accounts["cold"]
    )
    warm_rounds, warm_over, warm_app = _deployed(
        "warm deployment", warm_record, compute, accounts["warm"]
    )
    # Round 1 also pays for warming up (Ray actors or the department service
    # import the ClientApp, the departments load their data and calibrate
    # noise); later rounds do not.
    steady = {
        name: statistics.mean(over[1:] or over)
        for name, over in (
            ("simulation", sim_over), ("cold", cold_over), ("warm", warm_over),
        )
    }  # fmt: skip
    print(
        f"  overhead from round 2 on: simulation {steady['simulation']:.2f} s, "
        f"deployment at Flower's pace, cold {steady['cold']:.2f} s, "
        f"warm deployment {steady['warm']:.2f} s "
        f"({steady['cold'] / max(steady['warm'], 1e-9):.1f}x less)"
    )
    print(
        "\nwhole job (wall):\n"
        f"  simulation                 {sim_wall:7.1f} s, of which outside rounds "
        f"{sim_wall - sum(sim_rounds):5.1f} s (Ray start, model, record)\n"
        f"  deployment, Flower's pace  {cold_wall:7.1f} s, of which outside rounds "
        f"{cold_wall - sum(cold_rounds):5.1f} s\n"
        f"  warm deployment            {warm_wall:7.1f} s, of which outside rounds "
        f"{warm_wall - sum(warm_rounds):5.1f} s (processes start, services import, "
        "nodes register, app bundle, ServerApp process, stop)"
    )
    messages = 2 * len(departments) * job.num_rounds
    interpreter, clientapp_import, relay_import, _, _ = cold[MessageType.TRAIN]
    app_import = statistics.mean(c[3] for c in cold.values())
    train_cold, evaluate_cold = (
        cold[MessageType.TRAIN][4],
        cold[MessageType.EVALUATE][4],
    )
    trip_flower, trip_fedgov = (
        statistics.mean(trips_flower),
        statistics.mean(trips_fedgov),
    )
    print(
        "\ndeployment, per message (a round sends train, then evaluate, to every "
        "department):\n"
        "  Flower's machinery, ClientApp doing nothing, round trip: "
        f"{trip_flower:5.2f} s at Flower's pace (min {min(trips_flower):.2f}), "
        f"{trip_fedgov:5.2f} s at fedgov's 0.1 s (min {min(trips_fedgov):.2f}; "
        f"{len(trips_fedgov)} trips each)\n"
        "    Flower's pace: SuperNode pulls every 3 s when idle, the Grid pulls\n"
        "    replies every 3 s, SuperExec looks for tasks every 1 s; both paces\n"
        "    start one flwr-clientapp process per message and SuperNode: "
        f"interpreter {interpreter:.2f} s + its imports {clientapp_import:.2f} s\n"
        f"  in that fresh process, cold: fedgov's whole ClientApp imports (torch, "
        f"Opacus, fedgov) {app_import:.2f} s, then the handler with cold caches "
        f"(data loaded again): train {train_cold:.2f} s, evaluate "
        f"{evaluate_cold:.2f} s\n"
        f"  in that fresh process, warm: the relay ClientApp imports "
        f"{relay_import:.2f} s; the handler runs in the department service\n"
        f"  Flower's own account, per message inside ClientApp processes: "
        f"cold {cold_app / messages:.2f} s, warm {warm_app / messages:.2f} s "
        f"({messages} messages each)\n"
        f"  (every department's processes and {2 + 2 * len(departments)} Flower "
        f"daemons share {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
