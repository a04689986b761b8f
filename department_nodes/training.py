"""Local training at a department: DP-SGD with Opacus, or plain SGD for baselines.

DP-SGD protects the dataset's declared **unit of privacy**:

* one record per person (Adult): Opacus' record-level DP-SGD, Poisson
  sampling of records, each record's gradient clipped;
* several records per person (RandHIE: up to 5 study years per ``zper``):
  unit-level DP-SGD (:class:`UnitDPSGD`). Each step samples *persons*
  (Poisson, rate ``q``), each person contributes at most the declared
  ``max_records_per_unit`` records (chosen without looking at labels,
  :func:`department_nodes.data_access.bound_units`), the gradients of a
  person's records are summed and that sum is clipped as one vector, and
  Gaussian noise of standard deviation ``sigma * C`` is added to the sum over
  persons. Adding or removing one person changes the sum by at most ``C``
  however many records the person has, so the (sampled) Gaussian mechanism's
  accounting at rate ``q`` (:mod:`privacy.accounting`) holds for persons.
  Opacus computes the per-record gradients (``GradSampleModule``) and does
  the clipping and noising (``DPOptimizer``); fedgov sums per person between
  the two.

Both sample at ``q = 1 / steps_per_epoch`` with ``steps_per_epoch = ceil(records /
batch_size)``: an epoch sees every record (every person) once in expectation,
and the noise multiplier is the same for both at the same epsilon.

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from opacus import GradSampleModule, PrivacyEngine
from opacus.optimizers import DPOptimizer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fedgov.data import TaskKind
from fedgov.errors import ConfigurationError
from fedgov.job import DEFAULT_ACCOUNTANT, Accountant
from fedgov.models import task_loss
from privacy.accounting import GaussianSpend, calibrate_noise_multiplier

__all__ = [
    "LocalPlan",
    "UnitDPSGD",
    "final_layer",
    "plan_local_training",
    "train_final_layer",
    "train_locally",
]


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
    prior: tuple[GaussianSpend, ...] = (),
) -> LocalPlan:
    """Calibrate noise for *every* local step of *every* round of the job together,
    with ``accountant``; after ``prior`` (spends the job already made), so that
    the job's whole history meets ``epsilon``.

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
            prior=prior,
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


class UnitDPSGD:
    """Unit-level DP-SGD steps on ``model``: one clipped gradient per unit.

    Opacus' ``GradSampleModule`` computes every record's gradient of its own
    loss; the records' gradients are summed per unit (``index_add``) and
    handed to Opacus' ``DPOptimizer`` as the unit's per-sample gradient, which
    it clips to ``max_grad_norm`` as one vector, sums over the units, noises
    with standard deviation ``noise_multiplier * max_grad_norm`` drawn from
    ``generator`` and divides by ``expected_units``. Close it with
    :meth:`close` to leave ``model`` free of Opacus' hooks.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        noise_multiplier: float,
        max_grad_norm: float,
        expected_units: int,
        task: TaskKind = TaskKind.BINARY,
        generator: torch.Generator | None = None,
    ) -> None:
        self.module = GradSampleModule(model, loss_reduction="sum")
        self.optimizer = DPOptimizer(
            optimizer,
            noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm,
            expected_batch_size=expected_units,
            loss_reduction="mean",
            generator=generator,
        )
        self.loss = task_loss(task, reduction="sum")

    def private_gradient(
        self, features: torch.Tensor, labels: torch.Tensor, units: torch.Tensor
    ) -> float:
        """Leave the batch's private gradient in each parameter's ``.grad``.

        ``units[i]`` names the unit of record ``i`` (any integers). Returns the
        summed loss of the batch's records.
        """
        self.optimizer.zero_grad(set_to_none=True)
        params = [p for p in self.module.parameters() if p.requires_grad]
        total = 0.0
        if len(labels) == 0:
            # An empty Poisson draw still takes the noise-only step the
            # accounting assumes.
            for param in params:
                param.grad_sample = torch.zeros((0, *param.shape), dtype=param.dtype)
        else:
            loss = self.loss(self.module(features), labels)
            with warnings.catch_warnings():
                # Opacus' hooks on a first layer whose inputs need no gradient
                # trigger this torch warning on every step; it is harmless.
                warnings.filterwarnings(
                    "ignore", message="Full backward hook is firing"
                )
                loss.backward()
            total = float(loss.item())
            _, index = torch.unique(units, return_inverse=True)
            count = int(index.max()) + 1
            for param in params:
                per_record = param.grad_sample
                per_unit = torch.zeros(
                    (count, *param.shape), dtype=per_record.dtype
                ).index_add_(0, index, per_record)
                param.grad_sample = per_unit
        self.optimizer.pre_step()
        return total

    def step(self) -> None:
        """Apply the private gradient (the wrapped optimizer's step)."""
        self.optimizer.original_optimizer.step()

    def close(self) -> None:
        self.module.remove_hooks()
        self.module._close()


def _train_units(
    model: nn.Module,
    features: NDArray[np.float32],
    labels: NDArray[np.generic],
    units: NDArray[np.int64],
    *,
    plan: LocalPlan,
    optimizer: torch.optim.Optimizer,
    max_grad_norm: float,
    task: TaskKind,
    generator: torch.Generator | None,
    after_step: Callable[[], None],
) -> float:
    assert plan.noise_multiplier is not None
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    y = _label_tensor(labels, task)
    unit_of = torch.from_numpy(np.ascontiguousarray(units, dtype=np.int64))
    num_units = int(unit_of.max()) + 1 if len(unit_of) else 0
    dpsgd = UnitDPSGD(
        model,
        optimizer,
        noise_multiplier=plan.noise_multiplier,
        max_grad_norm=max_grad_norm,
        # As Opacus' make_private: the expected batch, a public figure.
        expected_units=max(1, int(num_units * plan.sample_rate)),
        task=task,
        generator=generator,
    )
    total, records = 0.0, 0
    try:
        dpsgd.module.train()
        for _ in range(plan.steps_per_round):
            # Poisson sampling of units, as Opacus' UniformWithReplacementSampler
            # samples records.
            drawn = torch.rand(num_units, generator=generator) < plan.sample_rate
            rows = drawn[unit_of]
            total += dpsgd.private_gradient(x[rows], y[rows], unit_of[rows])
            records += int(rows.sum())
            dpsgd.step()
            after_step()
    finally:
        dpsgd.close()
    return total / max(records, 1)


def _label_tensor(labels: NDArray[np.generic], task: TaskKind) -> torch.Tensor:
    dtype = np.float32 if task is TaskKind.REGRESSION else np.int64
    return torch.from_numpy(np.ascontiguousarray(labels, dtype=dtype))


def train_locally(
    model: nn.Module,
    features: NDArray[np.float32],
    labels: NDArray[np.generic],
    *,
    plan: LocalPlan,
    learning_rate: float,
    max_grad_norm: float,
    momentum: float = 0.0,
    proximal_mu: float = 0.0,
    generator: torch.Generator | None = None,
    task: TaskKind = TaskKind.BINARY,
    units: NDArray[np.int64] | None = None,
) -> float:
    """Train ``model`` in place for one round; returns the mean training loss.

    With ``plan.noise_multiplier`` set this is DP-SGD: Poisson-sampled batches,
    gradients clipped to ``max_grad_norm``, Gaussian noise from ``generator``;
    per record, or per unit of privacy when ``units`` gives each record's unit
    (module docstring). ``task`` chooses the loss (:func:`fedgov.models.task_loss`).
    ``model`` itself is never wrapped, only a view of it.
    """
    trainable = [param for param in model.parameters() if param.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=learning_rate, momentum=momentum)
    anchor = [p.detach().clone() for p in model.parameters()]

    def pull() -> None:
        if proximal_mu > 0:
            _proximal_pull(model, anchor, learning_rate=learning_rate, mu=proximal_mu)

    if units is not None and plan.noise_multiplier is not None:
        model.train()
        return _train_units(
            model,
            features,
            labels,
            units,
            plan=plan,
            optimizer=optimizer,
            max_grad_norm=max_grad_norm,
            task=task,
            generator=generator,
            after_step=pull,
        )
    dataset = TensorDataset(
        torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)),
        _label_tensor(labels, task),
    )
    loader = DataLoader(
        dataset, batch_size=plan.batch_size, shuffle=True, generator=generator
    )
    criterion = task_loss(task)
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
                pull()
                if len(y):
                    total += float(loss.item())
                    batches += 1
    if plan.noise_multiplier is not None:
        # Leave the caller's module free of Opacus' hooks and attributes.
        trained.remove_hooks()  # type: ignore[operator]
        trained._close()  # type: ignore[operator]
    return total / max(batches, 1)


def final_layer(model: nn.Module) -> nn.Module:
    """The model's last layer with parameters: its head (logistic regression:
    the whole model)."""
    layers = [m for m in model.modules() if not list(m.children())]
    with_parameters = [m for m in layers if any(True for _ in m.parameters())]
    if not with_parameters:
        raise ConfigurationError("model", "has no layer with parameters to train")
    return with_parameters[-1]


def train_final_layer(
    model: nn.Module,
    features: NDArray[np.float32],
    labels: NDArray[np.generic],
    **kwargs: Any,
) -> float:
    """:func:`train_locally` on the final layer only, every other parameter frozen.

    Frozen parameters get no per-sample gradient and no noise from Opacus;
    DP-SGD clips and noises the head's gradient alone, so the accounting of
    ``plan`` holds as for whole-model training.
    """
    head = set(map(id, final_layer(model).parameters()))
    saved = [(param, param.requires_grad) for param in model.parameters()]
    try:
        for param in model.parameters():
            param.requires_grad_(id(param) in head)
        return train_locally(model, features, labels, **kwargs)
    finally:
        for param, flag in saved:
            param.requires_grad_(flag)
