"""Auditing a federated job: hook overhead, anchors, and the auditor's speed.

Run ``python -m experiments.bench.audit_verify`` (``--help`` for sizes). It
runs a job of ``--departments`` departments and ``--rounds`` DP rounds
through the real audit hooks (the department mod, the coordinator's hook and
its relay, at the product's relay policy) on the embedded chain or anvil. Departments answer with the test
suite's stand-in handlers (DP figures from the real accountant, random
updates: :mod:`tests.audit_federation`), so the figures are the
audit's own cost, not training's. It prints, side by side:

* the hook's cost per department message (open and check the log, append,
  sign a head) against the bare handler's;
* records per round and anchors per job (batching);
* the auditor: whole verification (logs, chain reads, every check, epsilon
  recomputed) in records per second, and without recomputing epsilon.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from flwr.app import Context, Message

from auditor.verify import verify_audit
from coordinator.audit import RELAY_POLICY
from experiments.bench._chains import chain_on
from ledger.chain import find_anvil
from ledger.keys import PlaintextKeyWarning
from tests.audit_federation import run_job, small_job
from tests.audit_fixtures import harness

if TYPE_CHECKING:
    from collections.abc import Callable

    from flwr.clientapp.typing import Mod


class _Timed:
    """Wraps the department mod and its handlers, timing both."""

    def __init__(self, mod: Mod) -> None:
        self.mod = mod
        self.total = 0.0
        self.handlers = 0.0
        self.messages = 0

    def __call__(
        self,
        msg: Message,
        context: Context,
        call_next: Callable[[Message, Context], Message],
    ) -> Message:
        def handler(inner: Message, ctx: Context) -> Message:
            started = time.perf_counter()
            try:
                return call_next(inner, ctx)
            finally:
                self.handlers += time.perf_counter() - started

        started = time.perf_counter()
        reply = self.mod(msg, context, handler)
        self.total += time.perf_counter() - started
        self.messages += 1
        return reply


def _bench(backend: str, departments: int, rounds: int) -> None:
    with chain_on(backend) as chain, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        job = small_job(job_id="bench", num_departments=departments, num_rounds=rounds)
        names = tuple(f"dept-{i}" for i in range(departments))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PlaintextKeyWarning)
            harnessed = harness(chain, root, names, RELAY_POLICY)
            env = next(harnessed)
        try:
            timed: list[_Timed] = []

            def wrap(mod: Mod) -> Mod:
                timed.append(_Timed(mod))
                return timed[-1]

            started = time.perf_counter()
            result = run_job(env, job, root / "run", wrap=wrap)
            run_s = time.perf_counter() - started
            sent = sum(s.anchors_sent for s in env.relay.status())
            paths = env.log_paths()
            timings = {}
            for epsilon in (True, False):
                started = time.perf_counter()
                report = verify_audit(
                    paths,
                    chain=chain,
                    registry=env.registry.address,
                    run_record=result.record,
                    recompute_epsilon=epsilon,
                )
                timings[epsilon] = time.perf_counter() - started
        finally:
            harnessed.close()
        (mod,) = timed
        hook_ms = (mod.total - mod.handlers) / mod.messages * 1000
        handler_ms = mod.handlers / mod.messages * 1000
        records = report.records
        print(f"\n== {backend}: {departments} departments, {rounds} rounds ==")
        print(
            f"job through the hooks        {run_s:8.2f} s  ({mod.messages} department messages)"
        )
        print(
            f"hook per department message  {hook_ms:8.2f} ms (stand-in handler {handler_ms:.2f} ms)"
        )
        print(
            f"records                      {records:8d}     ({records / rounds:.1f} per round)"
        )
        print(
            f"anchor transactions          {sent:8d}     ({records / max(sent, 1):.0f} records each)"
        )
        print(
            f"verify, epsilon recomputed   {timings[True]:8.2f} s  "
            f"({records / timings[True]:,.0f} records/s)  ok={report.ok}"
        )
        print(
            f"verify, figures only         {timings[False]:8.2f} s  "
            f"({records / timings[False]:,.0f} records/s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departments", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--backend", choices=("embedded", "anvil", "both"), default="both"
    )
    args = parser.parse_args()
    backends = ["embedded", "anvil"] if args.backend == "both" else [args.backend]
    if "anvil" in backends and find_anvil() is None:
        print("anvil is not installed (make anvil): embedded only")
        backends = ["embedded"]
    for backend in backends:
        _bench(backend, args.departments, args.rounds)


if __name__ == "__main__":
    main()
