"""``fedgov query`` from the command line: simulation engine vs a standing federation.

Run ``python -m experiments.bench.standing_query``. In a temporary county
(``fedgov init``, its chain node on anvil: ``make anvil``), side by side in
one run, every command as a user types it:

* ``fedgov query histogram ...`` with no federation up: the simulation
  engine starts (Ray, one simulated SuperNode per department) for the
  question;
* ``fedgov federation up``, then the same question ``--questions`` times:
  each ``fedgov query`` submits a Flower run to the standing SuperLink, whose
  departments answer from their warm services.

Each question is timed from the command's start to its exit. The JSON
answer's ``elapsed_s`` is the coordinator's own part (send to every
department, collect, combine); the rest is the command's start (Python,
fedgov's imports), ``flwr run`` (packing and sending the app), the
ServerApp's process (Flower starts one per run) and the audit records
anchored on the county's chain.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FEDGOV = str(Path(sys.executable).with_name("fedgov"))
QUESTION = (
    "fedgov query histogram --dataset randhie --column mdvis --bins 0,1,2,5,10,20,80 "
    "--group-by female --epsilon 0.01 --json"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fedgov(command: str, env: dict[str, str]) -> tuple[float, str]:
    """Seconds ``command`` took as typed, and its output; raises when it fails."""
    argv = shlex.split(command)
    started = time.perf_counter()
    done = subprocess.run(
        [FEDGOV, *argv[1:]], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"`{command}` exited {done.returncode}:\n{done.stderr[-3000:]}"
        )
    return seconds, done.stdout


def _elapsed(output: str) -> float:
    return float(json.loads(output[output.index("{") :])["elapsed_s"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument(
        "--departments",
        default="",
        help="comma-separated departments for `federation up` (default: all six)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fedgov-bench-standing-") as tmp:
        env = {**os.environ, "FEDGOV_HOME": str(Path(tmp) / "home")}
        _fedgov(f"fedgov init --county bench --port {_free_port()}", env)
        try:
            simulated, output = _fedgov(QUESTION, env)
            simulated_inner = _elapsed(output)
            print(f"  simulation engine: {simulated:.2f} s", flush=True)
            up = "fedgov federation up --dataset randhie --timeout 600"
            if args.departments:
                up += f" --departments {args.departments}"
            up_seconds, _ = _fedgov(up, env)
            standing: list[float] = []
            inner: list[float] = []
            try:
                for _ in range(args.questions):
                    seconds, output = _fedgov(QUESTION, env)
                    standing.append(seconds)
                    inner.append(_elapsed(output))
                    print(
                        f"  question {len(standing)}: {seconds:.2f} s "
                        f"(coordinator's part {inner[-1]:.2f} s)",
                        flush=True,
                    )
            finally:
                down_seconds, _ = _fedgov("fedgov federation down", env)
        finally:
            _fedgov("fedgov ledger node stop", env)
    print(f"question: {QUESTION}\n{os.cpu_count()} cores\n")
    print(
        f"  no federation (simulation engine):  {simulated:7.2f} s "
        f"(of which the coordinator's own part {simulated_inner:.2f} s)"
    )
    print(f"  fedgov federation up:               {up_seconds:7.2f} s (once)")
    print(
        f"  standing federation, first question {standing[0]:7.2f} s; each after: "
        f"mean {statistics.mean(standing[1:] or standing):.2f} s, "
        f"min {min(standing):.2f} s"
    )
    print(
        f"  {len(standing)} questions:                      {sum(standing):7.2f} s "
        f"(simulation: {len(standing)} x {simulated:.1f} = "
        f"{len(standing) * simulated:.1f} s; {simulated / statistics.mean(standing):.1f}x)"
    )
    print(
        f"  of each, the coordinator's own part (send, answer, combine): mean "
        f"{statistics.mean(inner):.2f} s; the rest (command start, flwr run, "
        f"ServerApp process, audit anchoring): mean "
        f"{statistics.mean(s - i for s, i in zip(standing, inner, strict=True)):.2f} s"
    )
    print(f"  fedgov federation down:             {down_seconds:7.2f} s")


if __name__ == "__main__":
    main()
