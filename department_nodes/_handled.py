"""What a department's handler did with one message, for its audit hook to write.

The handler knows exactly what it did: which mechanism it charged to the
budget book and how much that added to the job's epsilon (the accountant's
own figures, before and after the charge), how many rows it read, the
digest of the update it produced. It leaves that in the node's
``Context.state`` (:func:`record_handled`), and the audit mod takes it
(:func:`take_handled`) and writes it, rather than reconstructing a round's
spend from running totals in the reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flwr.app import ConfigRecord
from flwr.app.typing import ConfigRecordValues

from fedgov import protocol as p

if TYPE_CHECKING:
    from flwr.app import Context, RecordDict

__all__ = ["HANDLED_STATE", "Handled", "record_handled", "take_handled"]

HANDLED_STATE = "fedgov.handled"
"""The ``Context.state`` config record a handler leaves for the audit mod."""


@dataclass(frozen=True)
class Handled:
    """One training or evaluation message, as the department handled it."""

    phase: str
    """``train`` or ``evaluate``."""
    rows: int
    """Records read (and trained on, or evaluated)."""
    update_sha256: bytes | None = None
    """:func:`fedgov.protocol.hash_arrays` of the model it sends (train)."""
    epsilon: float = 0.0
    """What this message added to the job's epsilon, by the budget book's
    accountant (0 when nothing was charged)."""
    accountant: str = ""
    noise_multiplier: float = 0.0
    sample_rate: float = 0.0
    steps: int = 0
    evaluated: int = 0
    """Held-out records the trained model was evaluated on (personalisation)."""


def record_handled(state: RecordDict, handled: Handled) -> None:
    """Leave ``handled`` in a node's ``Context.state``."""
    values: dict[str, ConfigRecordValues] = {
        "phase": handled.phase,
        p.Metric.NUM_EXAMPLES: handled.rows,
        "epsilon": handled.epsilon,
        "accountant": handled.accountant,
        p.Metric.NOISE_MULTIPLIER: handled.noise_multiplier,
        p.Metric.SAMPLE_RATE: handled.sample_rate,
        p.Metric.STEPS: handled.steps,
        "evaluated": handled.evaluated,
    }
    if handled.update_sha256 is not None:
        values["update-sha256"] = handled.update_sha256
    state.config_records[HANDLED_STATE] = ConfigRecord(values)


def take_handled(context: Context) -> Handled | None:
    """Remove and return what the handler left; ``None`` when it left nothing."""
    records = context.state.config_records
    if HANDLED_STATE not in records:
        return None
    entry = records.pop(HANDLED_STATE)
    digest = entry.get("update-sha256")
    return Handled(
        phase=str(entry["phase"]),
        rows=int(entry[p.Metric.NUM_EXAMPLES]),  # type: ignore[arg-type]
        update_sha256=digest if isinstance(digest, bytes) else None,
        epsilon=float(entry["epsilon"]),  # type: ignore[arg-type]
        accountant=str(entry["accountant"]),
        noise_multiplier=float(entry[p.Metric.NOISE_MULTIPLIER]),  # type: ignore[arg-type]
        sample_rate=float(entry[p.Metric.SAMPLE_RATE]),  # type: ignore[arg-type]
        steps=int(entry[p.Metric.STEPS]),  # type: ignore[arg-type]
        evaluated=int(entry.get("evaluated", 0)),  # type: ignore[arg-type]
    )
