"""The demo's yardstick: the job's model fitted non-privately on the pooled records.

Something the product itself never does with a county's data: ``fedgov
demo`` shows it beside the federated DP model to tell a county what privacy
plus federation costs. Evaluated on the pooled held-out split, and on the
public test split where the dataset has one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fedgov.data import get_dataset, load_pooled, load_public_test
from fedgov.job import TrainJob
from fedgov.job_data import model_spec
from fedgov.metrics import Evaluation, evaluate_model
from fedgov.models import build_model

__all__ = ["BaselineResult", "centralized_reference"]


@dataclass(frozen=True)
class BaselineResult:
    """A model's quality on the held-out split, and on the public test split if any."""

    name: str
    held_out: Evaluation
    test: Evaluation | None


def centralized_reference(job: TrainJob) -> BaselineResult:
    """The job's model fitted non-privately to convergence on the pooled records.

    What the model class achieves at best on these splits (full-batch
    L-BFGS), rather than what the job's DP-SGD step sizes reach without
    noise: the fair yardstick for "what does privacy plus federation cost".
    """
    torch.set_num_threads(1)
    pooled = load_pooled(job.dataset, seed=job.seed)
    model = build_model(model_spec(job), seed=job.seed)
    features = torch.from_numpy(pooled.train.X)
    labels = torch.from_numpy(pooled.train.y)
    optimizer = torch.optim.LBFGS(
        model.parameters(), max_iter=500, history_size=20, line_search_fn="strong_wolfe"
    )
    criterion = torch.nn.CrossEntropyLoss()

    def closure() -> float:
        optimizer.zero_grad()
        loss = criterion(model(features), labels)
        loss.backward()
        return float(loss.item())

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    test = None
    if get_dataset(job.dataset).has_public_test:
        public = load_public_test(job.dataset).test
        test = evaluate_model(model, public.X, public.y)
    held_out = evaluate_model(model, pooled.held_out.X, pooled.held_out.y)
    return BaselineResult("centralized non-private (L-BFGS)", held_out, test)
