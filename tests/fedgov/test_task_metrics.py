"""Metrics and models of every task kind, with values known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from fedgov import protocol as p
from fedgov.data import TaskKind
from fedgov.metrics import (
    Evaluation,
    evaluate_model,
    evaluation_metrics,
    macro_f1,
    one_vs_rest_auc,
    pooled_rmse,
)
from fedgov.models import ModelSpec, build_model, task_loss


def test_macro_f1_known_values() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2])
    predictions = np.array([0, 1, 1, 1, 2, 0])
    # class 0: TP 1 FP 1 FN 1 -> 0.5; class 1: TP 2 FP 1 FN 0 -> 0.8;
    # class 2: TP 1 FP 0 FN 1 -> 2/3
    assert macro_f1(labels, predictions) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert macro_f1(labels, labels) == 1.0
    # A class neither held nor predicted says nothing: only 0 and 1 count.
    assert macro_f1(np.array([0, 1]), np.array([0, 1])) == 1.0


def test_one_vs_rest_auc_known_values() -> None:
    labels = np.array([0, 1, 2, 0])
    perfect = np.eye(3)[labels] * 0.8 + 0.1
    assert one_vs_rest_auc(labels, perfect) == 1.0
    # Class 2 scored backwards: its AUC is 0, the others 1.
    backwards = perfect.copy()
    backwards[:, 2] = 1 - backwards[:, 2]
    assert one_vs_rest_auc(labels, backwards) == pytest.approx(2 / 3)
    assert math.isnan(one_vs_rest_auc(np.array([1, 1]), np.full((2, 3), 1 / 3)))


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.0, 50.0), st.integers(1, 1000)), min_size=1, max_size=8
    )
)
def test_pooled_rmse_is_the_rmse_of_the_union(parts: list[tuple[float, int]]) -> None:
    # Each part: n errors all equal to its RMSE; the union's RMSE by definition.
    errors = np.concatenate([np.full(n, r) for r, n in parts])
    expected = float(np.sqrt(np.mean(errors**2)))
    assert pooled_rmse([r for r, _ in parts], [n for _, n in parts]) == pytest.approx(
        expected
    )


def test_a_regression_model_has_one_output_and_a_squared_error_loss() -> None:
    spec = ModelSpec(kind="mlp", num_features=3, hidden=(4,), task=TaskKind.REGRESSION)
    model = build_model(spec, seed=0)
    assert model(torch.zeros(5, 3)).shape == (5, 1)
    loss = task_loss(TaskKind.REGRESSION)(
        torch.tensor([[0.5], [1.0]]), torch.tensor([0.0, 1.0])
    )
    assert float(loss) == pytest.approx(0.125)
    assert ModelSpec(kind="logreg", num_features=2, num_classes=4).num_outputs == 4


def test_regression_metrics_are_in_the_targets_unit() -> None:
    # A model that always predicts 0.5 of the scaled range [0, 100].
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.fill_(0.5)
    targets = np.array([0.5, 0.6, 0.3], dtype=np.float32)

    result = evaluate_model(
        model,
        np.zeros((3, 1), dtype=np.float32),
        targets,
        task=TaskKind.REGRESSION,
        decode=lambda scaled: np.asarray(scaled, dtype=np.float64) * 100.0,
    )

    assert result.rmse == pytest.approx(math.sqrt((0 + 100 + 400) / 3), rel=1e-5)
    assert result.mae == pytest.approx(10.0, rel=1e-5)
    assert result.loss == pytest.approx((0 + 0.01 + 0.04) / 3, rel=1e-5)
    assert math.isnan(result.accuracy)
    assert set(evaluation_metrics(result, TaskKind.REGRESSION, scope="eval")) == {
        p.Metric.EVAL_LOSS,
        p.Metric.EVAL_RMSE,
        p.Metric.EVAL_MAE,
    }


def test_multiclass_metrics() -> None:
    model = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(3))
    features = np.eye(3, dtype=np.float32)[[0, 1, 2, 2]]
    labels = np.array([0, 1, 2, 1])

    result = evaluate_model(model, features, labels, task=TaskKind.MULTICLASS)

    assert result.accuracy == 0.75
    assert result.macro_f1 == pytest.approx(macro_f1(labels, np.array([0, 1, 2, 2])))
    assert 0 < result.auc <= 1
    assert set(evaluation_metrics(result, TaskKind.MULTICLASS, scope="test")) == {
        p.Metric.TEST_LOSS,
        p.Metric.TEST_ACCURACY,
        p.Metric.TEST_AUC,
        p.Metric.TEST_F1,
    }


def test_binary_metrics_skip_an_undefined_auc() -> None:
    result = Evaluation(4, 0.5, 1.0, float("nan"), macro_f1=1.0)
    assert set(evaluation_metrics(result, TaskKind.BINARY, scope="eval")) == {
        p.Metric.EVAL_LOSS,
        p.Metric.EVAL_ACCURACY,
        p.Metric.EVAL_F1,
    }
