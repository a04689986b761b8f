"""Models for tabular tasks, defined once and used by departments and coordinator.

Only layers Opacus can compute per-sample gradients for (``Linear``, activations):
no batch normalisation, which mixes samples and breaks DP-SGD's per-sample
clipping. A classification model (binary or multi-class) has one output per
class and is trained with cross-entropy; a regression model has one output,
trained with the squared error on the target scaled to [0, 1] by its declared
bounds (:func:`task_loss`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn

from fedgov.data.task import TaskKind
from fedgov.errors import ConfigurationError

__all__ = [
    "MODEL_KINDS",
    "ModelSpec",
    "build_model",
    "hidden_from_config",
    "numpy_to_state",
    "state_to_numpy",
    "task_loss",
]

MODEL_KINDS = ("logreg", "mlp")


@dataclass(frozen=True)
class ModelSpec:
    """What to build: ``logreg`` (one linear layer) or ``mlp`` (ReLU hidden layers).

    ``task`` says what the outputs are: one logit per class of
    ``num_classes`` (binary, multi-class), or one number (regression, where
    ``num_classes`` plays no part).
    """

    kind: str
    num_features: int
    num_classes: int = 2
    hidden: tuple[int, ...] = field(default=(32,))
    task: TaskKind = TaskKind.BINARY

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ConfigurationError(
                "kind", f"must be one of {MODEL_KINDS}, got {self.kind!r}"
            )
        if self.num_features < 1:
            raise ConfigurationError(
                "num_features", f"must be >= 1, got {self.num_features}"
            )
        if self.task is not TaskKind.REGRESSION and self.num_classes < 2:
            raise ConfigurationError(
                "num_classes", f"must be >= 2, got {self.num_classes}"
            )
        if self.kind == "mlp" and (not self.hidden or min(self.hidden) < 1):
            raise ConfigurationError(
                "hidden",
                f"an mlp needs one or more positive layer widths, got {self.hidden}",
            )

    @property
    def num_outputs(self) -> int:
        """One output per class, or one for a regression."""
        return 1 if self.task is TaskKind.REGRESSION else self.num_classes


def build_model(spec: ModelSpec, *, seed: int | None = None) -> nn.Module:
    """A freshly initialised model for ``spec`` (deterministic when ``seed`` is set)."""
    generator_state = torch.random.get_rng_state()
    if seed is not None:
        torch.manual_seed(seed)
    try:
        layers: list[nn.Module] = []
        width = spec.num_features
        if spec.kind == "mlp":
            for hidden in spec.hidden:
                layers += [nn.Linear(width, hidden), nn.ReLU()]
                width = hidden
        layers.append(nn.Linear(width, spec.num_outputs))
        return nn.Sequential(*layers)
    finally:
        if seed is not None:
            torch.random.set_rng_state(generator_state)


class _SquaredError(nn.Module):
    """Squared error of a one-output model against scaled targets."""

    def __init__(self, reduction: Literal["mean", "sum"]) -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(
            output[:, 0], target.to(output.dtype), reduction=self.reduction
        )


def task_loss(
    task: TaskKind, *, reduction: Literal["mean", "sum"] = "mean"
) -> nn.Module:
    """The training loss of ``task``: cross-entropy over the class logits, or the
    squared error on the scaled target (``reduction`` over the batch)."""
    if task is TaskKind.REGRESSION:
        return _SquaredError(reduction)
    return nn.CrossEntropyLoss(reduction=reduction)


def state_to_numpy(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's parameters as NumPy arrays, keyed by state-dict name."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def numpy_to_state(model: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    """Load ``arrays`` into ``model``, refusing missing, extra or mis-shaped tensors."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise ConfigurationError(
            "arrays", f"do not match the model: missing {missing}, unexpected {extra}"
        )
    for name, tensor in expected.items():
        if tuple(arrays[name].shape) != tuple(tensor.shape):
            raise ConfigurationError(
                "arrays",
                f"{name} has shape {tuple(arrays[name].shape)}, the model expects "
                f"{tuple(tensor.shape)}",
            )
    model.load_state_dict(
        {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}
    )


def hidden_from_config(text: str | Sequence[int]) -> tuple[int, ...]:
    """Parse hidden widths from ``"32,16"`` (flat run_config) or a sequence."""
    if isinstance(text, str):
        parts = [p for p in text.replace(" ", "").split(",") if p]
        try:
            return tuple(int(p) for p in parts)
        except ValueError as exc:
            raise ConfigurationError(
                "hidden", f"must be comma-separated integers, got {text!r}"
            ) from exc
    return tuple(int(p) for p in text)
