"""Models shared by departments and coordinator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedgov.errors import ConfigurationError
from fedgov.models import (
    ModelSpec,
    build_model,
    hidden_from_config,
    numpy_to_state,
    state_to_numpy,
)


def test_mlp_shapes_and_seeded_init_are_reproducible() -> None:
    spec = ModelSpec(kind="mlp", num_features=26, hidden=(32,))
    a, b = build_model(spec, seed=7), build_model(spec, seed=7)
    assert [tuple(p.shape) for p in a.parameters()] == [(32, 26), (32,), (2, 32), (2,)]
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert a(torch.zeros(5, 26)).shape == (5, 2)


def test_logreg_is_one_linear_layer() -> None:
    model = build_model(ModelSpec(kind="logreg", num_features=10))
    assert [tuple(p.shape) for p in model.parameters()] == [(2, 10), (2,)]


def test_seeding_does_not_disturb_the_global_generator() -> None:
    torch.manual_seed(1)
    expected = torch.rand(1)
    torch.manual_seed(1)
    build_model(ModelSpec(kind="mlp", num_features=3), seed=99)
    assert torch.equal(torch.rand(1), expected)


def test_state_round_trip_and_mismatch_errors() -> None:
    model = build_model(ModelSpec(kind="mlp", num_features=4, hidden=(3,)), seed=0)
    arrays = state_to_numpy(model)
    other = build_model(ModelSpec(kind="mlp", num_features=4, hidden=(3,)), seed=1)
    numpy_to_state(other, arrays)
    assert all(np.array_equal(arrays[k], v) for k, v in state_to_numpy(other).items())
    with pytest.raises(ConfigurationError, match="missing"):
        numpy_to_state(other, {k: v for k, v in arrays.items() if k != "0.bias"})
    bad = dict(arrays)
    bad["0.bias"] = np.zeros(7, dtype=np.float32)
    with pytest.raises(ConfigurationError, match=r"0\.bias has shape \(7,\)"):
        numpy_to_state(other, bad)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"kind": "cnn", "num_features": 3}, "kind"),
        ({"kind": "mlp", "num_features": 0}, "num_features"),
        ({"kind": "mlp", "num_features": 3, "num_classes": 1}, "num_classes"),
        ({"kind": "mlp", "num_features": 3, "hidden": ()}, "hidden"),
    ],
)
def test_invalid_specs(kwargs: dict[str, object], argument: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        ModelSpec(**kwargs)  # type: ignore[arg-type]
    assert info.value.argument == argument


def test_hidden_parsing() -> None:
    assert hidden_from_config("32, 16") == (32, 16)
    assert hidden_from_config("") == ()
    with pytest.raises(ConfigurationError, match="hidden"):
        hidden_from_config("32,x")
