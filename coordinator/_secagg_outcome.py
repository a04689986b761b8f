"""What a department's secure reply says in the clear, as a round outcome."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from coordinator.guard import DepartmentOutcome
from fedgov import protocol as p

if TYPE_CHECKING:
    from flwr.common import FitRes, Scalar

__all__ = ["numeric_metrics", "read_outcome"]

_OUTCOME: dict[str, p.Outcome] = {
    p.Status.OK: p.Outcome.TRAINED,
    p.Status.REFUSED: p.Outcome.REFUSED,
    p.Status.REJECTED: p.Outcome.REJECTED,
}


def numeric_metrics(metrics: Mapping[str, Scalar]) -> dict[str, float]:
    """The numbers among a reply's clear metrics (names and reasons are strings)."""
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def read_outcome(node_id: int, res: FitRes, *, weight: int | None) -> DepartmentOutcome:
    """The outcome ``res`` reports; ``trained`` needs a positive weight (``weight``
    when given), anything unexpected is ``failed``."""
    department = str(res.metrics.get(p.Reply.DEPARTMENT, f"node-{node_id}"))
    status = str(res.metrics.get(p.Reply.STATUS, ""))
    outcome = _OUTCOME.get(status, p.Outcome.FAILED)
    expected = res.num_examples > 0 if weight is None else res.num_examples == weight
    if outcome == p.Outcome.TRAINED and not expected:
        outcome = p.Outcome.FAILED
    reason = str(res.metrics.get(p.Reply.REASON, ""))
    if outcome == p.Outcome.FAILED and not reason:
        reason = (
            f"unexpected secure reply (status {status!r}, weight {res.num_examples})"
        )
    return DepartmentOutcome(
        department, node_id, outcome, reason, numeric_metrics(res.metrics)
    )
