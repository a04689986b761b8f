"""``fedgov query`` from the command line: an engine per question vs a standing federation.

Run ``python -m experiments.bench.standing_query``. In a temporary county
(``fedgov init``, its chain node on anvil: ``make anvil``), side by side in
one run, every command as a user types it:

* the old path: ``fedgov query histogram ...`` with no federation up, the
  simulation engine started (Ray, one simulated SuperNode per department)
  for the question, ``--engine-questions`` times (default 1; ten questions
  on this path are that many times as long, printed as such);
* the standing path: ``fedgov federation up``, then the same question
  ``--questions`` times (default 10): each ``fedgov query`` is a thin
  client that hands the question to the coordinator's query service (one
  query run, open since ``up``), whose departments answer from their warm
  services; audited, charged and recorded per question as before.

Each question is timed from the command's start to its exit. The JSON
answer's ``elapsed_s`` is the coordinator's own part (send to every
department, collect, combine); the rest is the command's start (Python and
what ``fedgov query`` imports), the socket, the query built and checked,
and the audit records anchored on the county's chain.
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
    parser.add_argument("--engine-questions", type=int, default=1)
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
            engine: list[float] = []
            engine_inner: list[float] = []
            for _ in range(args.engine_questions):
                seconds, output = _fedgov(QUESTION, env)
                engine.append(seconds)
                engine_inner.append(_elapsed(output))
                print(f"  simulation engine: {seconds:.2f} s", flush=True)
            simulated = statistics.mean(engine)
            simulated_inner = statistics.mean(engine_inner)
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
    with open("/proc/loadavg", encoding="ascii") as handle:
        load = handle.read().split()[:3]
    print(
        f"question: {QUESTION}\n{os.cpu_count()} cores, load average {' '.join(load)}\n"
    )
    n = len(standing)
    rest = statistics.mean(s - i for s, i in zip(standing, inner, strict=True))
    rows = [
        ("", "engine per question (old)", "standing federation", "ratio"),
        (
            "one question",
            f"{simulated:.2f} s",
            f"{standing[0]:.2f} s (first), {statistics.median(standing):.2f} s (median)",
            f"{simulated / statistics.median(standing):.1f}x",
        ),
        (
            f"{n} questions",
            f"{n * simulated:.1f} s ({n} x {simulated:.1f} s, "
            f"mean of {len(engine)} measured)",
            f"{sum(standing):.2f} s (measured)",
            f"{n * simulated / sum(standing):.1f}x",
        ),
        (
            "coordinator's own part",
            f"{simulated_inner:.2f} s",
            f"mean {statistics.mean(inner):.2f} s",
            "",
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(
            "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        )
    print(
        f"\n  standing, each question: min {min(standing):.2f} s, max "
        f"{max(standing):.2f} s; beyond the coordinator's own part (command "
        f"start, socket, query checks, audit anchoring): mean {rest:.2f} s"
    )
    print(f"  fedgov federation up:   {up_seconds:7.2f} s (once)")
    print(f"  fedgov federation down: {down_seconds:7.2f} s")


if __name__ == "__main__":
    main()
