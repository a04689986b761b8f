"""The auditor who comes back: verifying what is new against verifying everything.

Run ``python -m experiments.bench.audit_incremental`` (``--help`` for sizes).
In one run:

1. a department's log of ``--history`` records (default 1,000,000) is built
   with the product's own writer (:class:`~ledger.actor_log.ActorLog`:
   durable batches, a signed head after each, a C2SP checkpoint with it) and
   anchored by the product's relay on an in-process EVM; the history is
   built once per run, in a temporary folder;
2. the auditor verifies it all (:func:`auditor.verify.verify_audit`, what
   ``fedgov audit verify`` runs) and keeps its state
   (:func:`auditor.incremental.state_after_full`);
3. ``--new`` more records (default 1,000) are written and anchored the same
   way, and the auditor verifies only those
   (:func:`auditor.incremental.verify_since`, ``fedgov audit verify
   --since``), with the consistency proof from the head it checked last;
4. for the ratio, the full verification runs again over everything.

Target: the incremental run under 1 s. Both runs must pass.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from pathlib import Path

from eth_account import Account

from auditor.incremental import state_after_full, verify_since
from auditor.verify import verify_audit
from fedgov.types import ActorId, DatasetId, JobId, RunId
from ledger.actor_log import ActorLog
from ledger.county_ledger import CountyLedger
from ledger.keys import PlaintextKeyWarning
from ledger.layout import log_path
from ledger.records import Action, AuditRecord, Role
from ledger.store import LogStore
from ledger.witness_client import CheckpointPublisher

TARGET_S = 1.0


def _records(actor: str, start: int, count: int) -> list[AuditRecord]:
    """Evaluation rounds: data-touching records with every field filled."""
    return [
        AuditRecord(
            actor=ActorId(actor),
            role=Role.DEPARTMENT,
            action=Action.DATA_READ if i % 2 == 0 else Action.EVALUATE,
            timestamp_ms=1_764_000_000_000 + i,
            dataset=DatasetId("randhie"),
            purpose="health-cost model (approval 2026-014)",
            job=JobId(f"job-{i // 100_000}"),
            run=RunId("run-1"),
            round=1 + (i // 2) % 50,
            record_count=1000 + i % 97,
            details={"department": "health-site-1", "phase": "evaluate"},
        )
        for i in range(start, start + count)
    ]


def _write(log: ActorLog, start: int, count: int, batch: int) -> None:
    for offset in range(start, start + count, batch):
        log.commit(
            _records(
                str(log.account.address), offset, min(batch, start + count - offset)
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=1_000)
    parser.add_argument(
        "--batch", type=int, default=10_000, help="records per commit (one signed head)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.simplefilter("ignore", PlaintextKeyWarning)

    ledger = CountyLedger.ephemeral()
    department = Account.create()
    ledger.ensure_role(department.address, Role.DEPARTMENT)
    with tempfile.TemporaryDirectory(prefix="fedgov-bench-") as tmp:
        folder = Path(tmp) / "departments" / "health-site-1"
        log = ActorLog(
            folder,
            department,
            ledger.domain,
            checkpoints=CheckpointPublisher(ledger.county),
        )
        path = log_path(folder, department.address)
        print(
            f"audit_incremental: {args.history:,} records of history, {args.new:,} "
            f"new; batches of {args.batch:,}; {ledger.describe()}"
        )
        started = time.perf_counter()
        _write(log, 0, args.history, args.batch)
        relay = ledger.relay([path])
        relay.flush(600)
        built = time.perf_counter() - started
        print(f"  history written and anchored by the product's writer: {built:.1f} s")

        started = time.perf_counter()
        first = verify_audit(
            [path], chain=ledger.chain, registry=ledger.registry.address
        )
        first_s = time.perf_counter() - started
        if not first.ok:
            raise SystemExit(f"the full verification failed: {first.first_failure}")
        state = state_after_full(
            [path],
            first,
            chain_id=ledger.chain.chain_id,
            registry=ledger.registry.address,
        )

        _write(log, args.history, args.new, args.new)
        relay.flush(600)
        started = time.perf_counter()
        report, _ = verify_since(
            state, [path], chain=ledger.chain, registry=ledger.registry.address
        )
        incremental_s = time.perf_counter() - started
        if not report.ok:
            raise SystemExit(f"the incremental run failed: {report.first_failure}")

        started = time.perf_counter()
        again = verify_audit(
            [path], chain=ledger.chain, registry=ledger.registry.address
        )
        full_s = time.perf_counter() - started
        if not again.ok:
            raise SystemExit(f"the second full run failed: {again.first_failure}")
        with LogStore(path) as store:
            size = store.size
        (summary,) = report.logs
        print(f"  full verification, first ({args.history:,} records): {first_s:.2f} s")
        print(
            f"  incremental: {summary.new_records:,} new records on {size:,}, "
            f"consistency proof {summary.verified_from:,} -> {summary.anchored_size:,} "
            f"({len(summary.consistency_proof)} hashes): {incremental_s:.3f} s "
            f"(target < {TARGET_S} s: {'met' if incremental_s < TARGET_S else 'NOT met'})"
        )
        print(f"  full verification of all {size:,} records: {full_s:.2f} s")
        print(f"  ratio full / incremental: {full_s / incremental_s:,.0f}x")


if __name__ == "__main__":
    main()
