"""Local training at a department: DP-SGD with Opacus, or plain SGD for baselines.

Opacus pitfalls handled here: a fresh model is wrapped every round (Opacus
refuses to attach its hooks twice); the update sent back is the *unwrapped*
module's state dict (no ``_module.`` prefix); FedProx's proximal pull towards
the global model is applied after the private step (it does not depend on the
data, so it costs no privacy, whereas putting it into the loss would be lost
by per-sample clipping).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from opacus import PrivacyEngine
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fedgov.errors import ConfigurationError
from fedgov.job import DEFAULT_ACCOUNTANT, Accountant
from privacy.accounting import GaussianSpend, calibrate_noise_multiplier

__all__ = ["LocalPlan", "plan_local_training", "train_locally"]


@dataclass(frozen=True)
class LocalPlan:
    """How a department trains each round of a job, fixed for the whole job."""

    num_examples: int
    batch_size: int
    steps_per_epoch: int
    sample_rate: float
    steps_per_round: int
    noise_multiplier: float | None
    accountant: Accountant = DEFAULT_ACCOUNTANT
    """What ``noise_multiplier`` was calibrated with, and what a round's
    spend is charged under."""

    @property
    def round_spend(self) -> GaussianSpend | None:
        """What one round costs; ``None`` for a non-private job."""
        if self.noise_multiplier is None:
            return None
        return GaussianSpend(
            noise_multiplier=self.noise_multiplier,
            sample_rate=self.sample_rate,
            steps=self.steps_per_round,
        )


def plan_local_training(
    *,
    num_examples: int,
    batch_size: int,
    local_epochs: int,
    num_rounds: int,
    epsilon: float | None,
    delta: float,
    accountant: Accountant = DEFAULT_ACCOUNTANT,
) -> LocalPlan:
    """Calibrate noise for *every* local step of *every* round of the job together,
    with ``accountant``.

    Poisson sampling with rate ``1 / steps_per_epoch`` matches Opacus'
    ``DPDataLoader``, so the accounting describes what actually runs.
    """
    if num_examples < 1:
        raise ConfigurationError(
            "num_examples", "a department needs at least one record"
        )
    steps_per_epoch = max(1, math.ceil(num_examples / batch_size))
    sample_rate = 1.0 / steps_per_epoch
    steps_per_round = steps_per_epoch * local_epochs
    noise = None
    if epsilon is not None:
        noise = calibrate_noise_multiplier(
            epsilon=epsilon,
            delta=delta,
            sample_rate=sample_rate,
            steps=steps_per_round * num_rounds,
            accountant=accountant,
        )
    return LocalPlan(
        num_examples=num_examples,
        batch_size=batch_size,
        steps_per_epoch=steps_per_epoch,
        sample_rate=sample_rate,
        steps_per_round=steps_per_round,
        noise_multiplier=noise,
        accountant=accountant,
    )


def _proximal_pull(
    model: nn.Module, anchor: list[torch.Tensor], *, learning_rate: float, mu: float
) -> None:
    with torch.no_grad():
        for param, global_param in zip(model.parameters(), anchor, strict=True):
            param.sub_(learning_rate * mu * (param - global_param))


def train_locally(
    model: nn.Module,
    features: NDArray[np.float32],
    labels: NDArray[np.int64],
    *,
    plan: LocalPlan,
    learning_rate: float,
    max_grad_norm: float,
    momentum: float = 0.0,
    proximal_mu: float = 0.0,
    generator: torch.Generator | None = None,
) -> float:
    """Train ``model`` in place for one round; returns the mean training loss.

    With ``plan.noise_multiplier`` set this is DP-SGD: Poisson-sampled batches,
    per-sample gradients clipped to ``max_grad_norm``, Gaussian noise from
    ``generator``. ``model`` itself is never wrapped, only a view of it.
    """
    dataset = TensorDataset(
        torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)),
    )
    loader = DataLoader(
        dataset, batch_size=plan.batch_size, shuffle=True, generator=generator
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum)
    anchor = [p.detach().clone() for p in model.parameters()]
    criterion = nn.CrossEntropyLoss()
    model.train()
    trained: nn.Module = model
    if plan.noise_multiplier is not None:
        with warnings.catch_warnings():
            # Opacus warns that secure_mode is off; fedgov's choice of RNG is
            # explained (and warned about when insecure) by the caller.
            warnings.simplefilter("ignore", UserWarning)
            engine = PrivacyEngine(accountant="rdp")
            trained, optimizer, loader = engine.make_private(
                module=model,
                optimizer=optimizer,
                data_loader=loader,
                noise_multiplier=plan.noise_multiplier,
                max_grad_norm=max_grad_norm,
                poisson_sampling=True,
                noise_generator=generator,
            )
    trained.train()
    total, batches = 0.0, 0
    epochs = plan.steps_per_round // plan.steps_per_epoch
    with warnings.catch_warnings():
        # Opacus' hooks on a first layer whose inputs need no gradient trigger
        # this torch warning on every step; it is expected and harmless.
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        for _ in range(epochs):
            for x, y in loader:
                # Poisson sampling can draw an empty batch; Opacus still takes
                # the noise-only step, which the accounting assumes.
                optimizer.zero_grad()
                loss = criterion(trained(x), y)
                loss.backward()
                optimizer.step()
                if proximal_mu > 0:
                    _proximal_pull(
                        model, anchor, learning_rate=learning_rate, mu=proximal_mu
                    )
                if len(y):
                    total += float(loss.item())
                    batches += 1
    if plan.noise_multiplier is not None:
        # Leave the caller's module free of Opacus' hooks and attributes.
        trained.remove_hooks()  # type: ignore[operator]
        trained._close()  # type: ignore[operator]
    return total / max(batches, 1)
