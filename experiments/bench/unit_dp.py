"""What protecting a person instead of a record costs DP-SGD on RandHIE.

Run: ``python -m experiments.bench.unit_dp [--seeds 3] [--epochs 10]``.

RandHIE holds up to five study years per person (``zper``). Record-level
DP-SGD (Opacus: records Poisson-sampled, each record's gradient clipped)
protects one person-year; unit-level DP-SGD (what a department runs for a
dataset declaring ``max_records_per_unit`` > 1) samples persons, sums each
person's gradients and clips the sum, so the same epsilon protects a person.
Both run here through the product's own training function
(:func:`department_nodes.training.train_locally`) on the pooled train split
of RandHIE, at the same (epsilon, delta), batch size, learning rate, number
of passes and seeds, side by side in one process, and are evaluated on the
pooled held-out split (split by person). A non-private run of the same model
(batch 256, as the baselines) is printed for scale. Printed: seconds per pass and held-out ROC AUC and
accuracy for each, and the ratios unit-level / record-level.

Both variants sample at ``q = 1 / steps_per_epoch``: record-level draws
``q x records`` records a step, unit-level ``q x persons`` persons (about
3.4 times fewer sums, each of up to 5 records), so unit-level noise is about
3.4 times larger against the averaged gradient: that, not the time, is the
cost.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from department_nodes.data_access import bound_units
from department_nodes.training import plan_local_training, train_locally
from experiments.baselines import NON_PRIVATE_BATCH
from fedgov.data import TaskKind, get_dataset, load_pooled
from fedgov.metrics import evaluate_model
from fedgov.models import ModelSpec, build_model

__all__ = ["main"]

_VARIANTS = ("record-level", "unit-level", "non-private")


@dataclass(frozen=True)
class _Run:
    seconds_per_pass: float
    auc: float
    accuracy: float


def _fit(
    variant: str,
    *,
    seed: int,
    epochs: int,
    epsilon: float,
    batch_size: int,
    learning_rate: float,
) -> _Run:
    spec = get_dataset("randhie")
    pooled = load_pooled("randhie", seed=seed)
    features, labels = pooled.train.X, pooled.train.y
    units = None
    if variant == "unit-level":
        keys = pd.Series(pooled.train.records[spec.unit.column].to_numpy())
        keep, units = bound_units(keys, spec.unit.max_records_per_unit)
        features, labels = features[keep], labels[keep]
    private = variant != "non-private"
    plan = plan_local_training(
        num_examples=len(labels),
        # As the baselines: plain SGD at DP-SGD's small batches oscillates.
        batch_size=batch_size if private else max(batch_size, NON_PRIVATE_BATCH),
        local_epochs=1,
        num_rounds=epochs,
        epsilon=epsilon if private else None,
        delta=1e-5,
    )
    model = build_model(
        ModelSpec("logreg", pooled.num_features, hidden=(), task=TaskKind.BINARY),
        seed=seed,
    )
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    for _ in range(epochs):
        train_locally(
            model,
            features,
            labels,
            plan=plan,
            learning_rate=learning_rate,
            max_grad_norm=1.0,
            generator=generator,
            units=units,
        )
    seconds = (time.perf_counter() - started) / epochs
    held_out = evaluate_model(model, pooled.held_out.X, pooled.held_out.y)
    return _Run(seconds, held_out.auc, held_out.accuracy)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10, help="passes (rounds)")
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1.0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    spec = get_dataset("randhie")
    records = load_pooled("randhie", seed=0).train.records[spec.unit.column]
    print(
        f"RandHIE pooled train split: {len(records):,} records of "
        f"{records.nunique():,} persons (at most {spec.unit.max_records_per_unit} "
        f"each); logreg, epsilon {args.epsilon}, delta 1e-5, batch {args.batch_size}, "
        f"learning rate {args.learning_rate}, {args.epochs} passes, "
        f"seeds 0-{args.seeds - 1}, one torch thread"
    )
    runs: dict[str, list[_Run]] = {v: [] for v in _VARIANTS}
    for seed in range(args.seeds):
        # Interleaved by seed, so a change in the machine's load falls on all.
        for variant in _VARIANTS:
            runs[variant].append(
                _fit(
                    variant,
                    seed=seed,
                    epochs=args.epochs,
                    epsilon=args.epsilon,
                    batch_size=args.batch_size,
                    learning_rate=args.learning_rate,
                )
            )
    print(f"{'variant':<13} {'s / pass':>9} {'AUC':>14} {'accuracy':>15}")
    for variant, done in runs.items():
        aucs = [r.auc for r in done]
        accuracies = [r.accuracy for r in done]
        print(
            f"{variant:<13} {statistics.median(r.seconds_per_pass for r in done):>9.3f} "
            f"{statistics.mean(aucs):>7.4f} ±{_spread(aucs):.4f} "
            f"{statistics.mean(accuracies):>8.4f} ±{_spread(accuracies):.4f}"
        )
    unit, record = runs["unit-level"], runs["record-level"]
    time_ratio = statistics.median(
        u.seconds_per_pass / r.seconds_per_pass
        for u, r in zip(unit, record, strict=True)
    )
    auc_gap = statistics.mean(u.auc - r.auc for u, r in zip(unit, record, strict=True))
    print(
        f"unit-level / record-level: time {time_ratio:.2f}x (median over seeds), "
        f"AUC {auc_gap:+.4f} (mean of paired differences)"
    )


def _spread(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


if __name__ == "__main__":
    main()
