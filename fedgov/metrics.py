"""Model quality computed the same way by every party, for every kind of task.

Classification (binary, multi-class): cross-entropy, accuracy, ROC AUC
(one-vs-rest, macro-averaged over the classes for a multi-class task) and
macro F1. Regression: the squared error on the scaled target (the training
loss), and RMSE and MAE in the target's own unit, predictions and targets
mapped back with the declared bounds (``decode``, e.g.
:func:`fedgov.data.decode_targets`). A metric that does not apply to a task
is ``nan``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from fedgov import protocol as p
from fedgov.data.task import TaskKind
from fedgov.models import task_loss

__all__ = [
    "Evaluation",
    "evaluate_model",
    "evaluation_metrics",
    "headline_metrics",
    "macro_f1",
    "one_vs_rest_auc",
    "pooled_rmse",
    "roc_auc",
]

Decode = Callable[[NDArray[np.floating[Any]]], NDArray[np.float64]]
"""Maps scaled regression targets or predictions back to the target's unit."""


def roc_auc(labels: NDArray[np.int64], scores: NDArray[np.float64]) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half).

    ``nan`` when only one class is present: the AUC is undefined there, and a
    made-up 0.5 would bias a weighted average.
    """
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    positives = int((labels == 1).sum())
    negatives = int(labels.size - positives)
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(scores.size, dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks over tied scores.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [scores.size]))
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    rank_sum = ranks[labels == 1].sum()
    return float(
        (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)
    )


def one_vs_rest_auc(
    labels: NDArray[np.int64], probabilities: NDArray[np.float64]
) -> float:
    """Macro-averaged one-vs-rest ROC AUC of ``probabilities`` ``[n, classes]``.

    Each class's AUC separates it from all others by its own probability; the
    mean is over the classes whose AUC is defined (present, and not alone),
    ``nan`` when there is none.
    """
    labels = np.asarray(labels)
    aucs = [
        roc_auc((labels == k).astype(np.int64), probabilities[:, k])
        for k in range(probabilities.shape[1])
    ]
    defined = [a for a in aucs if math.isfinite(a)]
    return float(np.mean(defined)) if defined else float("nan")


def macro_f1(labels: NDArray[np.int64], predictions: NDArray[np.int64]) -> float:
    """The mean over classes of ``2 TP / (2 TP + FP + FN)``.

    Over the classes that occur among the labels or the predictions (as
    scikit-learn's ``f1_score(average="macro")`` does): a class a department
    never holds and the model never predicts says nothing about the model.
    """
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    classes = np.union1d(labels, predictions)
    if classes.size == 0:
        return float("nan")
    scores = []
    for k in classes:
        true_positive = int(np.sum((predictions == k) & (labels == k)))
        false_positive = int(np.sum((predictions == k) & (labels != k)))
        false_negative = int(np.sum((predictions != k) & (labels == k)))
        scores.append(
            2 * true_positive / (2 * true_positive + false_positive + false_negative)
        )
    return float(np.mean(scores))


def pooled_rmse(rmses: list[float], weights: list[float]) -> float:
    """The RMSE of the union of sets whose RMSEs and sizes are given.

    Squared errors add up over records where their roots do not: the pooled
    RMSE is the root of the size-weighted mean of the squares.
    """
    total = float(sum(weights))
    if total <= 0:
        return float("nan")
    return math.sqrt(
        sum(r * r * w for r, w in zip(rmses, weights, strict=True)) / total
    )


@dataclass(frozen=True)
class Evaluation:
    """A model's quality on one set of examples (``nan``: not for this task)."""

    num_examples: int
    loss: float
    accuracy: float
    auc: float
    macro_f1: float = float("nan")
    rmse: float = float("nan")
    mae: float = float("nan")


# (loss, accuracy, AUC, F1, RMSE, MAE) keys of a department's held-out
# evaluation and of the coordinator's evaluation on a public test split.
_SCOPES = {
    "eval": (
        p.Metric.EVAL_LOSS,
        p.Metric.EVAL_ACCURACY,
        p.Metric.EVAL_AUC,
        p.Metric.EVAL_F1,
        p.Metric.EVAL_RMSE,
        p.Metric.EVAL_MAE,
    ),
    "test": (
        p.Metric.TEST_LOSS,
        p.Metric.TEST_ACCURACY,
        p.Metric.TEST_AUC,
        p.Metric.TEST_F1,
        p.Metric.TEST_RMSE,
        p.Metric.TEST_MAE,
    ),
}


def evaluation_metrics(
    result: Evaluation, task: TaskKind, *, scope: Literal["eval", "test"]
) -> dict[str, float]:
    """``result`` under the metric keys of ``scope`` that ``task`` reports.

    Classification: loss and accuracy always, AUC and F1 where defined (a
    split holding one class has no AUC). Regression: loss, RMSE and MAE.
    """
    loss, accuracy, auc, f1, rmse, mae = _SCOPES[scope]
    metrics: dict[str, float]
    if task is TaskKind.REGRESSION:
        metrics = {loss: result.loss, rmse: result.rmse, mae: result.mae}
        return metrics
    metrics = {loss: result.loss, accuracy: result.accuracy}
    for key, value in ((auc, result.auc), (f1, result.macro_f1)):
        if math.isfinite(value):
            metrics[key] = value
    return metrics


def headline_metrics(task: TaskKind) -> tuple[tuple[p.Metric, p.Metric, str], ...]:
    """What a table of ``task``'s results shows: (held-out key, test key, label)."""
    if task is TaskKind.REGRESSION:
        return (
            (p.Metric.EVAL_RMSE, p.Metric.TEST_RMSE, "RMSE"),
            (p.Metric.EVAL_MAE, p.Metric.TEST_MAE, "MAE"),
        )
    return (
        (p.Metric.EVAL_ACCURACY, p.Metric.TEST_ACCURACY, "accuracy"),
        (p.Metric.EVAL_AUC, p.Metric.TEST_AUC, "AUC"),
        (p.Metric.EVAL_F1, p.Metric.TEST_F1, "macro F1"),
    )


@torch.no_grad()
def evaluate_model(
    model: nn.Module,
    features: NDArray[np.float32],
    labels: NDArray[Any],
    *,
    task: TaskKind = TaskKind.BINARY,
    decode: Decode | None = None,
) -> Evaluation:
    """The metrics of ``task`` for ``model`` on ``features`` and ``labels``.

    Classification: cross-entropy, accuracy, ROC AUC and macro F1 over the
    class logits. Regression: the squared error on the scaled ``labels``,
    and RMSE and MAE after ``decode`` (the identity without one).
    """
    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    outputs = model(x)
    if task is TaskKind.REGRESSION:
        return _regression(outputs, labels, decode)
    y = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))
    loss = float(task_loss(task)(outputs, y).item()) if len(y) else float("nan")
    predictions = outputs.argmax(dim=1)
    accuracy = (
        float((predictions == y).float().mean().item()) if len(y) else float("nan")
    )
    auc = f1 = float("nan")
    if len(y):
        probabilities = torch.softmax(outputs, dim=1).double().numpy()
        if outputs.shape[1] == 2:
            auc = roc_auc(y.numpy(), probabilities[:, 1])
        else:
            auc = one_vs_rest_auc(y.numpy(), probabilities)
        f1 = macro_f1(y.numpy(), predictions.numpy())
    return Evaluation(
        num_examples=len(y), loss=loss, accuracy=accuracy, auc=auc, macro_f1=f1
    )


def _regression(
    outputs: torch.Tensor, labels: NDArray[Any], decode: Decode | None
) -> Evaluation:
    target = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.float32))
    n = len(target)
    if not n:
        nan = float("nan")
        return Evaluation(0, nan, nan, nan, rmse=nan, mae=nan)
    loss = float(task_loss(TaskKind.REGRESSION)(outputs, target).item())
    predicted = outputs[:, 0].double().numpy()
    actual = target.double().numpy()
    if decode is not None:
        predicted, actual = decode(predicted), decode(actual)
    error = predicted - actual
    nan = float("nan")
    return Evaluation(
        num_examples=n,
        loss=loss,
        accuracy=nan,
        auc=nan,
        rmse=float(np.sqrt(np.mean(error**2))),
        mae=float(np.mean(np.abs(error))),
    )
