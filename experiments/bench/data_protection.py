"""Costs of the department node's data-protection layers, measured side by side.

Run ``python -m experiments.bench.data_protection``. Each line compares a
protection step with the work it protects (or a naive way of doing it):

* pseudonymizing a column, per unique value (what ``pseudonymize_column``
  does) against per row;
* sealing bytes against copying them, and a sealed atomic write against an
  atomic write of the plaintext (both fsync);
* the boundary guard's check against building the same reply;
* the release check against a plain ``groupby().size()``.
"""

from __future__ import annotations

import tempfile
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from flwr.app import ArrayRecord, MetricRecord, RecordDict

from fedgov import protocol as p
from fedgov.files import write_atomic
from fedgov.types import DepartmentId
from privacy.at_rest import (
    DEFAULT_SCRYPT_COST,
    AtRestKey,
    PassphraseKeySource,
    seal,
    write_encrypted,
)
from privacy.boundary import BoundaryPolicy, check_outgoing, declared_parameters
from privacy.pseudonymize import (
    KeyedHashPseudonymizer,
    PseudonymKey,
    PseudonymMode,
    ReversiblePseudonymizer,
)
from privacy.release import ReleasePolicy, assess_release

if TYPE_CHECKING:
    from collections.abc import Callable


def _best(run: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def _line(what: str, seconds: float, baseline: float, baseline_name: str) -> None:
    print(
        f"{what:<46} {seconds * 1e3:9.1f} ms   {baseline_name:<28} "
        f"{baseline * 1e3:9.1f} ms   ratio {seconds / baseline:6.2f}"
    )


def pseudonymization(rows: int = 50_000, uniques: int = 5_000) -> None:
    rng = np.random.default_rng(0)
    ids = pd.DataFrame(
        {"resident": [f"R{n:08d}" for n in rng.integers(0, uniques, rows)]}
    )
    department = DepartmentId("bench")
    hashed = KeyedHashPseudonymizer(
        PseudonymKey.generate(department, epoch=1, mode=PseudonymMode.KEYED_HASH)
    )
    encrypted = ReversiblePseudonymizer(
        PseudonymKey.generate(department, epoch=1, mode=PseudonymMode.SIV)
    )
    for name, pseudonymizer in [("HMAC", hashed), ("AES-SIV", encrypted)]:
        column = _best(
            partial(pseudonymizer.pseudonymize_column, ids, "resident"), repeat=1
        )
        per_row = _best(
            partial(pseudonymizer.pseudonymize_many, ids["resident"]), repeat=1
        )
        _line(
            f"{name} column, {rows} rows / {uniques} ids",
            column,
            per_row,
            "per-row loop",
        )


def sealing(size: int = 32 << 20) -> None:
    data = np.random.default_rng(1).bytes(size)
    key = AtRestKey.generate()
    sealing = _best(lambda: seal(data, key=key, purpose="bench"))
    copying = _best(lambda: bytearray(data))
    _line(
        f"seal (AES-256-GCM), {size >> 20} MiB", sealing, copying, "copying the bytes"
    )
    with tempfile.TemporaryDirectory() as tmp:
        sealed_path, plain_path = Path(tmp) / "sealed", Path(tmp) / "plain"
        sealed = _best(
            lambda: write_encrypted(sealed_path, data, key_source=key, purpose="bench")
        )
        plain = _best(lambda: write_atomic(plain_path, data))
    _line(
        f"seal + atomic write, {size >> 20} MiB",
        sealed,
        plain,
        "atomic write, plaintext",
    )
    start = time.perf_counter()
    PassphraseKeySource("a bench passphrase", salt=bytes(16)).load()
    derive = time.perf_counter() - start
    print(
        f"{'scrypt key derivation (once per process)':<46} {derive * 1e3:9.1f} ms   "
        f"N={DEFAULT_SCRYPT_COST}, r=8, p=1"
    )


def boundary(hidden: int = 1024) -> None:
    model = torch.nn.Sequential(
        torch.nn.Linear(64, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 1),
    )
    policy = BoundaryPolicy(
        parameters=declared_parameters(model.state_dict()),
        columns=(),
        allowed_keys=frozenset({p.Metric.NUM_EXAMPLES, p.Metric.TRAIN_LOSS}),
        local_shape=(5000, 64),
    )
    built: list[RecordDict] = []

    def build() -> None:
        built.append(
            RecordDict(
                {
                    "arrays": ArrayRecord(model.state_dict()),
                    "metrics": MetricRecord(
                        {p.Metric.NUM_EXAMPLES: 5000, p.Metric.TRAIN_LOSS: 0.3}
                    ),
                }
            )
        )

    building = _best(build)
    checking = _best(lambda: check_outgoing(built[-1], policy))
    params = sum(p.numel() for p in model.parameters())
    _line(
        f"boundary check, {params / 1e6:.2f} M parameters",
        checking,
        building,
        "building the reply",
    )


def release(rows: int = 1_000_000) -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "age_band": rng.integers(0, 15, rows),
            "sex": rng.integers(0, 2, rows),
            "zip": rng.integers(0, 400, rows),
        }
    )
    policy = ReleasePolicy(quasi_identifiers=("age_band", "sex", "zip"), k=5)
    checking = _best(lambda: assess_release(frame, policy=policy), repeat=1)
    grouping = _best(lambda: frame.groupby(["age_band", "sex", "zip"]).size(), repeat=1)
    _line(
        f"release check, {rows} rows x 3 quasi-ids",
        checking,
        grouping,
        "groupby().size()",
    )


def main() -> None:
    torch.set_num_threads(1)
    pseudonymization()
    sealing()
    boundary()
    release()


if __name__ == "__main__":
    main()
