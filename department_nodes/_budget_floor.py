"""The budget generation a department's audit log records, handed to its handler.

The audit mod reads, from the department's own log, the generation its
budget book reached at the last recorded change, and leaves it in the
node's ``Context.state`` before the handler runs; the handler charges (or
creates a budget) only from a book at least that far along
(:meth:`privacy.budget.BudgetBook.charge` ``floor``). A book restored from an
old copy, or deleted and about to be recreated with nothing spent, is
refused before any record is read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flwr.app import ConfigRecord

if TYPE_CHECKING:
    from flwr.app import RecordDict

__all__ = ["set_budget_floor", "take_budget_floor"]

_STATE = "fedgov.budget-floor"
_GENERATION = "generation"


def set_budget_floor(state: RecordDict, generation: int) -> None:
    """Leave the logged ``generation`` for the next handler in ``state``."""
    state.config_records[_STATE] = ConfigRecord({_GENERATION: generation})


def take_budget_floor(state: RecordDict) -> int:
    """Remove and return the floor the audit mod left; 0 when it left none."""
    records = state.config_records
    if _STATE not in records:
        return 0
    value = records.pop(_STATE).get(_GENERATION, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
