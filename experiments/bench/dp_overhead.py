"""DP-SGD overhead: Opacus vs plain SGD on the same data, model, batch and epochs.

Run: ``python -m experiments.bench.dp_overhead [--epochs 3] [--repeats 3]``.
Prints the wall time of each variant and its ratio to plain SGD measured in
the same process, for the demo's model (MLP 24-32-2 on RandHIE) and for the
issue's reference shape (MLP 100-64-64-2 on synthetic data), at several batch
sizes and Opacus per-sample-gradient modes (hooks, expanded weights,
functorch, ghost clipping). For models this small the cost is Opacus' fixed
work per step, so larger batches (fewer steps) are the main lever.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from functools import partial
from itertools import pairwise

import numpy as np
import torch
from opacus import PrivacyEngine
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fedgov.data import load_pooled

__all__ = ["main"]


def _mlp(widths: list[int]) -> nn.Module:
    layers: list[nn.Module] = []
    for a, b in pairwise(widths[:-1]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(widths[-2], widths[-1]))
    return nn.Sequential(*layers)


def _train(
    widths: list[int],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch: int,
    epochs: int,
    mode: str | None,
) -> float:
    torch.manual_seed(0)
    model = _mlp(widths)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True)
    criterion = nn.CrossEntropyLoss()
    if mode is not None:
        engine = PrivacyEngine(accountant="rdp")
        private = engine.make_private(
            module=model,
            optimizer=optimizer,
            data_loader=loader,
            noise_multiplier=1.0,
            max_grad_norm=1.0,
            poisson_sampling=True,
            grad_sample_mode=mode,
            # Ghost clipping needs the loss to run its second backward pass.
            **({"criterion": criterion} if mode == "ghost" else {}),
        )
        if mode == "ghost":
            model, optimizer, criterion, loader = private
        else:
            model, optimizer, loader = private
    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            criterion(model(xb), yb).backward()
            optimizer.step()
    return time.perf_counter() - start


def _median(fn: Callable[[], float], repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    pooled = load_pooled("randhie", seed=42)
    randhie = (torch.from_numpy(pooled.train.X), torch.from_numpy(pooled.train.y))
    rng = np.random.default_rng(0)
    synthetic = (
        torch.from_numpy(rng.normal(size=(16000, 100)).astype(np.float32)),
        torch.from_numpy(rng.integers(0, 2, 16000)),
    )
    setups = [
        ("RandHIE MLP 24-32-2", [pooled.num_features, 32, 2], randhie),
        ("synthetic MLP 100-64-64-2", [100, 64, 64, 2], synthetic),
    ]
    print(
        f"torch threads {args.threads}, epochs {args.epochs}, median of {args.repeats}"
    )
    print(f"{'setup':<28} {'batch':>5} {'mode':<11} {'seconds':>8} {'x plain':>8}")
    for name, widths, (x, y) in setups:
        for batch in (64, 256, 1024):
            run = partial(_train, widths, x, y, batch=batch, epochs=args.epochs)
            plain = _median(partial(run, mode=None), args.repeats)
            print(f"{name:<28} {batch:>5} {'plain SGD':<11} {plain:>8.3f} {1.0:>8.2f}")
            for mode in ("hooks", "ew", "functorch", "ghost"):
                dp = _median(partial(run, mode=mode), args.repeats)
                print(f"{name:<28} {batch:>5} {mode:<11} {dp:>8.3f} {dp / plain:>8.2f}")


if __name__ == "__main__":
    main()
