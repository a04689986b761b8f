"""Anchoring audit logs on chain: one transaction per record against batching.

Run ``python -m experiments.bench.ledger_anchor`` (``--help`` for sizes). On
each backend — embedded py-evm, and anvil when installed (``make anvil``) —
both modes write the same audit records into the same durable ``LogStore``
(SQLite, WAL, synchronous=FULL) and anchor signed tree heads in the same
AnchorRegistry:

* per record: append one record, sign the head, anchor it, wait for the
  receipt — one transaction per record (tx/s = records/s);
* batched: append records in batches as fast as the store takes them, signing
  the head after each batch as an actor's log does
  (:func:`ledger.actor_log.append_and_sign`), while the
  :class:`~ledger.relay.AnchorRelay` anchors the newest head at least every
  second in the background, then flushes; records/s counts the flush.

It prints both rates, their ratio, and how many records each anchor covered.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from experiments.bench._chains import chain_on
from fedgov.types import ActorId, DatasetId, JobId
from ledger.actor_log import append_and_sign
from ledger.anchor_registry import AnchorRegistry
from ledger.chain import Chain, find_anvil
from ledger.chain_roles import Roles
from ledger.records import Action, AuditRecord, Role
from ledger.relay import AnchorPolicy, AnchorRelay
from ledger.store import LogStore

if TYPE_CHECKING:
    from collections.abc import Sequence

    from eth_account.signers.local import LocalAccount


def _setup(chain: Chain) -> tuple[AnchorRegistry, LocalAccount, LocalAccount]:
    admin, department = chain.accounts[0], chain.accounts[1]
    roles = Roles.deploy(chain, admin=admin)
    roles.grant(department.address, Role.DEPARTMENT, sender=admin)
    return AnchorRegistry.deploy(chain, roles, sender=admin), admin, department


def _records(actor: str, start: int, count: int) -> list[AuditRecord]:
    return [
        AuditRecord(
            actor=ActorId(actor),
            role=Role.DEPARTMENT,
            action=Action.DATA_READ,
            timestamp_ms=1_764_000_000_000 + i,
            dataset=DatasetId("randhie"),
            purpose="benchmark",
            job=JobId("bench"),
            record_count=i,
        )
        for i in range(start, start + count)
    ]


def per_record(backend: str, records: int, workdir: Path) -> float:
    """Transactions (= records) per second, anchoring after every record."""
    with chain_on(backend) as chain:
        registry, admin, department = _setup(chain)
        store = LogStore(workdir / f"{backend}-per-record.db", actor=department.address)
        batch = _records(department.address, 0, records)
        start = time.perf_counter()
        for record in batch:
            store.append(record)
            signed = store.sign_head(department, registry.domain)
            registry.anchor(signed, log_name="audit", sender=admin)
        elapsed = time.perf_counter() - start
    return records / elapsed


def batched(
    backend: str, seconds: float, batch_size: int, workdir: Path
) -> tuple[float, int, int]:
    """(records/s, records, anchors) with the relay anchoring every second."""
    with chain_on(backend) as chain:
        registry, admin, department = _setup(chain)
        path = workdir / f"{backend}-batched.db"
        store = LogStore(path, actor=department.address)
        policy = AnchorPolicy(interval_s=1.0, every_records=10**9, poll_s=0.05)
        relay = AnchorRelay(registry, sender=admin, policy=policy, logs=[path])
        appended = 0
        start = time.perf_counter()
        with relay:
            while time.perf_counter() - start < seconds:
                batch = _records(department.address, appended, batch_size)
                append_and_sign(store, batch, department, registry.domain)
                appended += batch_size
        elapsed = time.perf_counter() - start
        latest = registry.latest(store.log_id)
        if latest is None or latest.tree_size != appended:
            raise AssertionError(f"anchored {latest}, appended {appended}")
    return appended / elapsed, appended, relay.status()[0].anchors_sent


def store_only(seconds: float, batch_size: int, workdir: Path) -> float:
    """Records per second into the same store with no anchoring at all."""
    actor = "0x" + "11" * 20
    store = LogStore(workdir / "store-only.db", actor=actor)
    appended = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        store.append_many(_records(store.actor, appended, batch_size))
        appended += batch_size
    return appended / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m experiments.bench.ledger_anchor")
    parser.add_argument(
        "--backends",
        nargs="+",
        default=["embedded", "anvil"],
        choices=["embedded", "anvil"],
    )
    parser.add_argument(
        "--per-record", type=int, default=200, help="records (default 200)"
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="batched run length (default 5)"
    )
    parser.add_argument("--batch", type=int, default=1000, help="records per append")
    args = parser.parse_args(argv)
    print("records: ledger.store.LogStore (SQLite WAL, synchronous=FULL)")
    with tempfile.TemporaryDirectory(prefix="fedgov-bench-") as tmp:
        plain = store_only(args.seconds, args.batch, Path(tmp))
        print(f"store alone, no anchoring: {plain:,.0f} records/s")
        for backend in args.backends:
            if backend == "anvil" and find_anvil() is None:
                print("anvil: not installed (`make anvil`), skipped")
                continue
            tx_rate = per_record(backend, args.per_record, Path(tmp))
            rate, appended, anchors = batched(
                backend, args.seconds, args.batch, Path(tmp)
            )
            print(
                f"{backend}:\n"
                f"  per-record anchoring  {tx_rate:12,.1f} tx/s (= records/s)\n"
                f"  batched, every 1 s    {rate:12,.0f} records/s "
                f"({appended:,} records in {anchors} anchors; "
                f"{rate / plain:.0%} of the store alone)\n"
                f"  ratio batched / per-record: {rate / tx_rate:,.0f}x"
            )


if __name__ == "__main__":
    main()
