"""Turning the sum of departments' noisy answers into estimates with error bars.

Only the *sum* of the departments' answer vectors is used, together with
each block's combined noise std (the root of the sum of the answering
departments' noise variances), so the sum may come from secure aggregation
instead of from answers seen one by one.

* counts, histogram cells and sums: the summed value, unbiased; its interval
  is ``value +- z * std`` (a negative count is noise, reported as is);
* means: middle + centred sum / count, std by the delta method, value and
  interval clipped to the declared bounds; no mean when the noisy count is
  not positive;
* quantiles: linear interpolation in the combined histogram (negative noisy
  counts set to zero); the interval runs from the left edge of the bin that
  holds rank ``q*N - z*s`` to the right edge of the bin holding ``q*N + z*s``
  (``s`` the std of the cumulative count there), so it also covers the
  interpolation's error within a bin. Approximate: it ignores the noise in ``N``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from privacy.mechanisms import Query, confidence_half_width, noise_blocks

__all__ = [
    "UNNAMED_NODE",
    "DepartmentReport",
    "Estimate",
    "QueryResult",
    "combined_noise_std",
    "decode_total",
    "format_result",
]


UNNAMED_NODE = "node "
"""How a reply that names no department (a failed node) is reported: ``node <id>``."""


@dataclass(frozen=True)
class Estimate:
    """One released number and its ``confidence`` interval ``[low, high]``.

    ``std`` is the noise's standard deviation (NaN for quantiles, whose
    interval is not symmetric).
    """

    value: float
    std: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        """Half the interval's width: the ``+-`` of an error bar."""
        return (self.high - self.low) / 2.0


@dataclass(frozen=True)
class DepartmentReport:
    """What one department said: answered (``ok``), refused, or failed."""

    department: str
    status: str
    reason: str = ""
    epsilon_query: float = 0.0
    epsilon_total: float = 0.0
    epsilon_limit: float = 0.0


@dataclass(frozen=True)
class QueryResult:
    """A federated query's combined answer: ``estimates[group][cell]``.

    ``estimates`` is empty when no department answered. The answer covers
    only the departments in :attr:`answered`.
    """

    query: Query
    confidence: float
    groups: tuple[str, ...]
    cells: tuple[str, ...]
    estimates: tuple[tuple[Estimate, ...], ...]
    departments: tuple[DepartmentReport, ...]
    elapsed_s: float

    @property
    def answered(self) -> tuple[str, ...]:
        return tuple(d.department for d in self.departments if d.status == "ok")

    @property
    def refused(self) -> tuple[DepartmentReport, ...]:
        return tuple(d for d in self.departments if d.status != "ok")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (NaN becomes ``None``)."""
        return {
            "query": self.query.to_config(),
            "confidence": self.confidence,
            "groups": list(self.groups),
            "cells": list(self.cells),
            "estimates": [
                [
                    {
                        name: _finite(getattr(e, name))
                        for name in ("value", "std", "low", "high")
                    }
                    for e in row
                ]
                for row in self.estimates
            ],
            "answered": list(self.answered),
            "departments": [
                {
                    "department": d.department,
                    "status": d.status,
                    "reason": d.reason,
                    "epsilon_query": d.epsilon_query,
                    "epsilon_total": d.epsilon_total,
                    "epsilon_limit": d.epsilon_limit,
                }
                for d in self.departments
            ],
            "elapsed_s": self.elapsed_s,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], query: Query) -> QueryResult:
        """The result :meth:`to_json` wrote for ``query`` (``None`` is NaN again)."""

        def number(value: float | None) -> float:
            return math.nan if value is None else float(value)

        return cls(
            query=query,
            confidence=float(data["confidence"]),
            groups=tuple(str(g) for g in data["groups"]),
            cells=tuple(str(c) for c in data["cells"]),
            estimates=tuple(
                tuple(
                    Estimate(
                        value=number(e["value"]),
                        std=number(e["std"]),
                        low=number(e["low"]),
                        high=number(e["high"]),
                    )
                    for e in row
                )
                for row in data["estimates"]
            ),
            departments=tuple(
                DepartmentReport(
                    department=str(d["department"]),
                    status=str(d["status"]),
                    reason=str(d["reason"]),
                    epsilon_query=float(d["epsilon_query"]),
                    epsilon_total=float(d["epsilon_total"]),
                    epsilon_limit=float(d["epsilon_limit"]),
                )
                for d in data["departments"]
            ),
            elapsed_s=float(data["elapsed_s"]),
        )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def combined_noise_std(per_department: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """Each block's noise std in the sum of independent departments' answers."""
    if not per_department:
        return ()
    stds = np.asarray(per_department, dtype=np.float64)
    return tuple(float(s) for s in np.sqrt(np.sum(stds**2, axis=0)))


def decode_total(
    query: Query,
    total: NDArray[np.float64],
    block_std: Sequence[float],
    *,
    confidence: float,
) -> tuple[tuple[Estimate, ...], ...]:
    """Estimates per group and cell from the summed answer vector."""
    blocks = noise_blocks(query)
    expected = sum(b.size for b in blocks)
    total = np.asarray(total, dtype=np.float64)
    if total.shape != (expected,) or len(block_std) != len(blocks):
        raise ValueError(
            f"a {query.kind} answer has {expected} entries in {len(blocks)} blocks, "
            f"got shape {total.shape} and {len(block_std)} stds"
        )
    groups = len(query.group_levels)
    if query.kind == "mean":
        return tuple(
            (_mean(query, total[g], total[groups + g], block_std, confidence),)
            for g in range(groups)
        )
    table = total.reshape(groups, -1)
    std = float(block_std[0])
    if query.kind == "quantiles":
        return tuple(_quantiles(query, row, std, confidence) for row in table)
    half = confidence_half_width(std, confidence=confidence)
    return tuple(
        tuple(Estimate(float(v), std, float(v) - half, float(v) + half) for v in row)
        for row in table
    )


def _mean(
    query: Query,
    centred_sum: float,
    count: float,
    block_std: Sequence[float],
    confidence: float,
) -> Estimate:
    low, high = query.bounds
    if count <= 0:
        return Estimate(math.nan, math.nan, low, high)
    sum_std, count_std = float(block_std[0]), float(block_std[1])
    ratio = centred_sum / count
    std = math.sqrt((sum_std / count) ** 2 + (ratio * count_std / count) ** 2)
    value = (low + high) / 2.0 + ratio
    half = confidence_half_width(std, confidence=confidence)
    return Estimate(
        float(np.clip(value, low, high)),
        std,
        float(np.clip(value - half, low, high)),
        float(np.clip(value + half, low, high)),
    )


def _quantiles(
    query: Query, counts: NDArray[np.float64], std: float, confidence: float
) -> tuple[Estimate, ...]:
    edges = np.asarray(query.bins, dtype=np.float64)
    counts = np.clip(counts, 0.0, None)
    cumulative = np.cumsum(counts)
    total = float(cumulative[-1])
    if total <= 0:
        return tuple(
            Estimate(math.nan, math.nan, edges[0], edges[-1]) for _ in query.quantiles
        )
    out = []
    for q in query.quantiles:
        rank = q * total
        where = _bin_of_rank(cumulative, rank)
        below = cumulative[where - 1] if where > 0 else 0.0
        inside = counts[where]
        fraction = (rank - below) / inside if inside > 0 else 0.5
        value = edges[where] + fraction * (edges[where + 1] - edges[where])
        half = confidence_half_width(std * math.sqrt(where + 1), confidence=confidence)
        low = edges[_bin_of_rank(cumulative, max(rank - half, 0.0))]
        high = edges[_bin_of_rank(cumulative, min(rank + half, total)) + 1]
        out.append(Estimate(float(value), math.nan, float(low), float(high)))
    return tuple(out)


def _bin_of_rank(cumulative: NDArray[np.float64], rank: float) -> int:
    """The first bin whose cumulative count reaches ``rank``."""
    return min(int(np.searchsorted(cumulative, rank, side="left")), len(cumulative) - 1)


def _number(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else "n/a"


def _cell(estimate: Estimate, *, interval: bool) -> str:
    if not math.isfinite(estimate.value):
        return "n/a"
    if interval:
        low, high = _number(estimate.low), _number(estimate.high)
        return f"{_number(estimate.value)} [{low}, {high}]"
    return f"{_number(estimate.value)} ± {_number(estimate.half_width)}"


def _title(query: Query) -> str:
    what = query.kind if query.column is None else f"{query.kind} of {query.column}"
    parts = [what]
    if query.group_by:
        parts.append(f"by {query.group_by}")
    if query.where:
        parts.append("where " + " and ".join(str(p) for p in query.where))
    return " ".join(parts) + f" on {query.dataset_id} (query {query.query_id})"


def format_result(result: QueryResult) -> str:
    """The result as a text table with error bars, then each department's spend."""
    query = result.query
    # A node whose reply names no department is reported apart, not counted.
    total = sum(not d.department.startswith(UNNAMED_NODE) for d in result.departments)
    lines = [
        _title(query),
        f"epsilon {query.epsilon:g}, delta {query.delta:g} per department; "
        f"one person counts up to {query.rows_per_person} record(s); "
        f"{len(result.answered)} of {total} departments answered",
    ]
    if result.estimates:
        interval = query.kind in ("quantiles", "mean")
        lines.append(
            f"{result.confidence:.0%} intervals: "
            + ("value [low, high]" if interval else "value ± half-width")
        )
        header = [query.group_by or "", *result.cells]
        rows = [
            [group, *(_cell(e, interval=interval) for e in row)]
            for group, row in zip(result.groups, result.estimates, strict=True)
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            lines.append(
                "  ".join(text.rjust(w) for text, w in zip(row, widths, strict=True))
            )
        if len(result.answered) < total:
            lines.append(
                f"WARNING: the answer covers only {len(result.answered)} of {total} "
                "departments"
            )
    else:
        lines.append("no department answered: nothing to combine")
    lines.append("")
    lines.append(
        f"{'department':<32} {'status':<8} {'epsilon':>8} {'spent':>8} {'limit':>8}"
    )
    for report in result.departments:
        lines.append(
            f"{report.department:<32} {report.status:<8} {report.epsilon_query:>8.4f} "
            f"{report.epsilon_total:>8.4f} {report.epsilon_limit:>8.4f}"
            + (f"  {report.reason}" if report.reason else "")
        )
    charged = sum(d.epsilon_query > 0 for d in result.departments)
    lines.append(
        f"budget charged at {charged} department(s): kind 'query', id {query.query_id}; "
        "the epsilon column is each department's charge (0: nothing spent)"
    )
    return "\n".join(lines)
