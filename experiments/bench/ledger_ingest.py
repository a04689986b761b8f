"""Audit log throughput: durable ingest, and auditor-side verification.

Run ``python -m experiments.bench.ledger_ingest`` (``--help`` for sizes). In
one run, on the same records, it measures:

* ingest: records/s appended to a :class:`LogStore` (SQLite WAL,
  ``synchronous=FULL``: each batch is one fsynced transaction) with the
  Merkle tree updated, so that any inclusion proof is available as soon as
  ``append_many`` returns; beside it, one record per transaction;
* remote ingest: the same through the gRPC service on 127.0.0.1;
* reopening: records/s rehashed and checked against the signed head;
* auditor verification: records/s rehashed from their canonical bytes with
  the root rebuilt and compared; inclusion proofs verified per second; and
  the full check of an export file (parse, strict decode, rebuild, heads).

Targets: ingest >= 50,000 records/s, verification >= 200,000 records/s.
:func:`ingest_rate` and :func:`verification_rate` are there for other
benchmarks (e.g. anchoring) to call on their own stores.
"""

from __future__ import annotations

import argparse
import logging
import random
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from eth_account import Account

from fedgov.types import ActorId, DatasetId, JobId, RunId
from ledger.client import LogClient
from ledger.errors import ProofError
from ledger.export import verify_export
from ledger.merkle import MerkleTree, leaf_hash, verify_inclusion
from ledger.records import Action, AuditRecord, Role
from ledger.service import HostedLog, LogServer
from ledger.store import LogStore
from ledger.transport import InsecureTransportWarning
from ledger.tree_head import SigningDomain

if TYPE_CHECKING:
    from collections.abc import Sequence

INGEST_TARGET = 50_000
VERIFY_TARGET = 200_000


def make_records(actor: str, count: int) -> list[AuditRecord]:
    """``count`` distinct, realistic training-round records."""
    return [
        AuditRecord(
            actor=ActorId(actor),
            role=Role.DEPARTMENT,
            action=Action.TRAIN_ROUND,
            timestamp_ms=1_764_000_000_000 + i,
            dataset=DatasetId("randhie"),
            purpose="health-cost model (approval 2026-014)",
            job=JobId("job-2026-014"),
            run=RunId("run-1"),
            round=i % 50,
            record_count=1000 + i % 97,
            epsilon=0.05,
            delta=1e-7,
            result_hash=i.to_bytes(32, "big"),
            details={"strategy": "fedavg", "clip": "1.0"},
        )
        for i in range(count)
    ]


def ingest_rate(
    store: LogStore, records: Sequence[AuditRecord], *, batch_size: int
) -> float:
    """Records/s durably appended to ``store`` in batches of ``batch_size``."""
    start = time.perf_counter()
    for offset in range(0, len(records), batch_size):
        store.append_many(records[offset : offset + batch_size])
    return len(records) / (time.perf_counter() - start)


def verification_rate(encoded: Sequence[bytes], root: bytes) -> float:
    """Records/s an auditor rehashes, rebuilding and checking the root."""
    start = time.perf_counter()
    rebuilt = MerkleTree(leaf_hash(data) for data in encoded).root()
    elapsed = time.perf_counter() - start
    if rebuilt != root:
        raise ProofError("the rebuilt root differs from the store's")
    return len(encoded) / elapsed


def _proof_rate(store: LogStore, samples: int) -> tuple[float, float]:
    """(proofs served per second, proofs verified per second)."""
    rng = random.Random(7)
    size, root = store.size, store.root()
    indices = [rng.randrange(size) for _ in range(samples)]
    start = time.perf_counter()
    proofs = [store.inclusion_proof(index) for index in indices]
    served = samples / (time.perf_counter() - start)
    start = time.perf_counter()
    for proof in proofs:
        verify_inclusion(proof.leaf_index, size, proof.leaf_hash, proof.hashes, root)
    return served, samples / (time.perf_counter() - start)


def _remote_rate(
    workdir: Path, records: Sequence[AuditRecord], batch_size: int
) -> float:
    store = LogStore(workdir / "remote.db", actor=records[0].actor)
    # Plaintext on loopback on purpose: this measures the service, not TLS.
    logging.getLogger("ledger.transport").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureTransportWarning)
        server = LogServer([HostedLog(store)], insecure=True)
        client = LogClient(server.target, insecure=True, timeout_s=60)
    with server, client:
        start = time.perf_counter()
        for offset in range(0, len(records), batch_size):
            client.append(store.log_id, records[offset : offset + batch_size])
        rate = len(records) / (time.perf_counter() - start)
    store.close()
    return rate


def _line(name: str, value: float, unit: str, target: float | None = None) -> None:
    verdict = ""
    if target is not None:
        verdict = f"  (target {target:,.0f}: {'met' if value >= target else 'MISSED'})"
    print(f"  {name:<44} {value:>12,.0f} {unit}{verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000, help="records per append")
    parser.add_argument(
        "--single", type=int, default=300, help="records, one per fsync"
    )
    parser.add_argument("--remote", type=int, default=50_000, help="records over gRPC")
    parser.add_argument("--proofs", type=int, default=20_000)
    args = parser.parse_args(argv)

    account = Account.from_key("0x" + "42" * 32)
    domain = SigningDomain(chain_id=31337, verifying_contract="0x" + "ab" * 20)
    start = time.perf_counter()
    records = make_records(account.address, args.records)
    built = args.records / (time.perf_counter() - start)

    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as scratch:
        workdir = Path(scratch)
        print(f"audit log benchmark: {args.records:,} records, SQLite in {workdir}")
        print("producer side")
        _line("records built and validated", built, "records/s")

        print("ingest (durable, proofs available on return)")
        store = LogStore(workdir / "log.db", actor=account.address)
        batched = ingest_rate(store, records, batch_size=args.batch)
        _line(
            f"append_many, {args.batch:,} per transaction",
            batched,
            "records/s",
            INGEST_TARGET,
        )
        single_store = LogStore(workdir / "single.db", actor=account.address)
        single = ingest_rate(single_store, records[: args.single], batch_size=1)
        single_store.close()
        _line("append, 1 per transaction (fsync each)", single, "records/s")
        print(f"  {'batched / single':<44} {batched / single:>12,.1f} x")
        remote = _remote_rate(workdir, records[: args.remote], 1000)
        _line("gRPC AppendRecords, 1,000 per call (plaintext)", remote, "records/s")

        served, verified = _proof_rate(store, args.proofs)
        store.sign_head(account, domain)
        encoded = store.encoded_records(0)
        root = store.root()
        store.export(workdir / "log.jsonl")
        store.close()
        start = time.perf_counter()
        LogStore(workdir / "log.db").close()
        reopened = args.records / (time.perf_counter() - start)

        print("verification")
        _line("reopen: rehash, rebuild, check signed head", reopened, "records/s")
        _line(
            "auditor: rehash + rebuild root from records",
            verification_rate(encoded, root),
            "records/s",
            VERIFY_TARGET,
        )
        _line("inclusion proofs served", served, "proofs/s")
        _line("inclusion proofs verified", verified, "proofs/s")
        start = time.perf_counter()
        verify_export(workdir / "log.jsonl", domain=domain)
        _line(
            "export file: parse, strict decode, rebuild, heads",
            args.records / (time.perf_counter() - start),
            "records/s",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
