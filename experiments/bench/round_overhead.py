"""What a round costs beyond the departments' own work, per engine, and why.

Run ``python -m experiments.bench.round_overhead``. One DP job runs on the
simulation engine and on the deployment engine (a real SuperLink and one
SuperNode process per department); a round's *overhead* is its wall time
(``round_seconds`` in the run record) minus the slowest department's local
compute in that round. Nodes do not report their compute time, so it is
measured here, in this process: each department's ``train`` and
``evaluate`` handlers on the same job, one fresh ``DepartmentNode`` per
message as both engines make them.

The deployment overhead is then taken apart, each part measured:

* a message round trip through SuperLink and SuperNodes with a ClientApp
  that does nothing (Flower's polling and the ``flwr-clientapp`` process),
  from a throw-away Flower App this benchmark writes and runs;
* the start of a fresh ClientApp process of fedgov: interpreter, ``flwr``,
  then fedgov's ClientApp (torch, Opacus), then the department's data.

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

app = ServerApp()


@app.main()
def main(grid, context):
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
# it: its own imports, the app's imports, then one message's handler (which
# loads the department's data in a cold process). The handler is imported
# from this module after the timed imports, so it adds nothing to them.
_COLD_START = """\
import json, sys, tempfile, time
from pathlib import Path
t0 = time.perf_counter()
from flwr.supernode.cli import flwr_clientapp
t1 = time.perf_counter()
import department_nodes.client_app
t2 = time.perf_counter()
from experiments.bench.round_overhead import handler_seconds
from fedgov.job import TrainJob
from flwr.app import RecordDict
job = TrainJob.from_run_config(json.loads(sys.argv[1]))
handler = handler_seconds(
    job, sys.argv[2], sys.argv[3], state_dir=Path(tempfile.mkdtemp()), state=RecordDict(),
    server_round=1,
)
print(json.dumps([t1 - t0, t2 - t1, handler]))
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
    departments: list[str], messages: int, folder: Path
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
        folder / "null-run", nodes, tls=None, startup_timeout=300
    ) as federation:
        federation.run_app(app_dir=app, run_config=run_config, timeout=900)
    seconds: list[float] = json.loads(out.read_text())
    return seconds


def cold_start(job: TrainJob, department: str, kind: str, repeats: int) -> list[float]:
    """Fastest of ``repeats`` fresh processes, in seconds per phase.

    [interpreter, flwr-clientapp's imports, fedgov app's imports, handler].
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

        sim_wall, sim = _run(SimulationEngine(), job_in("simulation"))
        dep_wall, dep = _run(DeploymentEngine(), job_in("deployment"))
        flower = json.loads(
            (folder / "deployment" / "run" / "flwr-run.json").read_text()
        )
        trips = null_round_trips(departments, args.null_messages, folder / "null")

    sim_rounds = [float(r["round_seconds"]) for r in sim.rounds]
    dep_rounds = [float(r["round_seconds"]) for r in dep.rounds]
    sim_over = [r - c for r, c in zip(sim_rounds, compute, strict=True)]
    dep_over = [r - c for r, c in zip(dep_rounds, compute, strict=True)]
    header = "".join(f"{f'round {i + 1}':>10}" for i in range(job.num_rounds))
    print(f"\nseconds per round{'':<13}{header}{'mean':>10}")
    print(_row("slowest department compute", compute))
    print(_row("simulation: round", sim_rounds))
    print(_row("simulation: overhead", sim_over))
    print(_row("deployment: round", dep_rounds))
    print(_row("deployment: overhead", dep_over))
    # Round 1 also pays for warming up (Ray actors import the ClientApp, the
    # departments load their data and calibrate noise); later rounds do not.
    steady_sim = statistics.mean(sim_over[1:] or sim_over)
    steady_dep = statistics.mean(dep_over[1:] or dep_over)
    ratio = f"{steady_dep / steady_sim:.0f}x" if steady_sim > 0.01 else "n/a"
    print(
        f"  overhead from round 2 on: simulation {steady_sim:.2f} s, "
        f"deployment {steady_dep:.2f} s ({ratio})"
    )
    print(
        "\nwhole job (wall):\n"
        f"  simulation {sim_wall:7.1f} s, of which outside rounds "
        f"{sim_wall - sum(sim_rounds):5.1f} s (Ray start, model, record)\n"
        f"  deployment {dep_wall:7.1f} s, of which outside rounds "
        f"{dep_wall - sum(dep_rounds):5.1f} s (processes start, nodes register, "
        "app bundle, ServerApp process, stop)"
    )
    messages = 2 * len(departments) * job.num_rounds
    clientapp_seconds = float(flower["compute-time"]["clientapp-seconds"]) / messages
    trip = statistics.mean(trips)
    interpreter, clientapp_import, _, _ = cold[MessageType.TRAIN]
    app_import = statistics.mean(c[2] for c in cold.values())
    train_cold, evaluate_cold = (
        cold[MessageType.TRAIN][3],
        cold[MessageType.EVALUATE][3],
    )
    predicted = 2 * trip + 2 * app_import + train_cold + evaluate_cold
    steady_round = statistics.mean(dep_rounds[1:] or dep_rounds)
    print(
        "\ndeployment, per message (a round sends train, then evaluate, to every "
        "department):\n"
        f"  Flower's machinery, ClientApp doing nothing: {trip:5.2f} s round trip "
        f"(min {min(trips):.2f}, max {max(trips):.2f}, {len(trips)} trips)\n"
        "    flwr 1.42 polls: SuperNode pulls every 3 s when idle, the ServerApp's\n"
        "    grid pulls replies every 3 s, SuperExec looks for tasks every 1 s;\n"
        "    and one flwr-clientapp process per message and SuperNode: "
        f"interpreter {interpreter:.2f} s + its imports {clientapp_import:.2f} s\n"
        f"  fedgov's ClientApp in that fresh process: imports (torch, Opacus, "
        f"fedgov) {app_import:.2f} s, then the handler with cold caches (data "
        f"loaded again): train {train_cold:.2f} s, evaluate {evaluate_cold:.2f} s\n"
        f"  Flower's own account: {clientapp_seconds:.2f} s per message inside "
        f"ClientApp processes ({messages} messages)\n"
        f"  predicted round = 2 x {trip:.2f} + 2 x {app_import:.2f} + "
        f"{train_cold:.2f} + {evaluate_cold:.2f} = {predicted:.2f} s; measured "
        f"{steady_round:.2f} s from round 2 on\n"
        f"    (the rest: {len(departments)} departments' ClientApp processes and "
        f"{2 + 2 * len(departments)} Flower daemons share {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
