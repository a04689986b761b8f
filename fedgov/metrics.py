"""Classification metrics computed the same way by every party."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

__all__ = ["Evaluation", "evaluate_model", "roc_auc"]


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


@dataclass(frozen=True)
class Evaluation:
    """A model's quality on one set of examples."""

    num_examples: int
    loss: float
    accuracy: float
    auc: float


@torch.no_grad()
def evaluate_model(
    model: nn.Module, features: NDArray[np.float32], labels: NDArray[np.int64]
) -> Evaluation:
    """Cross-entropy, accuracy and (binary tasks) ROC AUC of ``model``."""
    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))
    logits = model(x)
    loss = (
        float(nn.functional.cross_entropy(logits, y).item()) if len(y) else float("nan")
    )
    predictions = logits.argmax(dim=1)
    accuracy = (
        float((predictions == y).float().mean().item()) if len(y) else float("nan")
    )
    auc = float("nan")
    if logits.shape[1] == 2 and len(y):
        scores = torch.softmax(logits, dim=1)[:, 1].double().numpy()
        auc = roc_auc(y.numpy(), scores)
    return Evaluation(num_examples=len(y), loss=loss, accuracy=accuracy, auc=auc)
