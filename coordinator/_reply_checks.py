"""What a department's reply may claim: the coordinator trusts no reported number.

Flower's strategies weight each update by the ``num-examples`` its reply
reports and average every metric it carries. A department reporting NaN or
inf turns the global model into NaN, a huge count takes the model over, a
negative one can zero the total weight. Before anything is aggregated, each
reply is checked here:

- its records have the shape the protocol fixes (one ``arrays`` record with
  the update, one ``metrics`` record): Flower refuses a whole round's
  aggregation when a single reply carries more;
- ``num-examples`` is a whole number, at least 1 and at most the job's
  ``max_examples`` (a policy cap, as SecAgg+'s ``max_weight`` caps a secure
  round's weights), and at most what the department reported the first time
  it answered that kind of message in this job (its records do not grow
  during a job);
- every metric is a finite number in its range (accuracies, AUCs and the
  sample rate in [0, 1]; losses, epsilons, noise multiplier, steps and
  seconds at least 0);
- one reply per department per round: when several replies claim the same
  department, none of them is aggregated.

A reply that breaks a rule is dropped, logged and reported as ``rejected``
with the rule it broke, which the coordinator's audit log records.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Final

from fedgov import protocol as p

__all__ = ["duplicated", "examples_problem", "metrics_problem", "structure_problem"]

_UNIT_INTERVAL: Final = frozenset(
    {
        p.Metric.EVAL_ACCURACY,
        p.Metric.EVAL_AUC,
        p.Metric.TEST_ACCURACY,
        p.Metric.TEST_AUC,
        p.Metric.SAMPLE_RATE,
    }
)
_NON_NEGATIVE: Final = frozenset(
    {
        p.Metric.TRAIN_LOSS,
        p.Metric.EVAL_LOSS,
        p.Metric.TEST_LOSS,
        p.Metric.EPSILON_JOB,
        p.Metric.EPSILON_TOTAL,
        p.Metric.EPSILON_LIMIT,
        p.Metric.EPSILON_QUERY,
        p.Metric.NOISE_MULTIPLIER,
        p.Metric.STEPS,
        p.Metric.COMPUTE_SECONDS,
    }
)


def structure_problem(
    array_records: Iterable[str], metric_records: Iterable[str], *, needs_arrays: bool
) -> str | None:
    """Why a reply's records are not the protocol's, or ``None``."""
    metrics = sorted(metric_records)
    if metrics != [p.Record.METRICS]:
        return (
            f"a reply carries exactly one metric record {p.Record.METRICS.value!r}, "
            f"this one {metrics}"
        )
    arrays = sorted(array_records)
    expected = [p.Record.ARRAYS.value] if needs_arrays else []
    if arrays != expected:
        return f"a reply carries the array records {expected}, this one {arrays}"
    return None


def metrics_problem(metrics: Mapping[str, object]) -> str | None:
    """Why a reply's metrics must not be used, or ``None``."""
    for key, value in metrics.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, bool) or not isinstance(item, int | float):
                return f"metric {key!r} is {item!r}, not a number"
            if not math.isfinite(item):
                return f"metric {key!r} is {item!r}, not a finite number"
            if key in _UNIT_INTERVAL and not 0 <= item <= 1:
                return f"metric {key!r} is {item!r}, outside [0, 1]"
            if key in _NON_NEGATIVE and item < 0:
                return f"metric {key!r} is {item!r}, below 0"
    return None


def examples_problem(
    metrics: Mapping[str, object], *, max_examples: int, first: int | None
) -> str | None:
    """Why a reply's ``num-examples`` must not weight it, or ``None``.

    ``first`` is what the department reported the first time it answered
    this kind of message in the job (``None``: this is the first time).
    """
    key = p.Metric.NUM_EXAMPLES.value
    if key not in metrics:
        return f"the reply reports no {key!r}"
    value = metrics[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{key} is {value!r}, not a number"
    if not math.isfinite(value) or value != int(value):
        return f"{key} is {value!r}, not a whole number"
    if value < 1:
        return f"{key} is {int(value)}: a reply that trained or evaluated counts >= 1"
    if value > max_examples:
        return (
            f"{key} is {int(value)}, above the job's max_examples {max_examples} "
            "(it would outweigh every other department)"
        )
    if first is not None and value > first:
        return (
            f"{key} is {int(value)}, but the department reported {first} earlier in "
            "this job, and its records do not grow during a job"
        )
    return None


def duplicated(departments: Iterable[str]) -> set[str]:
    """The departments that more than one reply claims."""
    return {name for name, count in Counter(departments).items() if count > 1}
