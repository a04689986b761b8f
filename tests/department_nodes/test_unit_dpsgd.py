"""Unit-level DP-SGD: a unit's whole contribution is clipped as one vector."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from department_nodes.data_access import bound_units
from department_nodes.training import UnitDPSGD, plan_local_training, train_locally
from fedgov.data import TaskKind
from fedgov.models import ModelSpec, build_model, task_loss

CLIP = 1.0


def _model(features: int, seed: int = 0) -> nn.Module:
    return build_model(ModelSpec(kind="logreg", num_features=features), seed=seed)


def _gradient(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    units: torch.Tensor,
    *,
    expected_units: int = 1,
    noise: float = 0.0,
    task: TaskKind = TaskKind.BINARY,
) -> torch.Tensor:
    """One step's private gradient, flattened (no noise unless asked)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    dpsgd = UnitDPSGD(
        model,
        optimizer,
        noise_multiplier=noise,
        max_grad_norm=CLIP,
        expected_units=expected_units,
        task=task,
        generator=torch.Generator().manual_seed(0),
    )
    try:
        dpsgd.private_gradient(x, y, units)
        return torch.cat([p.grad.flatten() for p in model.parameters()])  # type: ignore[union-attr]
    finally:
        dpsgd.close()


def _per_record_clipped_sum(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Record-level DP-SGD's clipped sum, computed record by record."""
    loss = task_loss(TaskKind.BINARY, reduction="sum")
    total = torch.zeros(sum(p.numel() for p in model.parameters()))
    for i in range(len(y)):
        model.zero_grad()
        loss(model(x[i : i + 1]), y[i : i + 1]).backward()
        g = torch.cat([p.grad.flatten() for p in model.parameters()])  # type: ignore[union-attr]
        total += g * min(1.0, CLIP / (float(g.norm()) + 1e-6))
    return total


def test_units_of_one_record_are_record_level_clipping() -> None:
    # Prepare: large features, so that most records' gradients are clipped
    generator = torch.Generator().manual_seed(1)
    x = 5 * torch.rand((12, 4), generator=generator)
    y = torch.randint(0, 2, (12,), generator=generator)

    # Execute
    unit_level = _gradient(_model(4), x, y, torch.arange(12))
    record_level = _per_record_clipped_sum(_model(4), x, y)

    # Assert
    assert torch.allclose(unit_level, record_level, atol=1e-5)


def test_a_units_records_are_summed_then_clipped_once() -> None:
    # Prepare: one unit of three copies of a record whose gradient has norm > C
    x = torch.full((3, 2), 4.0)
    y = torch.ones(3, dtype=torch.int64)
    model = _model(2)
    single = _per_record_clipped_sum(_model(2), x[:1], y[:1])

    # Execute
    gradient = _gradient(model, x, y, torch.zeros(3, dtype=torch.int64))

    # Assert: clipped to C as one vector, not to 3 C as three records would be
    assert math.isclose(float(gradient.norm()), CLIP, rel_tol=1e-4)
    assert torch.allclose(gradient, single, atol=1e-5)
    assert float(_per_record_clipped_sum(_model(2), x, y).norm()) > 2.9 * CLIP


def test_the_sum_is_divided_by_the_expected_units_and_noised_by_sigma_c() -> None:
    x = torch.full((4, 2), 4.0)
    y = torch.ones(4, dtype=torch.int64)
    units = torch.tensor([0, 0, 1, 1])

    clean = _gradient(_model(2), x, y, units, expected_units=1)
    halved = _gradient(_model(2), x, y, units, expected_units=2)
    wide = build_model(ModelSpec(kind="mlp", num_features=2, hidden=(256,)), seed=0)
    noisy = _gradient(wide, x[:0], y[:0], units[:0], noise=3.0)

    assert torch.allclose(halved, clean / 2, atol=1e-6)
    # An empty draw is a noise-only step: N(0, (sigma C)^2) in every coordinate
    # (1,282 coordinates: the sample std is within 10 % with near certainty).
    assert float(noisy.mean()) == pytest.approx(0.0, abs=0.5)
    assert float(noisy.std()) == pytest.approx(3.0 * CLIP, rel=0.1)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 8), min_size=2, max_size=6),
    scale=st.floats(0.1, 20.0),
    seed=st.integers(0, 2**16),
    task=st.sampled_from([TaskKind.BINARY, TaskKind.REGRESSION]),
)
def test_removing_a_unit_moves_the_sum_by_at_most_the_clip_norm(
    sizes: list[int], scale: float, seed: int, task: TaskKind
) -> None:
    # Prepare: units of 1..8 records with arbitrary features and labels
    generator = torch.Generator().manual_seed(seed)
    n = sum(sizes)
    x = scale * torch.rand((n, 3), generator=generator)
    if task is TaskKind.REGRESSION:
        y = torch.rand((n,), generator=generator)
    else:
        y = torch.randint(0, 2, (n,), generator=generator)
    units = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    spec = ModelSpec(kind="mlp", num_features=3, hidden=(4,), task=task)
    everyone = _gradient(build_model(spec, seed=seed), x, y, units, task=task)

    for removed in range(len(sizes)):
        kept = units != removed
        without = _gradient(
            build_model(spec, seed=seed), x[kept], y[kept], units[kept], task=task
        )

        # Assert: whatever the unit's record count, its influence is <= C
        assert float((everyone - without).norm()) <= CLIP * (1 + 1e-4)


def test_record_level_clipping_would_let_a_unit_move_the_sum_by_its_record_count() -> (
    None
):
    # The attack the property above guards against: a person with 5 records,
    # each clipped alone, moves the record-level sum by 5 C.
    x = torch.full((6, 2), 4.0)
    y = torch.ones(6, dtype=torch.int64)
    everyone = _per_record_clipped_sum(_model(2), x, y)
    without = _per_record_clipped_sum(_model(2), x[5:], y[5:])

    assert float((everyone - without).norm()) > 4.9 * CLIP


def test_bound_units_keeps_the_first_records_of_each_unit_whatever_the_labels() -> None:
    keys = pd.Series([7, 7, 3, 7, 3, 7, 9])

    keep, units = bound_units(keys, 2)

    assert keep.tolist() == [True, True, True, False, True, False, True]
    assert units.tolist() == [0, 0, 1, 1, 2]


def _training_data(
    units: int, per_unit: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = units * per_unit
    features = rng.random((n, 3)).astype(np.float32)
    labels = (features[:, 0] > 0.5).astype(np.int64)
    unit_of = np.repeat(np.arange(units), per_unit).astype(np.int64)
    return features, labels, unit_of


def test_unit_level_training_is_reproducible_under_a_seeded_generator() -> None:
    features, labels, units = _training_data(60, 3)
    plan = plan_local_training(
        num_examples=len(labels),
        batch_size=32,
        local_epochs=1,
        num_rounds=2,
        epsilon=2.0,
        delta=1e-5,
    )

    def run() -> list[torch.Tensor]:
        model = _model(3)
        loss = train_locally(
            model,
            features,
            labels,
            plan=plan,
            learning_rate=0.5,
            max_grad_norm=CLIP,
            generator=torch.Generator().manual_seed(5),
            units=units,
        )
        assert math.isfinite(loss)
        # The caller's model is left free of Opacus' hooks.
        assert not any(hasattr(p, "grad_sample") for p in model.parameters())
        return [p.detach().clone() for p in model.parameters()]

    first, second = run(), run()
    initial = list(_model(3).parameters())

    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, initial, strict=True))
